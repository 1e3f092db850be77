"""What discovery found on a host, as it is kept in the inventory under ``discovered:``.

A host controls its own facts, so everything here is untrusted text: the
models cap string and list sizes, and the writer marks strings ``!unsafe`` so
Ansible never templates them. The shape is deliberately smaller than
Ansible's facts: what drift, docs and the planner read, and little that
changes on every run (no uptime, no free-memory counters except the GPU's,
which capacity questions need).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from planner.yamlio.text import LONE_SURROGATE

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")

MAX_TEXT = 256
MAX_ITEMS = 256
#: Filesystem types that are real storage; the rest (proc, tmpfs, cgroup, overlay of a container…) is left out.
_RUNTIME_TREES = ("/run/", "/proc/", "/sys/", "/dev/")
_STORAGE_FS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "vfat", "f2fs", "nfs", "nfs4", "cifs", "ntfs"}


def _cap_text(value: Any) -> Any:
    # A version like 12.15 or 13.0 may come back from YAML as a number: it is still text here.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    elif hasattr(value, "isoformat"):  # a timestamp a YAML 1.1 loader turned into a datetime
        value = value.isoformat()
    if isinstance(value, str):
        # A non-UTF-8 byte (an interface name from os.listdir, say) arrives as a lone surrogate, which no
        # YAML reader accepts back: it becomes U+FFFD, as a UTF-8 decoder with errors="replace" would.
        # Control characters (an ANSI escape in a process name or a journal line) would act on the terminal
        # that shows the review: each becomes U+FFFD, visible and inert. Tabs and newlines stay.
        return CONTROL.sub("\ufffd", LONE_SURROGATE.sub("\ufffd", value[:MAX_TEXT]))
    return value


def _cap_list(value: Any) -> Any:
    if isinstance(value, list):
        return value[:MAX_ITEMS]
    return value


Text = Annotated[str, BeforeValidator(_cap_text)]


_Item = TypeVar("_Item")
#: A list cut to MAX_ITEMS before it is validated: ``CappedList[Disk]``.
CappedList = Annotated[list[_Item], BeforeValidator(_cap_list)]


class _Model(BaseModel):
    # Unknown keys from a newer module are dropped rather than refused: discovery must not
    # fail a host because it learned something new.
    model_config = ConfigDict(extra="ignore")


class OsInfo(_Model):
    name: Text | None = None
    version: Text | None = None
    kernel: Text | None = None


class CpuInfo(_Model):
    model: Text | None = None
    cores: int | None = None
    threads: int | None = None


class Virtualization(_Model):
    role: Text | None = None  # host or guest
    type: Text | None = None  # kvm, systemd-nspawn, …


class Disk(_Model):
    name: Text
    size_gib: float | None = None
    model: Text | None = None
    rotational: bool | None = None


class Filesystem(_Model):
    mount: Text
    device: Text | None = None
    fstype: Text | None = None
    size_gib: float | None = None
    used_pct: int | None = None


class Nic(_Model):
    name: Text
    mac: Text | None = None
    driver: Text | None = None
    state: Text | None = None
    carrier: bool | None = None
    speed_mbps: int | None = None  # None: unknown (virtual NICs, no link) — never 0
    duplex: Text | None = None
    max_speed_mbps: int | None = None
    virtual: bool | None = None


class Address(_Model):
    interface: Text
    address: Text
    prefix: int | None = None
    family: Literal["inet", "inet6"] = "inet"
    method: Text | None = None  # dhcp, static, unknown
    manager: Text | None = None  # networkd, NetworkManager, ifupdown, netplan
    lease_expires: Text | None = None


class GpuProcess(_Model):
    pid: int | None = None
    name: Text | None = None
    used_memory_mib: int | None = None


class Gpu(_Model):
    index: int | None = None
    model: Text
    uuid: Text | None = None
    driver: Text | None = None
    cuda_version: Text | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    memory_free_mib: int | None = None
    utilization_pct: int | None = None
    temperature_c: int | None = None
    mig_mode: Text | None = None
    processes: CappedList[GpuProcess] = []


class Listener(_Model):
    address: Text
    port: int
    process: Text | None = None


class Container(_Model):
    runtime: Text
    name: Text
    image: Text | None = None
    state: Text | None = None


class K3s(_Model):
    present: bool = False
    role: Text | None = None
    version: Text | None = None


class Services(_Model):
    units: CappedList[Text] = []  # running service units (not one-shot ones that exited), without ".service"
    listening: CappedList[Listener] = []  # TCP listeners whose process the host shows
    containers: CappedList[Container] = []
    k3s: K3s = K3s()


class Memory(_Model):
    total_mib: int | None = None
    available_mib: int | None = None
    swap_total_mib: int | None = None
    swap_used_mib: int | None = None


class HealthFilesystem(_Model):
    mount: Text
    fstype: Text | None = None
    size_mib: int | None = None
    used_pct: float | None = None
    inodes_used_pct: float | None = None


class JournalError(_Model):
    unit: Text
    message: Text = ""
    count: int = 0


class TopProcess(_Model):
    pid: int
    user: Text | None = None
    comm: Text | None = None
    cmdline: Text | None = None
    cpu_pct: float | None = None
    mem_pct: float | None = None
    unit: Text = ""


class Runaway(_Model):
    pid: int
    start_time: int  # field 22 of /proc/PID/stat: with the pid it names one process, never a reused pid
    comm: Text | None = None
    cmdline: Text | None = None
    user: Text | None = None
    cpu_pct: float | None = None  # the lower of the two samples, % of one core
    unit: Text = ""
    cgroup: Text = ""
    k3s_pod: bool = False


class Finding(_Model):
    id: Text
    severity: Literal["critical", "warning", "info"]
    summary: Text
    evidence: Text = ""
    runbook: Text = ""


class Health(_Model):
    """What diagnose_host found on the host when it last looked (homelab.ops.host_health)."""

    checked_at: Text | None = None
    cores: int | None = None
    load: CappedList[float] = []
    iowait_pct: float | None = None
    memory: Memory = Memory()
    oom_kills: int | None = None
    filesystems: CappedList[HealthFilesystem] = []
    failed_units: CappedList[Text] = []
    journal_errors: CappedList[JournalError] = []
    top: CappedList[TopProcess] = []
    runaway: CappedList[Runaway] = []
    findings: CappedList[Finding] = []
    skipped: CappedList[Text] = []


class AddressSeen(_Model):
    """One primary LAN address the host had, and the first and last days a facts write-back saw it."""

    address: Text
    first_seen: Text  # ISO date (YYYY-MM-DD)
    last_seen: Text


#: How many addresses the history keeps: enough to show a host that keeps moving, short enough to read.
MAX_HISTORY = 10


class Discovered(_Model):
    """One host's ``discovered:`` block."""

    gathered_at: Text | None = None  # when these facts were last read from the host (UTC, ISO 8601)
    reachable: bool = True
    stale_since: Text | None = None  # first failed gathering since the facts were read
    last_error: Text | None = None
    os: OsInfo = OsInfo()
    cpu: CpuInfo = CpuInfo()
    memory_mib: int | None = None
    virtualization: Virtualization = Virtualization()
    disks: CappedList[Disk] = []
    filesystems: CappedList[Filesystem] = []
    nics: CappedList[Nic] = []
    addresses: CappedList[Address] = []
    default_gateway: Text | None = None
    gpus: CappedList[Gpu] = []
    nvidia_smi: Text | None = None  # ok, absent, or "error: …"
    services: Services = Services()
    health: Health | None = None  # only where diagnose_host has looked
    address_history: CappedList[AddressSeen] = []  # the primary LAN address over time, newest last
    probe_errors: CappedList[Text] = Field(default_factory=list)

    def for_inventory(self) -> dict[str, Any]:
        """Plain data for the YAML writer: empty and unknown values left out, stable key order."""
        return _prune(self.model_dump(mode="json"))


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _gib(size_bytes: Any) -> float | None:
    return round(size_bytes / 2**30, 1) if isinstance(size_bytes, (int, float)) and size_bytes > 0 else None


def _disk_gib(text: Any) -> float | None:
    """Ansible's device sizes are text like "238.47 GB" (GiB, despite the unit) or "500.00 MB"."""
    if not isinstance(text, str) or " " not in text:
        return None
    number, unit = text.split(" ", 1)
    try:
        value = float(number)
    except ValueError:
        return None
    to_gib = {"KB": 2**-20, "MB": 2**-10, "GB": 1, "TB": 2**10, "PB": 2**20}.get(unit.strip(), 0)
    return round(value * to_gib, 1) or None


def from_facts(facts: dict[str, Any], gathered_at: str) -> Discovered:
    """Combine Ansible's setup facts with the homelab.ops.host_facts result."""
    hl = facts.get("homelab_discovered") or {}
    processor = facts.get("processor") or []
    models = [p for p in processor[2::3]] if isinstance(processor, list) else []
    cores, per_core, count = (facts.get(k) for k in ("processor_cores", "processor_threads_per_core",
                                                      "processor_count"))
    threads = (cores * per_core * count
               if isinstance(cores, int) and isinstance(per_core, int) and isinstance(count, int) else None)
    disks = [Disk(name=name, size_gib=_disk_gib(d.get("size")), model=d.get("model"),
                  rotational=None if d.get("rotational") is None else d.get("rotational") == "1")
             for name, d in sorted((facts.get("devices") or {}).items())
             if isinstance(d, dict) and not name.startswith(("loop", "ram", "zram", "dm-", "sr"))]
    filesystems = []
    # Sorted, because the order of mounts is not stable between boots; runtime trees (/run, /proc…)
    # hold bind mounts of single files (a container's /run/host/os-release), not storage.
    for m in sorted((m for m in facts.get("mounts") or [] if isinstance(m, dict)), key=lambda m: str(m.get("mount"))):
        if m.get("fstype") in _STORAGE_FS and not str(m.get("mount", "")).startswith(_RUNTIME_TREES):
            total, free = m.get("size_total"), m.get("size_available")
            used = (round(100 * (total - free) / total)
                    if isinstance(total, int) and total and isinstance(free, int) else None)
            filesystems.append(Filesystem(mount=m.get("mount", "?"), device=m.get("device"), fstype=m.get("fstype"),
                                          size_gib=_gib(total), used_pct=used))
    configs = {c.get("interface"): c for c in hl.get("ip_config") or [] if isinstance(c, dict)}
    addresses = []
    for a in hl.get("addresses") or []:
        if not isinstance(a, dict) or a.get("interface") == "lo":
            continue
        cfg = configs.get(a.get("interface")) or {}
        # The host's values are untyped until the model has validated them.
        addresses.append(Address.model_validate({
            "interface": a.get("interface"), "address": a.get("address"), "prefix": a.get("prefix"),
            "family": a.get("family", "inet"), "method": cfg.get("method") or ("dhcp" if a.get("dynamic") else None),
            "manager": cfg.get("manager"), "lease_expires": cfg.get("lease_expires")}))
    svc = hl.get("services") or {}
    units = sorted({u["name"].removesuffix(".service") for u in svc.get("units") or []
                    if isinstance(u, dict) and u.get("sub") == "running" and isinstance(u.get("name"), str)})
    listening = sorted({(entry["address"], entry["port"], entry.get("process"))
                        for entry in svc.get("listening") or []
                        if isinstance(entry, dict) and entry.get("process") and isinstance(entry.get("port"), int)},
                       key=lambda t: (t[1], t[0]))
    route = hl.get("default_route") or {}
    return Discovered(
        gathered_at=gathered_at,
        os=OsInfo(name=facts.get("distribution"), version=facts.get("distribution_version"),
                  kernel=facts.get("kernel")),
        cpu=CpuInfo(model=models[0] if models else None, cores=cores if isinstance(cores, int) else None,
                    threads=threads),
        memory_mib=facts.get("memtotal_mb"),
        virtualization=Virtualization(role=facts.get("virtualization_role"), type=facts.get("virtualization_type")),
        disks=disks, filesystems=filesystems,
        nics=[Nic(**n) for n in hl.get("nics") or [] if isinstance(n, dict)],
        addresses=addresses,
        default_gateway=route.get("gateway") if isinstance(route, dict) else None,
        gpus=[Gpu(**g) for g in hl.get("gpus") or [] if isinstance(g, dict)],
        nvidia_smi=hl.get("nvidia_smi"),
        services=Services(units=units, listening=[Listener(address=a, port=p, process=n) for a, p, n in listening],
                          containers=[Container(**c) for c in svc.get("containers") or [] if isinstance(c, dict)],
                          k3s=K3s(**(svc.get("k3s") or {}))),
        health=Health.model_validate(hl["health"]) if isinstance(hl.get("health"), dict) else None,
        probe_errors=[f"{e.get('probe')}: {e.get('message')}" for e in hl.get("probe_errors") or []
                      if isinstance(e, dict)],
    )


#: The parts of a discovered block a read playbook can say it refreshes (``refreshes:`` in its catalog
#: sidecar; gather_facts refreshes them all): the fields each covers, and the fact that must come back
#: (a setup fact, or an entry of host_facts' ``homelab_discovered``) for the section to be replaced.
SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "os": (("os",), ("kernel",)),
    "cpu": (("cpu",), ("processor",)),
    "memory": (("memory_mib",), ("memtotal_mb",)),
    "virtualization": (("virtualization",), ("virtualization_type",)),
    "disks": (("disks",), ("devices",)),
    "filesystems": (("filesystems",), ("mounts",)),
    "nics": (("nics",), ("homelab_discovered", "nics")),
    "addresses": (("addresses", "default_gateway"), ("homelab_discovered", "addresses")),
    "gpus": (("gpus", "nvidia_smi"), ("homelab_discovered", "nvidia_smi")),
    "services": (("services",), ("homelab_discovered", "services")),
    "health": (("health",), ("homelab_discovered", "health")),
}


def primary_address(block: Discovered) -> str | None:
    """The host's primary LAN address: its first IPv4 address that is neither loopback nor link-local
    (discovery lists the addresses in the order of the NICs, the primary NIC first)."""
    for a in block.addresses:
        if a.family == "inet" and not a.address.startswith(("127.", "169.254.")):
            return a.address
    return None


def with_history(previous: Discovered, block: Discovered, day: str) -> Discovered:
    """``block`` with ``previous``'s address history, updated for the primary address ``block`` shows on
    ``day`` (an ISO date): the newest entry's last_seen moves on while the address stays, a new address is
    a new entry, and only the newest :data:`MAX_HISTORY` are kept. A block without an address (the host did
    not answer, or the section was not refreshed) keeps the history as it was."""
    history = list(previous.address_history)
    address = primary_address(block)
    if address is not None:
        if history and history[-1].address == address:
            history[-1] = history[-1].model_copy(update={"last_seen": max(history[-1].last_seen, day)})
        else:
            history.append(AddressSeen(address=address, first_seen=day, last_seen=day))
    return block.model_copy(update={"address_history": history[-MAX_HISTORY:]})


def _came_back(facts: dict[str, Any], source: tuple[str, ...]) -> bool:
    value: Any = facts
    for key in source:
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return True


def refreshed(previous: Discovered, facts: dict[str, Any], sections: tuple[str, ...],
              gathered_at: str) -> tuple[Discovered, list[str]]:
    """``previous`` with the ``sections`` whose facts came back replaced by what ``facts`` says now.

    The host answered, so it is reachable again and no longer stale. ``gathered_at`` stays the time of
    the last full gathering (a block never gathered in full gets this one's), since the other sections
    are as old as that. Returns the new block and the sections replaced.
    """
    found = from_facts(facts, gathered_at)
    update: dict[str, Any] = {"reachable": True, "stale_since": None, "last_error": None,
                              "gathered_at": previous.gathered_at or gathered_at}
    replaced = []
    for name in sections:
        fields, source = SECTIONS[name]
        if _came_back(facts, source):
            update.update({f: getattr(found, f) for f in fields})
            replaced.append(name)
    return previous.model_copy(update=update), replaced
