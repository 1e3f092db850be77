"""Hardware profiles: the GPUs and NICs a sandbox lab host pretends to have.

A lab host is a container on a machine that usually lacks the homelab's
hardware. Discovery code must still run unchanged on it, so the lab places a
*replay* where the real tool would be (``/usr/bin/nvidia-smi``, ``/usr/sbin/ethtool``)
and bind-mounts a rendered tree over ``/sys/class/net``. nvidia-smi replays real
captured output (an idle H100, ``replay/h100-80gb-idle.*``) adapted to the profile:
model name, memory, UUID and PCI address change; every other value stays as captured.
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
_NVSMI_DATA = f"{REPLAY_DATA_DIR}/nvidia-smi"
_ETHTOOL_DATA = f"{REPLAY_DATA_DIR}/ethtool"
# The captured card sits at PCI device 06; further cards take the next device numbers.
_FIRST_PCI_DEVICE = 0x06
# nvidia-smi's table shows at most 27 characters of a name and cuts longer ones to 24 + "..."
# (seen in real output: "NVIDIA RTX 6000 Ada Gene...").
_TABLE_NAME_MAX = 27


@dataclass(frozen=True)
class GpuProfile:
    """One NVIDIA GPU: the product name nvidia-smi prints and its total memory in MiB."""

    model: str
    memory_mib: int


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
    """The hardware a lab host shows; empty tuples mean none (no nvidia-smi, no ethtool)."""

    hostname: str
    gpus: tuple[GpuProfile, ...]
    nics: tuple[NicProfile, ...]


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
    if profile.gpus:
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


def _capture(suffix: str) -> str:
    return (_REPLAY_SRC / f"{_CAPTURE}{suffix}").read_text(encoding="utf-8")


def _sub_tag(text: str, tag: str, value: str) -> str:
    # First <tag>…</tag> only; a lambda keeps backslashes in names literal.
    return re.sub(rf"<{tag}>[^<]*</{tag}>", lambda _: f"<{tag}>{value}</{tag}>", text, count=1)


def _nvidia_smi_data(profile: HardwareProfile) -> dict[str, str]:
    """The adapted captures the nvidia-smi replay prints, keyed by file name."""
    header, row = _capture("-query-gpu.csv").rstrip("\n").split("\n")
    labels = header.split(", ")
    keys = [label.split(" [")[0] for label in labels]
    captured = dict(zip(keys, row.split(", "), strict=True))
    xml = _capture("-q.xml")
    reserved = int(re.search(r"<reserved>(\d+) MiB</reserved>", xml)[1])  # type: ignore[index]
    used = int(captured["memory.used"].split()[0])
    # Free memory follows the capture's arithmetic: total - reserved - used.
    cards: list[dict[str, Any]] = [{
        "index": i, "model": gpu.model, "uuid": gpu_uuid(profile.hostname, i),
        "bus": f"00000000:00:{_FIRST_PCI_DEVICE + i:02X}.0", "device": f"{_FIRST_PCI_DEVICE + i:02X}",
        "total": gpu.memory_mib, "free": max(gpu.memory_mib - reserved - used, 0),
    } for i, gpu in enumerate(profile.gpus)]
    rows = []
    for card in cards:
        values = dict(captured, index=str(card["index"]), name=card["model"], uuid=card["uuid"])
        values.update({"pci.bus_id": card["bus"], "memory.total": f"{card['total']} MiB",
                       "memory.free": f"{card['free']} MiB"})
        rows.append(", ".join(values[k] for k in keys))
    listing = _capture("-L.txt").rstrip("\n")
    return {
        "nvidia-smi.txt": _adapt_table(_capture(".txt"), cards, captured["pci.bus_id"]),
        "nvidia-smi-L.txt": "".join(
            listing.replace("GPU 0:", f"GPU {c['index']}:", 1).replace(captured["name"], c["model"])
            .replace(captured["uuid"], c["uuid"]) + "\n" for c in cards),
        "nvidia-smi-q.xml": _adapt_xml(xml, cards, captured["pci.bus_id"]),
        "query-gpu.csv": header + "\n" + "".join(r + "\n" for r in rows),
        # The idle capture's header plus gpu_uuid, labelled as the busy capture shows it; idle means no rows.
        "compute-apps.csv": _capture("-apps.csv").rstrip("\n") + ", gpu_uuid\n",
    }


def _adapt_table(template: str, cards: list[dict[str, Any]], captured_bus: str) -> str:
    """Repeat the captured GPU block per card, keeping every column's width."""
    lines = template.split("\n")
    top = next(i for i, line in enumerate(lines) if line.startswith("|===")) + 1
    (first, second, third), separator = lines[top:top + 3], lines[top + 3]
    out = lines[:top]
    for card in cards:
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
    return "\n".join(out + lines[top + 4:])


def _adapt_xml(template: str, cards: list[dict[str, Any]], captured_bus: str) -> str:
    """One captured <gpu> element per card, with its name, UUID, PCI address and memory."""
    start = template.index("\t<gpu id=")
    end = template.index("\t</gpu>\n") + len("\t</gpu>\n\n")  # real output leaves a blank line after each GPU
    head, block, tail = template[:start], template[start:end], template[end:]
    head = _sub_tag(head, "attached_gpus", str(len(cards)))
    blocks = []
    for card in cards:
        gpu = block.replace(captured_bus, card["bus"])
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
