"""Faults planted on a running lab host on demand: a runaway process, a full filesystem, an expired lease.

``homelab lab plant HOST cpu-hog`` starts the transient unit ``lab-cpu-hog.service`` in the host,
whose one process is ``python3 /usr/local/bin/lab-cpu-hog`` (a busy loop the host set-up writes);
``disk-full`` fills the small tmpfs every lab host has at ``/srv/lab-full`` (nspawn mounts it at
boot) with one file. ``--clear`` undoes either. Both run as root inside the host, over the lab's
own SSH access (its key, its pinned known_hosts, the admin's passwordless sudo), as a person would.

``lease-expiry`` (a DHCP host only) is what a host that was off for longer than its lease finds: on the
maas host, dnsmasq-dhcp is stopped, the host's lease in its database set expired and a guest laptop's
lease (``dhcp.GUEST_MAC``, ``guest-laptop``) added on the host's current address, and dnsmasq-dhcp
started again; in the host, its own current lease is set expired. The next ``homelab lab restart HOST``
then gets it a new address. ``--clear`` takes the guest's lease away again.

``monitoring-gaps`` and ``exporter-stopped`` plant what audit_monitoring finds in the real Uptime Kuma
and Prometheus: see planner/lab/monitoring.py.

A hog burns a whole core of the machine the lab runs on, so none is ever started by ``lab up`` or a
planted.yml: only a test or a person plants one, and the script stops itself after HOG_MAX_SECONDS
(the unit's RuntimeMaxSec too) should nobody clear it.
"""

from __future__ import annotations

import shlex
import subprocess

from planner.errors import HomelabError, LabError, did_you_mean
from planner.lab.spec import LabConfig

FAULTS = ("cpu-hog", "disk-full", "lease-expiry", "monitoring-gaps", "exporter-stopped")
HOG_UNIT = "lab-cpu-hog.service"
HOG_SCRIPT = "/usr/local/bin/lab-cpu-hog"
FULL_MOUNT = "/srv/lab-full"
FULL_FILE = f"{FULL_MOUNT}/lab-fill"
#: Size of the tmpfs at FULL_MOUNT: small, so filling it costs the machine 32 MiB of memory at most.
FULL_SIZE = "32m"
HOG_MAX_SECONDS = 1800
_SSH_TIMEOUT_S = 60

HOG_SOURCE = f'''#!/usr/bin/python3
"""A fault the sandbox lab plants (`homelab lab plant HOST cpu-hog`): one process that keeps a core busy.

It stops by itself after {HOG_MAX_SECONDS} s, so a hog nobody cleared cannot hold the machine for good.
"""
import time

end = time.monotonic() + {HOG_MAX_SECONDS}
while time.monotonic() < end:
    pass
'''

# Each script prints one line: what the host is like now.
_SCRIPTS = {
    ("cpu-hog", False): (
        f"systemctl is-active --quiet {HOG_UNIT} || "
        f"systemd-run --quiet --collect --unit={HOG_UNIT} --property=RuntimeMaxSec={HOG_MAX_SECONDS} "
        f"python3 {HOG_SCRIPT} && systemctl show --property=MainPID --value {HOG_UNIT}"),
    ("cpu-hog", True): (
        f"systemctl stop {HOG_UNIT} 2>/dev/null; systemctl reset-failed {HOG_UNIT} 2>/dev/null; "
        f"! systemctl is-active --quiet {HOG_UNIT} && echo stopped"),
    # Written until the filesystem refuses more (ENOSPC ends dd): 100 % used, whatever it held before.
    ("disk-full", False): (
        f"mountpoint -q {FULL_MOUNT} || {{ echo 'no filesystem at {FULL_MOUNT}' >&2; exit 3; }}; "
        f"dd if=/dev/zero of={FULL_FILE} bs=1M status=none 2>/dev/null; "
        f"df --output=pcent {FULL_MOUNT} | tail -n 1 | tr -d ' '"),
    ("disk-full", True): (
        f"rm -f {FULL_FILE} && df --output=pcent {FULL_MOUNT} | tail -n 1 | tr -d ' '"),
}


def plant(config: LabConfig, host: str, fault: str, clear: bool = False) -> str:
    """Plant (or with ``clear`` undo) ``fault`` on running lab host ``host``; returns what the host says now.

    Idempotent: a hog already running is kept (its pid is returned), a full filesystem is filled again,
    clearing what is not planted does nothing.
    """
    from planner.lab import runtime
    from planner.lab.spec import lab_hosts

    if fault not in FAULTS:
        raise HomelabError(f"no lab fault {fault!r}" + did_you_mean(fault, FAULTS), f"one of {', '.join(FAULTS)}")
    names = [h.name for h in lab_hosts(config)]
    if host not in names:
        raise HomelabError(f"unknown lab host {host!r}" + did_you_mean(host, names),
                           f"the lab's hosts are the inventory's: {', '.join(names) or 'none'}")
    state = runtime.read_state(config).get(host)
    if state is None or not runtime.is_ours(state):
        raise LabError(f"lab host {host!r} is not running", "homelab lab up starts it; then plant the fault")
    if fault == "lease-expiry":
        return _lease_expiry(config, host, clear)
    if fault == "monitoring-gaps":
        from planner.lab.monitoring import plant_gaps

        return plant_gaps(config, host, clear)
    if fault == "exporter-stopped":
        from planner.lab.monitoring import EXPORTER_SCRIPTS

        return _as_root(config, state, host, fault, clear, "sh", "-c", EXPORTER_SCRIPTS[clear])
    return _as_root(config, state, host, fault, clear, "sh", "-c", _SCRIPTS[(fault, clear)])


def _lease_expiry(config: LabConfig, host: str, clear: bool) -> str:
    """Expire ``host``'s lease on the lab's DHCP server and in the host, and hand its address to a guest."""
    from planner.lab import dhcp, runtime
    from planner.lab.spec import lab_hosts

    hosts = lab_hosts(config)
    client = next((c for c in dhcp.dhcp_hosts(hosts) if c.name == host), None)
    if client is None:
        raise HomelabError(f"{host} is statically addressed: it holds no DHCP lease to expire",
                           "plant lease-expiry on a host documented `addressing: dhcp`, e.g. k3s-vm-chief-horse")
    server = dhcp.server_host(hosts)
    states = runtime.read_state(config)
    sstate = states.get(dhcp.DHCP_HOST)
    if server is None or sstate is None or not runtime.is_ours(sstate):
        raise LabError(f"the lab's DHCP server (the {dhcp.DHCP_HOST} lab host) is not running",
                       "a lab of an inventory with a maas host runs it: homelab lab up")
    hstate = states[host]
    address = ""
    if not clear:
        nic = next(h for h in hosts if h.name == host).scenario.addressing
        address = runtime.lan_address(config, hstate, nic.nic if nic else None) or ""
        if not address:
            raise LabError(f"{host} shows no LAN address to hand to a guest", "homelab lab restart " + host)
    said = _as_root(config, sstate, dhcp.DHCP_HOST, "lease-expiry", clear, "python3", "-c", dhcp.EXPIRE_ON_SERVER,
                    dhcp.LEASE_DB, dhcp.UNIT, client.mac, dhcp.GUEST_MAC, dhcp.GUEST_NAME, address,
                    str(dhcp.LEASE_SECONDS))
    if clear:
        return said
    nic_name = next(h for h in hosts if h.name == host).hardware.nics[0].name
    _as_root(config, hstate, host, "lease-expiry", clear, "python3", "-c", dhcp.EXPIRE_IN_HOST,
             dhcp.lease_file(nic_name))
    return said


def _as_root(config: LabConfig, state, host: str, fault: str, clear: bool, *command: str) -> str:
    """Run ``command`` as root in a running lab host; its last line of output."""
    from planner.lab.hostsetup import ssh_argv

    argv = ssh_argv(config, state, "sudo", "-n", *(shlex.quote(arg) for arg in command))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_SSH_TIMEOUT_S, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LabError(f"{host} did not answer within {_SSH_TIMEOUT_S} s", "homelab lab status shows whether its "
                       "SSH answers") from None
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        hint = ("the host was started before the lab mounted /srv/lab-full: homelab lab down, then up"
                if proc.returncode == 3 else "homelab lab ssh HOST reaches the host to look")
        raise LabError(f"{'clearing' if clear else 'planting'} {fault} on {host} failed: "
                       f"{said[-1] if said else f'exit {proc.returncode}'}", hint)
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
