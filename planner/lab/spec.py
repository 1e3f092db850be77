"""Which hosts the lab runs and how they are reached, derived from the inventory.

The lab mirrors the reference inventory: same host names, groups and
documented hardware; only the addresses differ (loopback, one per host).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from planner.inventory.hosts import Inventory, load_inventory, require_valid
from planner.lab.hardware import HardwareProfile, profile_from_hostvars
from planner.lab.links import apply as apply_links
from planner.lab.links import read_overrides
from planner.lab.scale import GeneratedHost, check_size, generated_hosts, read_size
from planner.lab.scenario import Scenario, host_scenario, load_planted

_CONNECTION_VARS = {"ansible_host", "ansible_port", "ansible_user", "ansible_connection", "ansible_ssh_host"}

#: First host octet; .1 is often the machine's own name in /etc/hosts on Debian.
FIRST_HOST_OCTET = 11


@dataclass(frozen=True)
class LabHost:
    """One simulated host."""

    name: str
    address: str
    port: int
    groups: tuple[str, ...]
    hardware: HardwareProfile
    scenario: Scenario = Scenario()
    generated: GeneratedHost | None = None  # a lab-only copy of a reference host (lab up --scale)


@dataclass(frozen=True)
class LabConfig:
    """Where a lab lives and which addresses it uses (several labs may run side by side)."""

    project: Path
    lab_dir: Path
    net_prefix: str
    ssh_port: int

    @property
    def machine_prefix(self) -> str:
        """Prefix of nspawn machine names, unique per lab directory (two labs never share names)."""
        return "hl" + hashlib.sha256(str(self.lab_dir.resolve()).encode()).hexdigest()[:6]

    @classmethod
    def from_env(cls, project: Path, state_dir: Path) -> LabConfig:
        """Defaults, overridable with HOMELAB_LAB_DIR, HOMELAB_LAB_NET and HOMELAB_LAB_SSH_PORT."""
        lab_dir = Path(os.environ.get("HOMELAB_LAB_DIR") or state_dir / "lab")
        net = os.environ.get("HOMELAB_LAB_NET", "127.0.1").rstrip(".")
        parts = net.split(".")
        if len(parts) != 3 or parts[0] != "127" or not all(p.isdigit() and int(p) < 256 for p in parts):
            from planner.errors import LabError

            raise LabError(f"HOMELAB_LAB_NET={net!r} is not a loopback /24 prefix",
                           "use three octets inside 127.0.0.0/8, e.g. 127.0.1")
        port = os.environ.get("HOMELAB_LAB_SSH_PORT", "22")
        if not port.isdigit() or not 0 < int(port) < 65536:
            from planner.errors import LabError
            raise LabError(f"HOMELAB_LAB_SSH_PORT={port!r} is not a TCP port",
                           "use a number from 1 to 65535, e.g. 2222")
        return cls(project, lab_dir.resolve(), net, int(port))


def lab_hosts(config: LabConfig, inventory: Inventory | None = None, scale: int | None = None) -> list[LabHost]:
    """Every inventory host, in inventory order, with its lab address and hardware profile, then the
    generated hosts that make the lab ``scale`` hosts big (by default the size ``lab up --scale`` kept)."""
    inv = require_valid(inventory or load_inventory(config.project / "inventory"))
    site = inv.groupvars("all")
    planted = load_planted()
    hosts = []
    total = read_size(config.lab_dir) if scale is None else scale
    if total is not None:
        check_size(total, len(inv.hosts))
    extra = {g.name: g for g in generated_hosts(inv, total or 0)}
    overrides = read_overrides(config.lab_dir).hosts
    members = [*inv.hosts.items(), *((g.name, list(g.groups)) for g in extra.values())]
    for index, (name, groups) in enumerate(members):
        octet = FIRST_HOST_OCTET + index
        if octet > 254:
            from planner.errors import LabError

            raise LabError(f"the lab would have {len(members)} hosts; one lab holds at most "
                           f"{255 - FIRST_HOST_OCTET}", "split the inventory or raise HOMELAB_LAB_NET")
        generated = extra.get(name)
        hostvars = generated.hostvars if generated else inv.hostvars(name)
        clash = sorted(k for k in hostvars if k in _CONNECTION_VARS or k.startswith("ansible_ssh_"))
        if clash:
            from planner.errors import LabError

            # host_vars outrank the lab's inventory file: the lab would reach the real machine.
            raise LabError(f"host {name} sets {', '.join(clash)} in the project inventory; the lab cannot override "
                           "them and would connect to the real machine", "move connection settings out of "
                           "host_vars (real hosts resolve by name), or use a separate inventory for them")
        address = f"{config.net_prefix}.{octet}"
        scenario, profile = host_scenario(name, tuple(groups), {**site, **hostvars},
                                          profile_from_hostvars(name, hostvars), planted.get(name) or {})
        # `lab link` stands in for a swapped NIC, cable or switch until `lab down`.
        profile = apply_links(profile, overrides.get(name) or {})
        hosts.append(LabHost(name, address, config.ssh_port, tuple(groups), profile, scenario, generated))
    return hosts
