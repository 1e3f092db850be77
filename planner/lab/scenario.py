"""What a lab host runs and how it is addressed, beyond its hardware profile.

Discovery must read a lab host through the interfaces it reads a real one
through, so the lab writes real configuration files and places replays:

- memory and CPU: ``/proc/meminfo`` and ``/proc/cpuinfo`` rendered from the
  documented ``hardware`` and bind-mounted over the kernel's at boot (a lab host
  would otherwise show this machine's), as LXCFS does for containers;
- addressing: ``ip`` is a replay answering ``ip [-j] addr`` and ``ip [-j] route``
  with the documented ``lan_ip`` (lab hosts share this machine's network
  namespace, so the real ``ip`` would show this machine's interfaces, and could
  change them); a static host gets a systemd-networkd ``.network`` file, a DHCP
  host an ifupdown stanza and a dhclient lease file. systemd-networkd is masked:
  it must never touch this machine's interfaces;
- services: every documented service placed on the host (or on a group it is
  in) runs as a *stand-in* unit of the same name: a tiny HTTP listener on the
  service's documented port, bound to the host's own lab address. A k3s-tier
  service makes each host of its group run a stand-in ``k3s`` unit (port 6443).

Then ``planted.yml`` changes a few of these on purpose (``dhcp_reserved: false``:
no reservation on the lab's DHCP server), so drift has something true to find
and a GPU report something to tell apart: a GPU planted busy
replays the busy capture (a process holding its memory), a driver planted as
not answering makes nvidia-smi fail as it does without its kernel driver.
``$HOMELAB_LAB_PLANTED`` names another planted file, for a lab of a test's own.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from planner.errors import InventoryError
from planner.lab.hardware import REPLAY_DATA_DIR, HardwareProfile, busy_used_mib

_PLANTED = Path(__file__).with_name("planted.yml")
PLANTED_ENV = "HOMELAB_LAB_PLANTED"
#: The values `gpu_driver` may be planted with.
_DRIVER_STATES = ("answering", "not_answering")
_REPLAY_SRC = Path(__file__).parent / "replay"
_PROC_DATA = f"{REPLAY_DATA_DIR}/proc"
_IP_DATA = f"{REPLAY_DATA_DIR}/ip"
#: Firmware and the kernel keep part of the RAM: a 64 GiB machine shows about 62.4 GiB in MemTotal.
_MEMORY_VISIBLE = 0.975
K3S_API_PORT = 6443
#: How long the DHCP lease the lab writes is valid from the moment the host starts (the lab's
#: DHCP server's lease time, planner/lab/dhcp.py).
LEASE_SECONDS = 12 * 3600
#: The server identifier the lab's DHCP server sends (dnsmasq answers from lo: see dhcp.py).
DHCP_SERVER_ID = "127.0.0.1"


@dataclass(frozen=True)
class Addressing:
    """The host's LAN address as the lab shows it (after planted drift)."""

    nic: str
    address: str
    prefix: int
    gateway: str | None
    method: str  # "static" or "dhcp"
    documented: str = ""  # the documented lan_ip (address differs when planted)
    reserved: bool = True  # a DHCP host: whether the DHCP server holds a reservation for it


@dataclass(frozen=True)
class StandIn:
    """A documented service the lab runs as a listener on its port."""

    name: str
    port: int


@dataclass(frozen=True)
class Scenario:
    """Everything a lab host shows besides GPUs and NICs."""

    addressing: Addressing | None = None
    standins: tuple[StandIn, ...] = ()
    memory_mib: int | None = None
    cpu: tuple[str, int, int] | None = None  # model, cores, threads
    planted: tuple[str, ...] = ()  # what was changed on purpose, in words


def load_planted(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The planted drift, keyed by host name: ``path``, else ``$HOMELAB_LAB_PLANTED``, else planted.yml."""
    from planner import yamlio

    path = path or Path(os.environ.get(PLANTED_ENV) or _PLANTED)
    if not path.is_file():
        raise InventoryError(f"{path}: no such planted file", f"point {PLANTED_ENV} at a planted.yml, or unset it")
    data = yamlio.plain(yamlio.load(path)) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InventoryError(f"{path}: planted drift must map host names to mappings", "see the file's comments")
    return data


#: Documented services the lab runs for real, so no stand-in may hold their ports: Uptime Kuma
#: (planner/lab/kuma.py starts it on its host) and Prometheus (deploy_monitoring's role installs and starts
#: Debian's; until it runs, nothing holds 9090, as the planted "not running" says).
REAL_SERVICES = ("uptime-kuma", "prometheus")


def _documented_on(name: str, groups: tuple[str, ...], services: list[dict]) -> list[dict]:
    return [svc for svc in services if svc.get("host") == name or svc.get("host") in groups]


def _services_for(name: str, groups: tuple[str, ...], services: list[dict]) -> tuple[StandIn, ...]:
    from planner.lab.dns import DNS_HOST  # dns.py reads the lab's spec, which reads this module
    from planner.lab.dns import PORT as DNS_PORT

    standins: dict[str, StandIn] = {}
    for svc in _documented_on(name, groups, services):
        if svc.get("name") in REAL_SERVICES:
            continue
        if svc.get("tier") == "k3s":
            # The cluster runs it, not this host: the host runs k3s.
            standins["k3s"] = StandIn("k3s", K3S_API_PORT)
        elif name == DNS_HOST and svc.get("port") == DNS_PORT:
            continue  # the lab's dnsmasq (planner/lab/dns.py) really serves it: no stand-in may hold its port
        elif isinstance(svc.get("port"), int):
            standins[svc["name"]] = StandIn(svc["name"], svc["port"])
    return tuple(standins.values())


def host_scenario(name: str, groups: tuple[str, ...], hostvars: dict[str, Any], profile: HardwareProfile,
                  planted: dict[str, Any]) -> tuple[Scenario, HardwareProfile]:
    """The host's scenario and its hardware profile, both with the planted drift applied."""
    notes: list[str] = []
    speeds = planted.get("nic_speed_mbps") or {}
    nics = []
    for nic in profile.nics:
        if nic.name in speeds:
            notes.append(f"{nic.name} links at {speeds[nic.name]} Mbps (documented {nic.speed_mbps})")
            nic = replace(nic, speed_mbps=int(speeds[nic.name]), duplex="full")
        nics.append(nic)
    profile = replace(profile, nics=tuple(nics))
    profile = _planted_gpus(name, profile, planted, notes)

    hardware = hostvars.get("hardware") or {}
    memory = hardware.get("memory_gib")
    cpu = None
    if hardware.get("cpu") and hardware.get("cores"):
        cpu = (str(hardware["cpu"]), int(hardware["cores"]), int(hardware.get("threads") or hardware["cores"]))

    addressing = None
    lan_ip = hostvars.get("lan_ip")
    if lan_ip and profile.nics:
        address = str(planted.get("lan_ip") or lan_ip)
        if address != lan_ip:
            notes.append(f"LAN address {address} (documented {lan_ip})")
        net = ipaddress.ip_network(str(hostvars.get("lan_subnet") or f"{lan_ip}/24"), strict=False)
        router = next((d.get("lan_ip") for d in (hostvars.get("network_devices") or {}).values()
                       if isinstance(d, dict) and d.get("kind") == "router"), None)
        dhcp = hostvars.get("addressing") == "dhcp"
        reserved = planted.get("dhcp_reserved", True)
        if not isinstance(reserved, bool):
            raise InventoryError(f"planted {name}.dhcp_reserved must be true or false, got {reserved!r}",
                                 "write `dhcp_reserved: false` for a DHCP host the server holds no reservation for")
        if dhcp and not reserved:
            notes.append("no DHCP reservation")
        addressing = Addressing(profile.nics[0].name, address, net.prefixlen, router,
                                "dhcp" if dhcp else "static", str(lan_ip), reserved)

    stopped = set(planted.get("not_running") or [])
    documented = list(hostvars.get("services") or [])
    standins = _services_for(name, groups, documented)
    shown = [s.name for s in standins] + [str(svc.get("name")) for svc in _documented_on(name, groups, documented)
                                          if svc.get("name") in REAL_SERVICES]
    for svc_name in dict.fromkeys(shown):
        if svc_name in stopped:
            notes.append(f"{svc_name} is not running")
    scenario = Scenario(addressing, tuple(s for s in standins if s.name not in stopped),
                        round(memory * 1024) if isinstance(memory, (int, float)) else None, cpu, tuple(notes))
    return scenario, profile


def _planted_gpus(name: str, profile: HardwareProfile, planted: dict[str, Any], notes: list[str]) -> HardwareProfile:
    """The profile with its planted GPU states: ``gpu_busy`` (GPU indexes) and ``gpu_driver``."""
    busy = planted.get("gpu_busy") or []
    if not isinstance(busy, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in busy):
        raise InventoryError(f"planted {name}.gpu_busy must be a list of GPU indexes, got {busy!r}",
                             "write e.g. `gpu_busy: [0]` for the host's first GPU")
    gpus = list(profile.gpus)
    for index in busy:
        if not 0 <= index < len(gpus):
            raise InventoryError(f"planted {name}.gpu_busy names GPU {index}, but the host documents "
                                 f"{len(gpus)} GPU(s)", "use an index of a GPU in its hardware.gpus")
        gpus[index] = replace(gpus[index], busy=True)
        notes.append(f"GPU {index} ({gpus[index].model}) busy: a process holds {busy_used_mib()} MiB")
    driver = planted.get("gpu_driver", "answering")
    if driver not in _DRIVER_STATES:
        raise InventoryError(f"planted {name}.gpu_driver is {driver!r}",
                             f"use one of: {', '.join(_DRIVER_STATES)}")
    if driver == "not_answering":
        notes.append("the NVIDIA driver does not answer nvidia-smi")
    return replace(profile, gpus=tuple(gpus), driver_answers=driver == "answering")


def render_files(scenario: Scenario, profile: HardwareProfile, lab_address: str,
                 started: datetime | None = None) -> tuple[dict[str, tuple[bytes, int]], dict[str, str]]:
    """Files (path -> (content, mode)) and symlinks (path -> target) to place in the host's root."""
    files: dict[str, tuple[bytes, int]] = {}
    links = {"/etc/systemd/system/systemd-networkd.service": "/dev/null",
             "/etc/systemd/system/systemd-networkd.socket": "/dev/null"}
    binds = []
    if scenario.memory_mib:
        files[f"{_PROC_DATA}/meminfo"] = (_meminfo(scenario.memory_mib).encode(), 0o444)
        binds.append("meminfo")
    if scenario.cpu:
        files[f"{_PROC_DATA}/cpuinfo"] = (_cpuinfo(*scenario.cpu).encode(), 0o444)
        binds.append("cpuinfo")
    if binds:
        # One process for both mounts, started once the host's cgroups are set up (a unit that runs
        # before sysinit.target sometimes fails to be placed in its cgroup under nspawn: status 219),
        # and before sshd, so nothing can read the real /proc first. Retried, because a lab host
        # that showed this machine's memory would plant drift nobody asked for.
        mounts = "; ".join(f"findmnt /proc/{b} >/dev/null || mount --bind {_PROC_DATA}/{b} /proc/{b}" for b in binds)
        files["/etc/systemd/system/homelab-lab-proc.service"] = ((
            "# Sandbox lab: show the documented memory and CPU instead of this machine's.\n"
            "[Unit]\nDescription=Sandbox lab /proc replays\nBefore=ssh.service\n"
            "StartLimitIntervalSec=0\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            f"ExecStart=/bin/sh -ec '{mounts}'\n"
            "Restart=on-failure\nRestartSec=200ms\n"
            "\n[Install]\nWantedBy=multi-user.target\n").encode(), 0o644)
        links["/etc/systemd/system/multi-user.target.wants/homelab-lab-proc.service"] = \
            "/etc/systemd/system/homelab-lab-proc.service"
    replay = (_REPLAY_SRC / "ip").read_bytes()
    for path in ("/bin/ip", "/usr/bin/ip"):
        files[path] = (replay, 0o755)
    files[f"{_IP_DATA}/ip.json"] = (json.dumps(_ip_data(scenario, profile), indent=2).encode() + b"\n", 0o644)
    if scenario.addressing:
        files.update(_network_config(scenario.addressing, started or datetime.now(UTC)))
    for svc in scenario.standins:
        unit = f"/etc/systemd/system/{svc.name}.service"
        files[unit] = (_standin_unit(svc, lab_address).encode(), 0o644)
        links[f"/etc/systemd/system/multi-user.target.wants/{svc.name}.service"] = unit
    if scenario.standins:
        files[f"{REPLAY_DATA_DIR}/standin/index.html"] = (
            b"Sandbox lab stand-in: this port is held for a documented service; the service is not here.\n", 0o644)
    return files, links


def _meminfo(memory_mib: int) -> str:
    total = int(memory_mib * 1024 * _MEMORY_VISIBLE)
    free = int(total * 0.8)
    rows = {"MemTotal": total, "MemFree": free, "MemAvailable": int(total * 0.9), "Buffers": int(total * 0.01),
            "Cached": int(total * 0.08), "SwapCached": 0, "Active": int(total * 0.1), "Inactive": int(total * 0.05),
            "SwapTotal": 0, "SwapFree": 0, "Shmem": 0, "SReclaimable": 0}
    return "".join(f"{key + ':':<16}{value:>8} kB\n" for key, value in rows.items())


def _cpuinfo(model: str, cores: int, threads: int) -> str:
    vendor = "AuthenticAMD" if "AMD" in model else "GenuineIntel"
    blocks = []
    for cpu in range(threads):
        blocks.append(f"processor\t: {cpu}\nvendor_id\t: {vendor}\nmodel name\t: {model}\n"
                      f"physical id\t: 0\nsiblings\t: {threads}\ncore id\t\t: {cpu % cores}\n"
                      f"cpu cores\t: {cores}\n")
    return "\n".join(blocks) + "\n"


def _ip_data(scenario: Scenario, profile: HardwareProfile) -> dict[str, Any]:
    """What ``ip -j addr`` and ``ip -j route`` print, in iproute2's JSON shapes."""
    links: list[dict[str, Any]] = [{
        "ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536,
        "operstate": "UNKNOWN", "link_type": "loopback", "address": "00:00:00:00:00:00",
        "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo",
                       "valid_life_time": 4294967295, "preferred_life_time": 4294967295}],
    }]
    a = scenario.addressing
    for index, nic in enumerate(profile.nics, start=2):
        info = []
        if a and nic.name == a.nic:
            dhcp = a.method == "dhcp"
            lifetime = LEASE_SECONDS if dhcp else 4294967295
            entry = {"family": "inet", "local": a.address, "prefixlen": a.prefix,
                     "broadcast": str(ipaddress.ip_network(f"{a.address}/{a.prefix}", strict=False).broadcast_address),
                     "scope": "global", "label": nic.name, "valid_life_time": lifetime,
                     "preferred_life_time": lifetime}
            if dhcp:
                entry["dynamic"] = True
            info.append(entry)
        links.append({"ifindex": index, "ifname": nic.name,
                      "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"] if nic.link else ["BROADCAST", "MULTICAST"],
                      "mtu": 1500, "operstate": "UP" if nic.link else "DOWN", "link_type": "ether",
                      "address": nic.mac, "broadcast": "ff:ff:ff:ff:ff:ff", "addr_info": info})
    routes: list[dict[str, Any]] = []
    if a and a.gateway:
        routes.append({"dst": "default", "gateway": a.gateway, "dev": a.nic,
                       "protocol": "dhcp" if a.method == "dhcp" else "static", "flags": []})
    if a:
        net = ipaddress.ip_network(f"{a.address}/{a.prefix}", strict=False)
        routes.append({"dst": str(net), "dev": a.nic, "protocol": "kernel", "scope": "link",
                       "prefsrc": a.address, "flags": []})
    return {"links": links, "routes": routes}


def _network_config(a: Addressing, started: datetime) -> dict[str, tuple[bytes, int]]:
    if a.method == "static":
        gateway = f"Gateway={a.gateway}\n" if a.gateway else ""
        return {"/etc/systemd/network/10-lan.network": (
            f"[Match]\nName={a.nic}\n\n[Network]\nAddress={a.address}/{a.prefix}\n{gateway}".encode(), 0o644)}
    # dhclient writes times in UTC as "<weekday> YYYY/MM/DD HH:MM:SS", weekday 0 = Sunday.
    def stamp(t: datetime) -> str:
        return f"{(t.weekday() + 1) % 7} {t:%Y/%m/%d %H:%M:%S}"
    mask = str(ipaddress.ip_network(f"0.0.0.0/{a.prefix}").netmask)
    routers = f"  option routers {a.gateway};\n" if a.gateway else ""
    lease = (f"lease {{\n  interface \"{a.nic}\";\n  fixed-address {a.address};\n"
             f"  option subnet-mask {mask};\n{routers}  option dhcp-lease-time {LEASE_SECONDS};\n"
             f"  option dhcp-message-type 5;\n  option dhcp-server-identifier {DHCP_SERVER_ID};\n"
             f"  renew {stamp(started + timedelta(seconds=LEASE_SECONDS // 2))};\n"
             f"  rebind {stamp(started + timedelta(seconds=LEASE_SECONDS * 7 // 8))};\n"
             f"  expire {stamp(started + timedelta(seconds=LEASE_SECONDS))};\n}}\n")
    return {
        "/etc/network/interfaces": (f"auto lo\niface lo inet loopback\n\nauto {a.nic}\niface {a.nic} inet dhcp\n"
                                    .encode(), 0o644),
        f"/var/lib/dhcp/dhclient.{a.nic}.leases": (lease.encode(), 0o644),
    }


def _standin_unit(svc: StandIn, lab_address: str) -> str:
    user = "User=nobody\n" if svc.port >= 1024 else ""
    return (f"# Sandbox lab stand-in: holds {svc.name}'s documented port; it is not {svc.name}.\n"
            f"[Unit]\nDescription=Sandbox lab stand-in for {svc.name}\nAfter=network.target\n\n"
            f"[Service]\n{user}ExecStart=/usr/bin/python3 -m http.server --bind {lab_address} "
            f"--directory {REPLAY_DATA_DIR}/standin {svc.port}\nRestart=on-failure\n\n"
            "[Install]\nWantedBy=multi-user.target\n")
