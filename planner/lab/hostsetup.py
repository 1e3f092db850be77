"""What makes one overlay a distinct host, and how the controller reaches the lab.

Per host: hostname, /etc/hosts naming every lab host at its lab address (the
lab's DNS serves the LAN's addresses, which a lab host must never connect
to), a machine-id, its own SSH host key, sshd bound to the host's
loopback address, the admin's authorized key and the hardware profile's
replayed tools. For the controller: one SSH key pair, a pinned known_hosts
and an Ansible inventory directory that layers the lab's connection
variables over the project's own inventory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from planner import yamlio
from planner.errors import LabError
from planner.lab import dhcp, dns, faults, kuma, scale
from planner.lab import scenario as lab_scenario
from planner.lab.hardware import render_files, render_sys_class_net
from planner.lab.rootfs import ADMIN_UID, ADMIN_USER
from planner.lab.spec import LabConfig, LabHost
from planner.paths import private_dir, private_file

if TYPE_CHECKING:
    from collections.abc import Collection

    from planner.lab.runtime import HostState

KEY_NAME = "id_ed25519"
#: Set to 1 at `homelab lab up` for hosts that keep the code Ansible sends compiled (the test suite does).
BYTECODE_CACHE_ENV = "HOMELAB_LAB_BYTECODE_CACHE"
# Debian's version-independent site-packages: on every python3's path, and its .pth files are read.
_BYTECODE_MODULE = "/usr/lib/python3/dist-packages/homelab_lab_bytecode.py"
_BYTECODE_PTH = "/usr/lib/python3/dist-packages/homelab-lab-bytecode.pth"


def _keygen(path: Path, comment: str) -> None:
    proc = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise LabError(f"ssh-keygen failed: {proc.stderr.strip()}", "install openssh-client")


def ensure_client_files(config: LabConfig) -> Path:
    """The controller's lab key (created once per lab directory); returns its path."""
    key = private_dir(config.lab_dir) / KEY_NAME
    if not key.exists():
        _keygen(key, f"homelab-lab-admin@{config.machine_prefix}")
        key.with_name(KEY_NAME + ".pub").chmod(0o600)
    return key


def _write(root: Path, rel: str, content: bytes | str, mode: int = 0o644, owner: int | None = None) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)
    if owner is not None:
        os.chown(path, owner, owner)


def documented_services(config: LabConfig) -> list[dict]:
    """The services inventory/group_vars/all documents (the lab names them in /etc/hosts, the plants monitor them)."""
    from planner.inventory.hosts import load_inventory

    services = load_inventory(config.project / "inventory").groupvars("all").get("services")
    return [s for s in services if isinstance(s, dict)] if isinstance(services, list) else []


def etc_hosts(all_hosts: list[LabHost], services: list[dict]) -> str:
    """Every lab host's /etc/hosts: each lab host and each documented service's DNS name at a lab address."""
    names = "\n".join(f"{h.address}\t{h.name}.{dns.DOMAIN} {h.name}" for h in all_hosts)
    served = "".join(f"{address}\t{name}\n" for address, name in dns.service_names(services, all_hosts))
    return ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "# Sandbox lab hosts at their lab addresses: read before the lab's DNS, which\n"
            f"# answers with LAN addresses (192.168.4.x), as MAAS does\n{names}\n"
            + ("# Documented services' DNS names, at their host's (or group's first host's) lab address\n"
               + served if served else ""))


def configure(config: LabConfig, host: LabHost, merged: Path, hdir: Path,
              all_hosts: list[LabHost]) -> list[tuple[Path, str]]:
    """Write the host's own files into its overlay; returns the read-only binds nspawn must add."""
    _write(merged, "/etc/hostname", f"{host.name}\n")
    _write(merged, "/etc/hosts", etc_hosts(all_hosts, documented_services(config)))
    machine_id = hashlib.sha256(f"{config.machine_prefix}/{host.name}".encode()).hexdigest()[:32]
    _write(merged, "/etc/machine-id", machine_id + "\n")
    hostkey = merged / "etc" / "ssh" / "ssh_host_ed25519_key"
    hostkey.parent.mkdir(parents=True, exist_ok=True)
    _keygen(hostkey, f"root@{host.name}")
    _write(merged, "/etc/ssh/sshd_config.d/10-lab-listen.conf",
           f"# This host's own loopback address: lab hosts share the machine's network namespace.\n"
           f"ListenAddress {host.address}:{host.port}\nHostKey /etc/ssh/ssh_host_ed25519_key\n")
    # systemd-user-sessions lifts pam_nologin at the end of boot. Under load nspawn sometimes fails to place
    # it in its cgroup (status 219), which would keep the admin user out for good; so it is retried.
    _write(merged, "/etc/systemd/system/systemd-user-sessions.service.d/10-lab-retry.conf",
           "[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nRestart=on-failure\nRestartSec=200ms\n")
    home = merged / "home" / ADMIN_USER / ".ssh"
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, ADMIN_UID, ADMIN_UID)
    home.chmod(0o700)
    pub = (config.lab_dir / f"{KEY_NAME}.pub").read_text()
    _write(merged, f"/home/{ADMIN_USER}/.ssh/authorized_keys", pub, 0o600, ADMIN_UID)
    for rel, (content, mode) in render_files(host.hardware).items():
        _write(merged, rel, content, mode)
    files, links = lab_scenario.render_files(host.scenario, host.hardware, host.address)
    for rel, (content, mode) in files.items():
        _write(merged, rel, content, mode)
    dns_files, unit_links_off, unit_links_on = dns.files(host, all_hosts)
    for rel, text in dns_files.items():
        dest = merged / rel.lstrip("/")
        if dest.is_symlink():
            dest.unlink()  # a resolv.conf linked elsewhere must not be written through
        _write(merged, rel, text)
    dhcp_files, dhcp_links = dhcp.files(host, all_hosts, config.net_prefix)
    for rel, (text, mode) in dhcp_files.items():
        _write(merged, rel, text, mode)
    unit_links_on += dhcp_links
    for rel in unit_links_off:
        (merged / rel.lstrip("/")).unlink(missing_ok=True)
    links = {**links, **{rel: _unit_path(merged, Path(rel).name) for rel in unit_links_on}}
    for rel, target in links.items():
        link = merged / rel.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    kuma_files, kuma_links = kuma.host_files(host, all_hosts)
    for rel, text in kuma_files.items():
        _write(merged, rel, text)
    for rel, target in kuma_links.items():
        link = merged / rel.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    # The root filesystem's sources.list names Debian's mirror, which this machine (and so every lab host,
    # sharing its network) can reach: an `apt-get update` in a host must never go there. A lab host's only
    # repository is the local one `homelab lab plant HOST pending-upgrade` adds.
    _write(merged, "/etc/apt/sources.list", "# Sandbox lab host: no remote repositories (docs/LAB.md, "
                                            "\"Package updates\").\n")
    # The busy loop `homelab lab plant HOST cpu-hog` runs: in every host, started only when planted.
    _write(merged, faults.HOG_SCRIPT, faults.HOG_SOURCE, 0o755)
    _bytecode_cache(merged, os.environ.get(BYTECODE_CACHE_ENV) == "1")
    binds: list[tuple[Path, str]] = []
    if host.hardware.nics:
        sysnet = hdir / "sys-class-net"
        render_sys_class_net(host.hardware, sysnet)
        binds.append((sysnet, "/sys/class/net"))
    return binds


def _bytecode_cache(merged: Path, wanted: bool) -> None:
    """Install the cache of compiled module code (planner/lab/host_bytecode.py) in the host, or take it out:
    each ``lab up`` leaves the host as the environment asks."""
    from planner.lab import host_bytecode

    module, pth = merged / _BYTECODE_MODULE.lstrip("/"), merged / _BYTECODE_PTH.lstrip("/")
    cache = merged / host_bytecode.ROOT.lstrip("/")
    if not wanted:
        for path in (module, pth):
            path.unlink(missing_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
        return
    _write(merged, _BYTECODE_MODULE, Path(host_bytecode.__file__).read_bytes())
    _write(merged, _BYTECODE_PTH, host_bytecode.PTH_LINE)
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o1777)


def _unit_path(merged: Path, unit: str) -> str:
    """Where a unit a wants-link points: the lab's own (/etc/systemd/system), else the package's."""
    own = f"/etc/systemd/system/{unit}"
    return own if (merged / own.lstrip("/")).exists() else f"/lib/systemd/system/{unit}"


def ssh_argv(config: LabConfig, state: HostState, *command: str) -> list[str]:
    """ssh to a running lab host as its admin, with the lab's key and pinned known_hosts (and ``command``)."""
    return ["ssh", "-i", str(config.lab_dir / KEY_NAME), "-o", f"UserKnownHostsFile={config.lab_dir / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-p", str(state.port),
            f"{ADMIN_USER}@{state.address}", *command]


def host_public_key(config: LabConfig, name: str) -> str:
    """The host key generated for a lab host (for the pinned known_hosts)."""
    path = config.lab_dir / "hosts" / name / "upper" / "etc" / "ssh" / "ssh_host_ed25519_key.pub"
    return " ".join(path.read_text().split()[:2])


def _lab_services() -> dict:
    """What the lab's hosts have instead of the homelab's services (planner/lab/dns.py, docs/LAB.md)."""
    return {
        # Names are kept by the lab's dnsmasq on the maas host, as MAAS keeps them in the homelab.
        "homelab_dns": {"kind": "dnsmasq", "host": dns.DNS_HOST},
        # Addresses are handed out by the lab's second dnsmasq there, as MAAS hands them out.
        # Both of its dnsmasq units read the reservation files, so both restart when one changes.
        "homelab_dhcp": {"kind": "dnsmasq", "host": dhcp.DHCP_HOST,
                         "units": ["dnsmasq", dhcp.UNIT.removesuffix(".service")]},
        # No container runtime or registry in the lab, and Ollama is not in Debian: a trial runs a real
        # lighttpd that serves the service's health path on the host's address and the service's port.
        "trial_service_lab_stand_in": {"package": "lighttpd"},
    }


def _monitoring(config: LabConfig, hosts: list[LabHost]) -> dict:
    """homelab_monitoring as the project documents it, but Uptime Kuma's URL at its lab host's address:
    the controller cannot resolve ``uptime-kuma.maas`` (the lab's DNS answers on lab hosts only, and with the
    LAN's address). Empty when the inventory has no monitoring contract or no Uptime Kuma host."""
    from planner.inventory.hosts import load_inventory

    contract = load_inventory(config.project / "inventory").groupvars("all").get("homelab_monitoring")
    where = next((h for h in hosts if h.name == kuma.HOST), None)
    if not isinstance(contract, dict) or where is None:
        return {}
    uptime = {**(contract.get("uptime_kuma") or {}), "url": kuma.url(where.address)}
    return {"homelab_monitoring": {**contract, "uptime_kuma": uptime}}


def write_inventory(config: LabConfig, hosts: list[LabHost], running: Collection[str] | None = None) -> Path:
    """Write known_hosts and the lab inventory directory; returns the inventory path.

    The directory links the project's own inventory files and adds ``zz-lab.yml``,
    read last, with each host's loopback address and the lab's SSH settings, so
    group_vars and documented facts apply unchanged. Every host is in the inventory,
    but only the ``running`` ones (by default all) have a pinned key: a host that
    `lab up --limit` left out has none yet, and SSH refuses it, so a run names it
    unreachable.
    """
    known = config.lab_dir / "known_hosts"
    lines = []
    for h in hosts:
        if running is not None and h.name not in running:
            continue
        target = h.address if h.port == 22 else f"[{h.address}]:{h.port}"
        lines.append(f"{target} {host_public_key(config, h.name)}")
    with os.fdopen(private_file(known), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    inv_dir = private_dir(config.lab_dir / "inventory")
    source = config.project / "inventory"
    for entry in inv_dir.iterdir():
        if entry.is_symlink():
            entry.unlink()
        elif entry.is_dir():  # host_vars/ of an earlier --scale lab: links and generated files only
            shutil.rmtree(entry)
    (inv_dir / "zz-scale.yml").unlink(missing_ok=True)
    generated = [h.generated for h in hosts if h.generated is not None]
    for entry in sorted(source.iterdir()):
        if not (generated and entry.name == "host_vars"):
            (inv_dir / entry.name).symlink_to(os.path.relpath(entry, inv_dir))
    if generated:
        scale.write_files(inv_dir, source, generated)
    key = config.lab_dir / KEY_NAME
    monitoring = _monitoring(config, hosts)
    lab = {
        "all": {
            "hosts": {
                h.name: {
                    "ansible_host": h.address,
                    "ansible_port": h.port,
                    "listen_address": h.address,
                    # Per host, not under vars: group_vars/all (homelab_dns: MAAS) would win over this file's vars.
                    **_lab_services(),
                    # Per host too: the whole dict, since group_vars/all's would otherwise win.
                    **monitoring,
                } for h in hosts
            },
            "vars": {
                "ansible_user": ADMIN_USER,
                "ansible_ssh_private_key_file": str(key),
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes",
                "homelab_sandbox_lab": True,
            },
        }
    }
    header = "# Generated by `homelab lab up`: the sandbox lab's connection settings. Do not edit.\n"
    with os.fdopen(private_file(inv_dir / "zz-lab.yml"), "w") as fh:
        fh.write(header + yamlio.dump_plain(lab))
    return inv_dir


def hardware_summary(host: LabHost) -> str:
    """A short line for `homelab lab status`: GPUs and NIC speeds."""
    parts = [f"{g.model} {g.memory_mib // 1024} GiB" for g in host.hardware.gpus]
    for nic in host.hardware.nics:
        speed = f"{nic.speed_mbps}" if nic.speed_mbps else "?"
        top = max(nic.supported_mbps) if nic.supported_mbps else "?"
        parts.append(f"{nic.name} {speed}/{top} Mbps")
    return "; ".join(parts)
