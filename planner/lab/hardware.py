"""Hardware profiles: the GPUs and NICs a sandbox lab host pretends to have.

A lab host is a container on a machine that usually lacks the homelab's
hardware. Discovery code must still run unchanged on it, so the lab places a
*replay* where the real tool would be (``/usr/bin/nvidia-smi``, ``/usr/sbin/ethtool``)
and bind-mounts a rendered tree over ``/sys/class/net``. nvidia-smi replays real
captured output (an idle H100, ``replay/h100-80gb-idle.*``; a busy one, ``replay/h100-80gb-busy.*``,
for a GPU planted busy) adapted to the profile: model name, memory, UUID and PCI address
change; every other value stays as captured. A host whose driver is planted as not
answering gets an nvidia-smi that fails as a real one does when it cannot reach the driver.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from planner.errors import InventoryError

#: Where the replays read their data on a lab host. The scripts honour
#: ``$HOMELAB_LAB_REPLAY_DIR`` (see REPLAY_DIR_ENV) so tests can point them at a temporary root.
REPLAY_DATA_DIR = "/usr/share/homelab-lab"
REPLAY_DIR_ENV = "HOMELAB_LAB_REPLAY_DIR"
#: Standard BASE-T speeds a NIC may support, in Mbps.
ETHERNET_SPEEDS_MBPS = (10, 100, 1000, 2500, 5000, 10000)

#: The counters under /sys/class/net/IFACE/statistics that the lab renders (a real kernel has a few more).
STATISTICS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors", "rx_dropped",
              "tx_dropped", "multicast", "collisions", "rx_crc_errors", "rx_frame_errors", "tx_carrier_errors")

_REPLAY_SRC = Path(__file__).parent / "replay"
_CAPTURE = "h100-80gb-idle.nvidia-smi"
_BUSY = "h100-80gb-busy.nvidia-smi"
#: What nvidia-smi prints (on stdout, exit status 9) when the kernel driver is not loaded or not
#: answering, as it words it; the replay prints it for a host planted with a driver that does not answer.
DRIVER_FAILURE = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that "
                  "the latest NVIDIA driver is installed and running.\n\n")
_NVSMI_DATA = f"{REPLAY_DATA_DIR}/nvidia-smi"
_ETHTOOL_DATA = f"{REPLAY_DATA_DIR}/ethtool"
# The captured card sits at PCI device 06; further cards take the next device numbers.
_FIRST_PCI_DEVICE = 0x06
# nvidia-smi's table shows at most 27 characters of a name and cuts longer ones to 24 + "..."
# (seen in real output: "NVIDIA RTX 6000 Ada Gene...").
_TABLE_NAME_MAX = 27


@dataclass(frozen=True)
class GpuProfile:
    """One NVIDIA GPU: the product name nvidia-smi prints and its total memory in MiB.

    ``busy`` replays the busy capture: a python3 process holding about 20 GiB at 100 % utilisation.
    """

    model: str
    memory_mib: int
    busy: bool = False


@dataclass(frozen=True)
class NicProfile:
    """One wired NIC. ``speed_mbps`` None means unknown (sysfs -1, ethtool ``Unknown!``)."""

    name: str
    model: str
    driver: str
    mac: str
    supported_mbps: tuple[int, ...]
    speed_mbps: int | None
    duplex: str  # sysfs spelling: "full", "half" or "unknown"
    link: bool


@dataclass(frozen=True)
class HardwareProfile:
    """The hardware a lab host shows; empty tuples mean none (no nvidia-smi, no ethtool).

    ``driver_answers`` False: nvidia-smi is installed but cannot reach the driver (with or without GPUs).
    """

    hostname: str
    gpus: tuple[GpuProfile, ...]
    nics: tuple[NicProfile, ...]
    driver_answers: bool = True


def nic_mac(hostname: str, nic: str) -> str:
    """A stable, locally administered unicast MAC (02:…) for ``nic`` on ``hostname``."""
    digest = hashlib.sha256(f"{hostname}/{nic}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def gpu_uuid(hostname: str, index: int) -> str:
    """A stable nvidia-smi style UUID (``GPU-…``) for GPU ``index`` on ``hostname``."""
    return "GPU-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"homelab-lab://{hostname}/gpu/{index}"))


def profile_from_hostvars(hostname: str, hostvars: dict) -> HardwareProfile:
    """Build a host's profile from its inventory key ``hardware`` (absent means no GPU, no NIC).

    ``memory_gib`` becomes ``memory_gib * 1024`` MiB: consumer cards report exactly that
    (an 8 GiB RTX 3070 shows 8192 MiB); datacentre cards report a little less (an H100 80GB
    shows 81559 MiB), which a profile can only get by building GpuProfile directly.
    A NIC is taken as linked (the host is reachable through it); ``speed_mbps`` left out
    means the link speed is unknown, as virtio NICs report it.
    """
    hardware = hostvars.get("hardware") or {}
    if not isinstance(hardware, dict):
        raise _bad(hostname, "hardware", "must be a mapping")
    gpus = tuple(_gpu(hostname, i, g) for i, g in enumerate(_entries(hostname, hardware, "gpus")))
    nics = tuple(_nic(hostname, i, n) for i, n in enumerate(_entries(hostname, hardware, "nics")))
    names = [n.name for n in nics]
    if len(set(names)) != len(names):
        raise _bad(hostname, "hardware.nics", f"names repeat: {', '.join(names)}")
    return HardwareProfile(hostname=hostname, gpus=gpus, nics=nics)


def _bad(hostname: str, key: str, problem: str) -> InventoryError:
    return InventoryError(f"host {hostname}: {key} {problem}", "see the documented shape of `hardware` in host_vars")


def _entries(hostname: str, hardware: dict, key: str) -> list[dict]:
    entries = hardware.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _bad(hostname, f"hardware.{key}", "must be a list of mappings")
    return entries


def _field(hostname: str, where: str, entry: dict, key: str, kind: str, required: bool = True) -> Any:
    """``kind`` is "text" or "number"; numbers must be positive (Mbps, GiB)."""
    value = entry.get(key)
    if value is None and not required:
        return None
    if kind == "text":
        ok = isinstance(value, str) and value.strip() != ""
    else:  # bool is an int subclass, but `speed_mbps: yes` is a mistake, not 1 Mbps
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if not ok:
        wanted = "a non-empty text" if kind == "text" else "a positive number"
        raise _bad(hostname, f"{where}.{key}", f"must be {wanted}, got {value!r}")
    return value


def _gpu(hostname: str, index: int, entry: dict) -> GpuProfile:
    where = f"hardware.gpus[{index}]"
    gib = _field(hostname, where, entry, "memory_gib", "number")
    return GpuProfile(model=_field(hostname, where, entry, "model", "text"), memory_mib=round(gib * 1024))


def _nic(hostname: str, index: int, entry: dict) -> NicProfile:
    where = f"hardware.nics[{index}]"
    name = _field(hostname, where, entry, "name", "text")
    top = _field(hostname, where, entry, "supported_mbps", "number")
    speed = _field(hostname, where, entry, "speed_mbps", "number", required=False)
    supported = tuple(s for s in ETHERNET_SPEEDS_MBPS if s <= top)
    if not supported or (speed is not None and speed > top):
        raise _bad(hostname, where, f"speeds do not fit: supported_mbps {top}, speed_mbps {speed}")
    return NicProfile(
        name=name,
        model=entry.get("model") or "",
        driver=_field(hostname, where, entry, "driver", "text"),
        mac=nic_mac(hostname, name),
        supported_mbps=supported,
        speed_mbps=int(speed) if speed is not None else None,
        duplex="full" if speed is not None else "unknown",
        link=True,
    )


def render_files(profile: HardwareProfile) -> dict[str, tuple[bytes, int]]:
    """Files to place in the host's root: absolute path inside the host -> (content, mode).

    GPUs give ``/usr/bin/nvidia-smi`` and its data; NICs give ``/usr/sbin/ethtool`` and its
    data. A host without GPUs gets no nvidia-smi at all, as a real machine without an
    NVIDIA card and driver has none.
    """
    files: dict[str, tuple[bytes, int]] = {}
    if not profile.driver_answers:
        files["/usr/bin/nvidia-smi"] = ((_REPLAY_SRC / "nvidia-smi").read_bytes(), 0o755)
        files[f"{_NVSMI_DATA}/driver-failure.txt"] = (DRIVER_FAILURE.encode(), 0o644)
    elif profile.gpus:
        files["/usr/bin/nvidia-smi"] = ((_REPLAY_SRC / "nvidia-smi").read_bytes(), 0o755)
        for name, text in _nvidia_smi_data(profile).items():
            files[f"{_NVSMI_DATA}/{name}"] = (text.encode(), 0o644)
    if profile.nics:
        files["/usr/sbin/ethtool"] = ((_REPLAY_SRC / "ethtool").read_bytes(), 0o755)
        nics = [dict(asdict(nic), bus_info=_nic_bus_info(i, nic.name)) for i, nic in enumerate(profile.nics)]
        files[f"{_ETHTOOL_DATA}/nics.json"] = (json.dumps({"nics": nics}, indent=2).encode() + b"\n", 0o644)
    return files


def _nic_bus_info(index: int, name: str) -> str:
    # Predictable names encode the PCI address (enp5s0 -> 05:00.0, ens18 -> slot 18 = 00:12.0),
    # so `ethtool -i` agrees with the name; other names get a made-up bus per NIC.
    m = re.fullmatch(r"en(?:p(\d+))?s(\d+)(?:f(\d+))?", name)
    if m:
        return f"0000:{int(m[1] or 0):02x}:{int(m[2]):02x}.{int(m[3] or 0)}"
    return f"0000:{index + 0x10:02x}:00.0"


def _capture(suffix: str, capture: str = _CAPTURE) -> str:
    return (_REPLAY_SRC / f"{capture}{suffix}").read_text(encoding="utf-8")


def _query_row(capture: str) -> tuple[str, list[str], dict[str, str]]:
    """A capture's --query-gpu header, its field keys and its one row's values by key."""
    header, row = _capture("-query-gpu.csv", capture).rstrip("\n").split("\n")
    keys = [label.split(" [")[0] for label in header.split(", ")]
    return header, keys, dict(zip(keys, row.split(", "), strict=True))


def busy_used_mib() -> int:
    """GPU memory in use on the busy capture's card, in MiB (a busy lab GPU shows the same)."""
    return int(_query_row(_BUSY)[2]["memory.used"].split()[0])


def _sub_tag(text: str, tag: str, value: str) -> str:
    # First <tag>…</tag> only; a lambda keeps backslashes in names literal.
    return re.sub(rf"<{tag}>[^<]*</{tag}>", lambda _: f"<{tag}>{value}</{tag}>", text, count=1)


def _nvidia_smi_data(profile: HardwareProfile) -> dict[str, str]:
    """The adapted captures the nvidia-smi replay prints, keyed by file name."""
    header, keys, idle = _query_row(_CAPTURE)
    busy = _query_row(_BUSY)[2]
    xml = _capture("-q.xml")
    reserved = int(re.search(r"<reserved>(\d+) MiB</reserved>", xml)[1])  # type: ignore[index]
    cards: list[dict[str, Any]] = []
    for i, gpu in enumerate(profile.gpus):
        captured = busy if gpu.busy else idle
        used = int(captured["memory.used"].split()[0])
        if used + reserved > gpu.memory_mib:
            raise InventoryError(f"host {profile.hostname}: GPU {i} ({gpu.model}, {gpu.memory_mib} MiB) cannot be "
                                 f"planted busy: the busy capture uses {used} MiB",
                                 "plant a busy GPU only on a card with more memory")
        # Free memory follows the capture's arithmetic: total - reserved - used.
        cards.append({"index": i, "model": gpu.model, "uuid": gpu_uuid(profile.hostname, i), "busy": gpu.busy,
                      "bus": f"00000000:00:{_FIRST_PCI_DEVICE + i:02X}.0", "device": f"{_FIRST_PCI_DEVICE + i:02X}",
                      "total": gpu.memory_mib, "free": gpu.memory_mib - reserved - used, "captured": captured})
    rows = []
    for card in cards:
        values = dict(card["captured"], index=str(card["index"]), name=card["model"], uuid=card["uuid"])
        values.update({"pci.bus_id": card["bus"], "memory.total": f"{card['total']} MiB",
                       "memory.free": f"{card['free']} MiB"})
        rows.append(", ".join(values[k] for k in keys))
    # The busy capture's process, once per busy card, with that card's UUID.
    apps_header, *apps_rows = _capture("-apps.csv", _BUSY).rstrip("\n").split("\n")
    busy_uuid = busy["uuid"]
    apps = "".join(row.replace(busy_uuid, card["uuid"]) + "\n" for card in cards if card["busy"] for row in apps_rows)
    listing = _capture("-L.txt").rstrip("\n")
    return {
        "nvidia-smi.txt": _adapt_table(cards, idle["pci.bus_id"]),
        "nvidia-smi-L.txt": "".join(
            listing.replace("GPU 0:", f"GPU {c['index']}:", 1).replace(idle["name"], c["model"])
            .replace(idle["uuid"], c["uuid"]) + "\n" for c in cards),
        "nvidia-smi-q.xml": _adapt_xml(cards, idle["pci.bus_id"]),
        "query-gpu.csv": header + "\n" + "".join(r + "\n" for r in rows),
        "compute-apps.csv": apps_header + "\n" + apps,
    }


def _table_parts(capture: str) -> tuple[list[str], int, list[str], int]:
    """A captured table's lines, where its GPU rows start, its process rows, and where those start."""
    lines = _capture(".txt", capture).split("\n")
    top = next(i for i, line in enumerate(lines) if line.startswith("|===")) + 1
    procs_top = next(i for i, line in enumerate(lines) if i > top and line.startswith("|===")) + 1
    procs_end = next(i for i, line in enumerate(lines) if i > procs_top and line.startswith("+---"))
    return lines, top, lines[procs_top:procs_end], procs_top


def _adapt_table(cards: list[dict[str, Any]], captured_bus: str) -> str:
    """Repeat the captured GPU block per card (the busy capture's for a busy card), keeping every column's
    width; the busy capture's process rows, once per busy card, replace "No running processes found"."""
    lines, top, _, procs_top = _table_parts(_CAPTURE)
    busy_lines, busy_top, busy_procs, _ = _table_parts(_BUSY)
    out = lines[:top]
    procs = []
    for card in cards:
        source, at = (busy_lines, busy_top) if card["busy"] else (lines, top)
        (first, second, third), separator = source[at:at + 3], source[at + 3]
        cells = first.split("|")
        name_width = len(cells[1]) - 10  # "%4d  " before the name, "On  " after it
        name = card["model"]
        if len(name) > _TABLE_NAME_MAX:
            name = name[:_TABLE_NAME_MAX - 3] + "..."
        cells[1] = f"{card['index']:>4}  {name:<{name_width}}{cells[1][-4:]}"
        cells[2] = cells[2].replace(captured_bus, card["bus"])
        usage = second.split("|")
        m = re.fullmatch(r"(\s*\d+)MiB /(\s*\d+)MiB(\s*)", usage[2])
        if m:  # right-align the numbers in the captured widths
            usage[2] = f"{m[1].strip():>{len(m[1])}}MiB /{card['total']:>{len(m[2])}}MiB{m[3]}"
        out += ["|".join(cells), "|".join(usage), third, separator]
        if card["busy"]:  # the process rows start with the GPU's index, right-aligned in 5 columns
            procs += [re.sub(r"^\|\s*\d+ ", f"|{card['index']:>5} ", row) for row in busy_procs]
    rest = lines[top + 4:]
    if procs:  # the idle capture's process rows are its one "No running processes found" line
        at = procs_top - (top + 4)
        rest = rest[:at] + procs + rest[at + 1:]
    return "\n".join(out + rest)


def _gpu_block(template: str) -> tuple[str, str, str]:
    start = template.index("\t<gpu id=")
    end = template.index("\t</gpu>\n") + len("\t</gpu>\n\n")  # real output leaves a blank line after each GPU
    return template[:start], template[start:end], template[end:]


def _adapt_xml(cards: list[dict[str, Any]], captured_bus: str) -> str:
    """One captured <gpu> element per card (the busy capture's, with its process, for a busy card), with its
    name, UUID, PCI address and memory."""
    head, idle_block, tail = _gpu_block(_capture("-q.xml"))
    busy_block = _gpu_block(_capture("-q.xml", _BUSY))[1]
    head = _sub_tag(head, "attached_gpus", str(len(cards)))
    blocks = []
    for card in cards:
        gpu = (busy_block if card["busy"] else idle_block).replace(captured_bus, card["bus"])
        gpu = _sub_tag(gpu, "product_name", escape(card["model"]))
        gpu = _sub_tag(gpu, "uuid", card["uuid"])
        gpu = _sub_tag(gpu, "minor_number", str(card["index"]))
        gpu = _sub_tag(gpu, "pci_device", card["device"])
        fb_start, fb_end = gpu.index("<fb_memory_usage>"), gpu.index("</fb_memory_usage>")
        fb = _sub_tag(gpu[fb_start:fb_end], "total", f"{card['total']} MiB")
        fb = _sub_tag(fb, "free", f"{card['free']} MiB")
        blocks.append(gpu[:fb_start] + fb + gpu[fb_end:])
    return head + "".join(blocks) + tail


def render_sys_class_net(profile: HardwareProfile, dest: Path) -> None:
    """Write a sysfs-like ``/sys/class/net`` for the profile's NICs plus ``lo`` under ``dest``.

    Files hold what sysfs prints (the error and drop counters under ``statistics/`` too); speed is
    -1 and duplex "unknown" when the speed is unknown or there is no link. ``<nic>/device`` links
    to a directory named like the real device (``0000:04:00.0``, ``virtio0``) whose ``driver``
    link's basename is the driver (the target need not exist). Rendering again over ``dest``
    works; interfaces no longer in the profile stay.
    """
    for index, nic in enumerate(profile.nics):
        up = nic.link
        iface = dest / nic.name
        _write_iface(iface, {
            "address": nic.mac,
            "mtu": "1500",
            "operstate": "up" if up else "down",
            "carrier": "1" if up else "0",
            "speed": str(nic.speed_mbps) if up and nic.speed_mbps else "-1",
            "duplex": nic.duplex if up else "unknown",
            "type": "1",  # ARPHRD_ETHER
            "flags": "0x1003",  # IFF_UP | IFF_BROADCAST | IFF_MULTICAST
        })
        # Traffic does not cross a simulated NIC: its counters stay at zero (a re-render resets them).
        _write_iface(iface / "statistics", {name: "0" for name in STATISTICS})
        # Ansible's facts readlink() `device` for the pciid, so it must be a link, to a directory
        # kept inside the interface's own (hidden) .device so the bind mount carries it.
        virtio = nic.driver == "virtio_net"
        name = f"virtio{index}" if virtio else _nic_bus_info(index, nic.name)
        (iface / ".device" / name).mkdir(parents=True, exist_ok=True)
        _relink(iface / "device", f".device/{name}")
        bus = "virtio" if virtio else "pci"
        _relink(iface / ".device" / name / "driver", f"/sys/bus/{bus}/drivers/{nic.driver}")
    _write_iface(dest / "lo" / "statistics", {name: "0" for name in STATISTICS})
    # lo has no speed or duplex file: reading them on a real host fails too.
    _write_iface(dest / "lo", {
        "address": "00:00:00:00:00:00", "mtu": "65536", "operstate": "unknown",
        "carrier": "1", "type": "772", "flags": "0x9",  # ARPHRD_LOOPBACK; IFF_UP | IFF_LOOPBACK
    })


def _write_iface(path: Path, values: dict[str, str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        (path / name).write_text(value + "\n", encoding="ascii")


def _relink(link: Path, target: str) -> None:
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)  # an older render's plain directory
    elif link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)
