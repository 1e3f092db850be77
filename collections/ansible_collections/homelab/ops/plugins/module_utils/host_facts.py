# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Parsers behind homelab.ops.host_facts: text in, plain dicts and lists out.

This file is shipped to the managed host with the module and runs there under
the host's own Python (Debian 12: 3.11), so it stays within Python 3.9 syntax
and the standard library, and never imports Ansible: the tests call it directly.

Every parser tolerates output it does not understand: a line it cannot read is
skipped (and, where that loses data, reported through an ``errors`` list), so
one odd value never costs the whole report. Unknown values are None, never 0:
a planner must not mistake "could not tell" for "zero".
"""

from __future__ import annotations

import datetime
import json
import os
import re
import xml.etree.ElementTree as ET
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

SCHEMA = 1
# A host writes its own facts, so it must not be able to flood the fact cache.
MAX_STRING = 256
MAX_ITEMS = 256

GPU_QUERY_FIELDS = (
    "index", "name", "uuid", "pci.bus_id", "driver_version", "memory.total", "memory.used", "memory.free",
    "utilization.gpu", "temperature.gpu", "power.draw", "power.limit",
)
APPS_QUERY_FIELDS = ("pid", "process_name", "used_memory", "gpu_uuid")
# Header labels that differ from the names given to --query-*.
_FIELD_ALIASES = {"used_gpu_memory": "used_memory", "gpu_name": "name", "gpu_bus_id": "pci.bus_id"}
# nvidia-smi field -> (our key, converter); converters take the text with its unit, if any.
_GPU_COLUMNS = {
    "index": ("index", "int"),
    "name": ("model", "str"),
    "uuid": ("uuid", "str"),
    "pci.bus_id": ("pci_bus_id", "str"),
    "driver_version": ("driver", "str"),
    "memory.total": ("memory_total_mib", "int"),
    "memory.used": ("memory_used_mib", "int"),
    "memory.free": ("memory_free_mib", "int"),
    "utilization.gpu": ("utilization_pct", "int"),
    "temperature.gpu": ("temperature_c", "int"),
    "power.draw": ("power_draw_w", "float"),
    "power.limit": ("power_limit_w", "float"),
}
GPU_KEYS = ("index", "model", "uuid", "pci_bus_id", "driver", "cuda_version", "memory_total_mib", "memory_used_mib",
            "memory_free_mib", "utilization_pct", "temperature_c", "power_draw_w", "power_limit_w", "mig_mode",
            "processes")
NIC_KEYS = ("name", "mac", "driver", "state", "carrier", "speed_mbps", "duplex", "max_speed_mbps",
            "supported_link_modes", "bus_info", "virtual")
# The kernel's SPEED_UNKNOWN is -1; some drivers show it unsigned.
_SPEED_UNKNOWN_U32 = 0xFFFFFFFF
# `ip` prints an address lifetime of "forever" as this.
_LIFETIME_FOREVER = 0xFFFFFFFF
_PCI_ADDRESS = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?")
_TRUE_WORDS = ("1", "yes", "true", "on")


# --- small helpers -------------------------------------------------------------------------------------------------

def _clean(value: Optional[str]) -> Optional[str]:
    """Stripped text, or None where a tool says it does not know ("N/A", "[Not Supported]", empty)."""
    if value is None:
        return None
    value = value.strip()
    if not value or value.upper() == "N/A" or (value.startswith("[") and value.endswith("]")):
        return None
    return value


def _number(value: Optional[str], kind: str = "int") -> Any:
    """The number a value starts with ("81559 MiB" -> 81559, "114.80 W" -> 114.8), or None."""
    value = _clean(value)
    if value is None:
        return None
    m = _NUMBER.match(value)
    if not m:
        return None
    number = float(m.group(0))
    return int(number) if kind == "int" else number


def _convert(value: Optional[str], kind: str) -> Any:
    if kind == "str":
        return _clean(value)
    return _number(value, kind)


def _iso_utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_from_epoch(seconds: float) -> Optional[str]:
    try:
        return _iso_utc(datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc))
    except (OverflowError, OSError, ValueError):
        return None


def _note(errors: Optional[List[str]], message: str) -> None:
    if errors is not None:
        errors.append(message)


def probe_error(probe: str, message: str) -> Dict[str, str]:
    """One probe_errors entry; only the first line of a message, since tools can be chatty."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return {"probe": probe, "message": lines[0] if lines else "failed without a message"}


def cap_facts(value: Any) -> Any:
    """``value`` with every string cut to MAX_STRING characters and every list to MAX_ITEMS items."""
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, (list, tuple)):
        return [cap_facts(v) for v in list(value)[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {cap_facts(k) if isinstance(k, str) else k: cap_facts(v) for k, v in value.items()}
    return value


# --- nvidia-smi ----------------------------------------------------------------------------------------------------

def nvidia_smi_status(rc: Optional[int], stdout: str, stderr: str) -> str:
    """"ok", or "error: <first line>" for a run that failed.

    A broken driver makes nvidia-smi print its complaint on stdout and exit non-zero, so the
    first non-empty line of stdout, else of stderr, is the message. ``rc`` None means the run
    never finished (stopped at its timeout, or could not start); stderr then says why.
    """
    if rc == 0:
        return "ok"
    texts = (stderr, stdout) if rc is None else (stdout, stderr)
    for text in texts:
        for line in (text or "").splitlines():
            if line.strip():
                return "error: " + line.strip()
    return "error: exit status %s" % rc


def _csv_rows(text: str, fields: Iterable[str], free: str) -> Tuple[List[str], List[List[str]]]:
    """Keys and rows of nvidia-smi CSV; a header line, when present, gives the keys.

    nvidia-smi separates values with ", " and quotes nothing, so a value holding ", " (a
    model name, a process name) splits in two. Every other field is comma-free, so the one
    free-text field ``free`` takes whatever surplus a row has.
    """
    lines = [line for line in (text or "").splitlines() if line.strip()]
    keys = list(fields)
    if lines:
        labels = [label.split("[")[0].strip() for label in lines[0].split(",")]
        if all(re.match(r"^[a-z][a-z0-9_.]*$", label) for label in labels):
            keys = [_FIELD_ALIASES.get(label, label) for label in labels]
            lines = lines[1:]
    rows = []
    for line in lines:
        tokens = [t.strip() for t in line.split(", ")]
        surplus = len(tokens) - len(keys)
        if surplus > 0 and free in keys:
            at = keys.index(free)
            tokens = tokens[:at] + [", ".join(tokens[at:at + surplus + 1])] + tokens[at + surplus + 1:]
        rows.append(tokens)
    return keys, rows


def parse_nvidia_query_gpu(text: str, fields: Iterable[str] = GPU_QUERY_FIELDS,
                           errors: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """GPUs from ``nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]``.

    ``fields`` names the columns of a noheader capture; a header overrides it. Values may
    carry units ("81559 MiB") or not. A row whose shape is wrong (field count, no "GPU-"
    UUID where one belongs) is left out and reported through ``errors``.
    """
    keys, rows = _csv_rows(text, fields, "name")
    gpus = []
    for tokens in rows:
        line = ", ".join(tokens)
        if len(tokens) != len(keys):
            _note(errors, "unexpected --query-gpu row: %s" % line)
            continue
        values = dict(zip(keys, tokens))
        if "uuid" in values and not values["uuid"].startswith("GPU-"):
            _note(errors, "no GPU UUID where expected: %s" % line)
            continue
        gpu = {key: None for key in GPU_KEYS}
        gpu["processes"] = []
        for field, value in values.items():
            if field in _GPU_COLUMNS:
                key, kind = _GPU_COLUMNS[field]
                gpu[key] = _convert(value, kind)
        gpus.append(gpu)
    return gpus


def parse_nvidia_compute_apps(text: str, fields: Iterable[str] = APPS_QUERY_FIELDS,
                              errors: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """Processes from ``nvidia-smi --query-compute-apps=pid,process_name,used_memory,gpu_uuid``.

    Each is ``{"pid", "name", "used_memory_mib", "gpu_uuid"}``; gpu_uuid is None when the
    query did not ask for it.
    """
    keys, rows = _csv_rows(text, fields, "process_name")
    apps = []
    for tokens in rows:
        line = ", ".join(tokens)
        if line.lower().startswith("no running"):  # older drivers say so instead of printing nothing
            continue
        values = dict(zip(keys, tokens))
        pid = _number(values.get("pid"))
        if len(tokens) != len(keys) or pid is None:
            _note(errors, "unexpected --query-compute-apps row: %s" % line)
            continue
        apps.append({
            "pid": pid,
            "name": _clean(values.get("process_name")),
            "used_memory_mib": _number(values.get("used_memory")),
            "gpu_uuid": _clean(values.get("gpu_uuid")),
        })
    return apps


def parse_nvidia_smi_xml(text: str) -> Dict[str, Any]:
    """CUDA and driver version, and per GPU UUID its MIG mode and processes, from ``nvidia-smi -q -x``.

    Returns ``{"cuda_version", "driver_version", "gpus": {uuid: {"mig_mode", "processes", "model",
    "pci_bus_id"}}}``. Raises ValueError for text that is not nvidia-smi XML.
    """
    if "<!ENTITY" in text:
        # nvidia-smi never declares entities; refusing them rules out entity-expansion bombs.
        raise ValueError("XML with entity declarations refused")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ValueError("not XML: %s" % err) from None
    if root.tag != "nvidia_smi_log":
        raise ValueError("not nvidia-smi XML (root <%s>)" % root.tag)
    gpus = {}
    for gpu in root.findall("gpu"):
        uuid = _clean(gpu.findtext("uuid"))
        if uuid is None:
            continue
        mig = _clean(gpu.findtext("mig_mode/current_mig"))
        processes = []
        for proc in gpu.findall("processes/process_info"):
            pid = _number(proc.findtext("pid"))
            if pid is None:
                continue
            processes.append({
                "pid": pid,
                "name": _clean(proc.findtext("process_name")),
                "used_memory_mib": _number(proc.findtext("used_memory")),
            })
        gpus[uuid] = {
            # Cards without MIG say "N/A"; only the two real modes are kept.
            "mig_mode": mig if mig in ("Enabled", "Disabled") else None,
            "processes": processes,
            "model": _clean(gpu.findtext("product_name")),
            "pci_bus_id": gpu.get("id"),
        }
    return {
        "cuda_version": _clean(root.findtext("cuda_version")),
        "driver_version": _clean(root.findtext("driver_version")),
        "gpus": gpus,
    }


def merge_gpus(gpus: List[Dict[str, Any]], xml_info: Optional[Dict[str, Any]],
               apps: Optional[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    """The --query-gpu rows completed with -q -x data and processes.

    ``apps`` None means the compute-apps query did not run or failed: processes then come
    from the XML, which lists them too.
    """
    per_uuid = (xml_info or {}).get("gpus", {})
    merged = []
    for gpu in gpus:
        gpu = dict(gpu)
        extra = per_uuid.get(gpu["uuid"] or "", {})
        gpu["cuda_version"] = (xml_info or {}).get("cuda_version")
        gpu["mig_mode"] = extra.get("mig_mode")
        if apps is not None:
            gpu["processes"] = [{"pid": a["pid"], "name": a["name"], "used_memory_mib": a["used_memory_mib"]}
                                for a in apps if a["gpu_uuid"] == gpu["uuid"]]
        else:
            gpu["processes"] = [dict(p) for p in extra.get("processes", [])]
        merged.append(gpu)
    return merged


# --- NICs: sysfs and ethtool ---------------------------------------------------------------------------------------

def parse_sysfs_nic(name: str, files: Dict[str, Optional[str]]) -> Dict[str, Any]:
    """One NIC from its /sys/class/net/<name>/ entries.

    ``files`` maps an entry to its content (``address``, ``operstate``, ``carrier``, ``speed``,
    ``duplex``, ``ifindex``) or, for the links ``device`` and ``device/driver``, to where the
    link leads; a missing or unreadable entry is absent or None (sysfs refuses to read speed
    and carrier of an interface that is down). A NIC without a ``device`` link is a software
    one (bridge, bond, veth, tun…): ``virtual`` True. A VM's virtio NIC has a device, so it is not.
    """
    def text(key: str) -> Optional[str]:
        value = files.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    speed = _number(text("speed"))
    if speed is not None and (speed <= 0 or speed >= _SPEED_UNKNOWN_U32):
        speed = None
    duplex = (text("duplex") or "").lower()
    carrier = text("carrier")
    device = text("device")
    driver = text("device/driver")
    # A PCI NIC's device directory is named by its address, which is what ethtool calls
    # bus-info; a virtio NIC's ("virtio2") sits inside its PCI device's directory.
    bus_info = None
    if device:
        for candidate in (os.path.basename(device), os.path.basename(os.path.dirname(device))):
            if _PCI_ADDRESS.match(candidate):
                bus_info = candidate
                break
    nic = {key: None for key in NIC_KEYS}
    nic.update({
        "name": name,
        "mac": text("address"),
        "driver": os.path.basename(driver) if driver else None,
        "state": text("operstate"),
        "carrier": {"1": True, "0": False}.get(carrier or ""),
        "speed_mbps": speed,
        "duplex": duplex if duplex in ("full", "half") else None,
        "supported_link_modes": [],
        "bus_info": bus_info,
        "virtual": device is None,
    })
    return nic


def parse_ethtool(text: str) -> Dict[str, Any]:
    """Link settings from ``ethtool <nic>`` (ethtool 6.x layout).

    Returns ``{"speed_mbps", "duplex", "link", "supported_link_modes", "max_speed_mbps"}``.
    "Speed: Unknown!" and "Duplex: Unknown! (255)" become None.
    """
    fields = {}  # type: Dict[str, str]
    modes = []  # type: List[str]
    current = None
    for line in (text or "").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("Settings for "):
            continue
        m = re.match(r"^([A-Za-z][A-Za-z0-9 ./-]*):\s*(.*)$", stripped)
        if m:
            current = m.group(1)
            fields[current] = m.group(2).strip()
            if current == "Supported link modes":
                modes.extend(m.group(2).split())
        elif current == "Supported link modes":
            # Further modes continue on lines of their own, aligned under the first.
            modes.extend(stripped.split())
    modes = [mode for mode in modes if re.match(r"^\d+base", mode)]  # drops "Not reported"
    speeds = [int(re.match(r"^(\d+)", mode).group(1)) for mode in modes]  # type: ignore[union-attr]
    speed = fields.get("Speed", "")
    speed_m = re.match(r"^(\d+)\s*Mb/s", speed)
    duplex = fields.get("Duplex", "").lower()
    link = fields.get("Link detected", "").lower()
    return {
        "speed_mbps": int(speed_m.group(1)) if speed_m and int(speed_m.group(1)) > 0 else None,
        "duplex": duplex if duplex in ("full", "half") else None,
        "link": {"yes": True, "no": False}.get(link),
        "supported_link_modes": modes,
        "max_speed_mbps": max(speeds) if speeds else None,
    }


def parse_ethtool_driver(text: str) -> Dict[str, Optional[str]]:
    """``{"driver", "version", "firmware_version", "bus_info"}`` from ``ethtool -i <nic>``."""
    values = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = _clean(value)
    return {
        "driver": values.get("driver"),
        "version": values.get("version"),
        "firmware_version": values.get("firmware-version"),
        "bus_info": values.get("bus-info"),
    }


def merge_ethtool(nic: Dict[str, Any], settings: Optional[Dict[str, Any]],
                  driver: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A sysfs NIC completed with ethtool's view; sysfs wins where both know a value."""
    nic = dict(nic)
    if settings:
        nic["supported_link_modes"] = list(settings["supported_link_modes"])
        nic["max_speed_mbps"] = settings["max_speed_mbps"]
        if nic["speed_mbps"] is None:
            nic["speed_mbps"] = settings["speed_mbps"]
        if nic["duplex"] is None:
            nic["duplex"] = settings["duplex"]
        if nic["carrier"] is None:
            nic["carrier"] = settings["link"]
    if driver:
        nic["driver"] = nic["driver"] or driver["driver"]
        # ethtool knows the PCI address behind a virtio NIC, whose sysfs device is only "virtioN".
        nic["bus_info"] = driver["bus_info"] or nic["bus_info"]
    return nic


# --- addresses and routes ------------------------------------------------------------------------------------------

def parse_ip_addr(text: str) -> List[Dict[str, Any]]:
    """Addresses from ``ip -j addr show``, loopback left out.

    ``valid_lft`` is the remaining lifetime in seconds, None for "forever"; ``dynamic`` marks
    addresses from DHCP or SLAAC. Raises ValueError for output that is not ip's JSON.
    """
    try:
        links = json.loads(text or "[]")
    except ValueError as err:
        raise ValueError("ip -j addr show printed no JSON: %s" % err) from None
    addresses = []
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict) or link.get("link_type") == "loopback" or link.get("ifname") == "lo":
            continue
        for info in link.get("addr_info") or []:
            if not isinstance(info, dict) or info.get("family") not in ("inet", "inet6") or not info.get("local"):
                continue
            lifetime = info.get("valid_life_time")
            addresses.append({
                "interface": link.get("ifname"),
                "family": info["family"],
                "address": info["local"],
                "prefix": info.get("prefixlen"),
                "dynamic": bool(info.get("dynamic")),
                "valid_lft": lifetime if isinstance(lifetime, int) and lifetime < _LIFETIME_FOREVER else None,
            })
    return addresses


def parse_ip_route_default(text: str) -> Optional[Dict[str, Optional[str]]]:
    """``{"gateway", "interface"}`` of the preferred (lowest metric) default route, or None."""
    try:
        routes = json.loads(text or "[]")
    except ValueError as err:
        raise ValueError("ip -j route show default printed no JSON: %s" % err) from None
    candidates = [r for r in routes if isinstance(r, dict) and r.get("dst") == "default"] \
        if isinstance(routes, list) else []
    if not candidates:
        return None
    best = min(candidates, key=lambda r: r.get("metric") if isinstance(r.get("metric"), int) else 0)
    return {"gateway": best.get("gateway"), "interface": best.get("dev")}


# --- how addresses are configured ----------------------------------------------------------------------------------

def _ini_lines(text: str) -> Iterator[Tuple[str, str, str]]:
    """(section, key, value) of an INI-like file; keys and sections may repeat (systemd, NetworkManager)."""
    section = ""
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if sep:
            yield section, key.strip(), value.strip()


def _config_entry(interface: Optional[str], method: str, manager: Optional[str], source: str) -> Dict[str, Any]:
    return {"interface": interface, "method": method, "manager": manager, "source": source,
            "lease_expires": None, "lease_address": None}


def parse_networkd_network(path: str, text: str) -> List[Dict[str, Any]]:
    """Entries for a systemd-networkd ``.network`` file: one per name in ``[Match] Name=``.

    DHCP=yes/true/ipv4/both means DHCP for IPv4; otherwise an ``Address=`` means static.
    Names may be globs ("en*"); they are kept as written.
    """
    names = []  # type: List[str]
    dhcp = False
    static = False
    for section, key, value in _ini_lines(text):
        if section == "Match" and key == "Name":
            names.extend(n for n in value.split() if not n.startswith("!"))
        elif section == "Network" and key == "DHCP":
            dhcp = value.lower() in _TRUE_WORDS + ("ipv4", "both")
        elif section in ("Network", "Address") and key == "Address" and value:
            static = True
    method = "dhcp" if dhcp else "static" if static else "unknown"
    return [_config_entry(name, method, "networkd", path) for name in (names or [None])]


def parse_ifupdown(path: str, text: str) -> List[Dict[str, Any]]:
    """Entries for ``iface NAME inet METHOD`` stanzas of /etc/network/interfaces (and interfaces.d)."""
    entries = []
    for raw in (text or "").splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) >= 4 and words[0] == "iface" and words[2] == "inet" and words[3] != "loopback":
            method = {"dhcp": "dhcp", "static": "static"}.get(words[3], "unknown")
            entries.append(_config_entry(words[1], method, "ifupdown", path))
    return entries


def parse_nmconnection(path: str, text: str) -> List[Dict[str, Any]]:
    """The entry for a NetworkManager keyfile: ``interface-name=`` and ``[ipv4] method=``."""
    interface = None
    method = None
    kind = None
    for section, key, value in _ini_lines(text):
        if section == "connection" and key == "interface-name":
            interface = value or None
        elif section == "connection" and key == "type":
            kind = value
        elif section == "ipv4" and key == "method":
            method = value
    if kind == "loopback":
        return []
    mapped = {"auto": "dhcp", "manual": "static"}.get(method or "", "unknown")
    return [_config_entry(interface, mapped, "NetworkManager", path)]


_NETPLAN_SECTIONS = ("ethernets", "bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs", "modems")


def _netplan_scalar(value: Any) -> str:
    return str(value).strip().strip("'\"").lower() if value is not None else ""


def _netplan_with_yaml(text: str) -> Optional[Dict[str, Dict[str, Any]]]:
    try:
        import yaml  # PyYAML: usually there on Debian, but not guaranteed on a minimal host
    except ImportError:
        return None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ValueError("netplan file is not YAML: %s" % str(err).splitlines()[0]) from None
    network = data.get("network") if isinstance(data, dict) else None
    network = network if isinstance(network, dict) else {}
    devices = {}
    for section in _NETPLAN_SECTIONS:
        found = network.get(section)
        for name, conf in (found.items() if isinstance(found, dict) else []):
            conf = conf if isinstance(conf, dict) else {}
            devices[str(name)] = {"dhcp4": _netplan_scalar(conf.get("dhcp4")),
                                  "addresses": bool(conf.get("addresses")),
                                  "set-name": conf.get("set-name")}
    return devices


def _netplan_by_lines(text: str) -> Dict[str, Dict[str, Any]]:
    """The few netplan keys we need, read by indentation: network > SECTION > DEVICE > key."""
    devices = {}  # type: Dict[str, Dict[str, Any]]
    stack = []  # type: List[Tuple[int, str]]
    pending = None  # a device whose "addresses:" had no inline value: list items follow
    for raw in (text or "").splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip() or line.strip() == "---":
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if body.startswith("- "):
            # Items may sit deeper than "addresses:" or, as YAML allows, at its own indentation.
            if pending is not None and indent >= pending[0]:
                devices[pending[1]]["addresses"] = True
            continue
        key, sep, value = body.partition(":")
        if not sep:
            continue
        key = key.strip().strip("'\"")
        value = value.strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _unused, k in stack]
        pending = None
        if len(path) == 3 and path[0] == "network" and path[1] in _NETPLAN_SECTIONS:
            device = devices.setdefault(path[2], {"dhcp4": "", "addresses": False, "set-name": None})
            if key == "dhcp4":
                device["dhcp4"] = _netplan_scalar(value)
            elif key == "set-name":
                device["set-name"] = value.strip("'\"") or None
            elif key == "addresses":
                if value:
                    device["addresses"] = value not in ("[]", "")
                else:
                    pending = (indent, path[2])
        elif len(path) == 2 and path[0] == "network" and path[1] in _NETPLAN_SECTIONS and not value:
            devices.setdefault(key, {"dhcp4": "", "addresses": False, "set-name": None})
        stack.append((indent, key))
    return devices


def parse_netplan(path: str, text: str, use_yaml: bool = True) -> List[Dict[str, Any]]:
    """Entries for a netplan YAML file: ``dhcp4: true`` is DHCP, ``addresses`` static.

    PyYAML is used where the host has it; otherwise (or with ``use_yaml`` False) a small
    indentation-based reader that understands the block style netplan files are written in.
    """
    devices = _netplan_with_yaml(text) if use_yaml else None
    if devices is None:
        devices = _netplan_by_lines(text)
    entries = []
    for name, conf in devices.items():
        method = ("dhcp" if conf["dhcp4"] in _TRUE_WORDS else "static" if conf["addresses"] else "unknown")
        entries.append(_config_entry(conf.get("set-name") or name, method, "netplan", path))
    return entries


def parse_dhclient_leases(text: str) -> Dict[str, Dict[str, Optional[str]]]:
    """``{interface: {"address", "expires"}}`` from a dhclient leases file, the last lease per interface.

    dhclient appends, so the last ``lease { … }`` block is the current one. ``expire`` is
    written in UTC ("expire 3 2024/01/17 23:00:00;"), or as "epoch N" with db-time-format
    local; "never" gives None.
    """
    leases = {}
    for block in re.findall(r"\blease\s*\{(.*?)\}", text or "", re.S):
        interface = re.search(r'^\s*interface\s+"([^"]+)"\s*;', block, re.M)
        address = re.search(r"^\s*fixed-address\s+([^;\s]+)\s*;", block, re.M)
        expire = re.search(r"^\s*expire\s+([^;]+);", block, re.M)
        expires = None
        if expire:
            words = expire.group(1).split()
            if len(words) >= 2 and words[0] == "epoch" and words[1].isdigit():
                expires = _iso_from_epoch(int(words[1]))
            elif len(words) == 3:
                try:
                    moment = datetime.datetime.strptime(words[1] + " " + words[2], "%Y/%m/%d %H:%M:%S")
                    expires = _iso_utc(moment.replace(tzinfo=datetime.timezone.utc))
                except ValueError:
                    expires = None
        if interface:
            leases[interface.group(1)] = {"address": address.group(1) if address else None, "expires": expires}
    return leases


def parse_kv_lease(text: str, mtime: Optional[float]) -> Dict[str, Optional[str]]:
    """``{"address", "expires"}`` from a systemd-networkd (or NetworkManager internal) lease file.

    The file holds ADDRESS= and LIFETIME= (seconds) but no time it was granted; it is
    rewritten at each renewal, so its modification time stands in for that.
    """
    values = {}
    for raw in (text or "").splitlines():
        key, sep, value = raw.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    lifetime = _number(values.get("LIFETIME"))
    expires = _iso_from_epoch(mtime + lifetime) if lifetime is not None and mtime is not None else None
    return {"address": values.get("ADDRESS") or None, "expires": expires}


def nm_lease_interface(path: str) -> Optional[str]:
    """The interface in a NetworkManager lease file name: ``internal-<uuid>-<iface>.lease``."""
    m = re.match(r"^[a-z]+-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}-(.+)\.lease$", os.path.basename(path))
    return m.group(1) if m else None


def join_ip_config(entries: List[Dict[str, Any]], leases: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Config entries with their interface's lease; a lease with no config entry adds a DHCP entry.

    ``leases`` items are ``{"interface", "address", "expires", "manager", "source"}``. Where an
    interface has several leases (an old dhclient file beside networkd's), the one that
    expires last is taken.
    """
    best = {}  # type: Dict[str, Dict[str, Any]]
    for lease in leases:
        name = lease.get("interface")
        if not name:
            continue
        held = best.get(name)
        if held is None or (lease.get("expires") or "") > (held.get("expires") or ""):
            best[name] = lease
    out = [dict(e) for e in entries]
    seen = set()
    for entry in out:
        lease = best.get(entry["interface"] or "")
        if lease:
            entry["lease_expires"] = lease.get("expires")
            entry["lease_address"] = lease.get("address")
            seen.add(entry["interface"])
    for name in sorted(set(best) - seen):
        lease = best[name]
        entry = _config_entry(name, "dhcp", lease.get("manager"), lease.get("source") or "")
        entry["lease_expires"] = lease.get("expires")
        entry["lease_address"] = lease.get("address")
        out.append(entry)
    return out


# --- services ------------------------------------------------------------------------------------------------------

_KEPT_UNIT_STATES = ("active", "activating", "failed")


def parse_systemctl_units(text: str) -> List[Dict[str, str]]:
    """``{"name", "active", "sub"}`` from ``systemctl list-units --type=service --all --no-legend --plain``.

    Only units that are active, activating or failed are kept: ``--all`` also lists every
    inactive unit on the system, which says little and would fill the list.
    """
    units = []
    for raw in (text or "").splitlines():
        words = raw.split()
        if words and words[0] in ("\u25cf", "*", "\u00d7"):  # the failed/not-found marker, if printed
            words = words[1:]
        if len(words) < 4:
            continue
        name, _load, active, sub = words[:4]
        if active in _KEPT_UNIT_STATES:
            units.append({"name": name, "active": active, "sub": sub})
    return units


def _split_host_port(text: str) -> Tuple[Optional[str], Optional[int]]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None, None
    if host.startswith("[") and "]" in host:
        host = host[1:host.index("]")] + host[host.index("]") + 1:]  # "[::]" -> "::", "[fe80::1]%eth0" kept scoped
    return host, int(port)


def parse_ss_listening(text: str) -> List[Dict[str, Any]]:
    """``{"address", "port", "process", "pid"}`` per TCP listener from ``ss -H -ltnp``.

    ss shows processes only to root (and only the first of several sharing a socket is
    kept); otherwise process and pid are None. Identical rows are kept once.
    """
    listeners = []
    seen = set()
    for raw in (text or "").splitlines():
        words = raw.split()
        if len(words) < 5:
            continue
        # State Recv-Q Send-Q Local Peer [Process]; with one socket type the Netid column is absent.
        if not words[1].isdigit() and len(words) >= 6:
            words = words[1:]
        address, port = _split_host_port(words[3])
        if port is None:
            continue
        rest = " ".join(words[5:])
        m = re.search(r'users:\(\("((?:[^"\\]|\\.)*)",pid=(\d+)', rest)
        entry = {"address": address, "port": port,
                 "process": m.group(1) if m else None, "pid": int(m.group(2)) if m else None}
        key = (entry["address"], entry["port"], entry["process"], entry["pid"])
        if key not in seen:
            seen.add(key)
            listeners.append(entry)
    return listeners


def _container(runtime: str, item: Dict[str, Any]) -> Dict[str, Any]:
    names = item.get("Names")
    if isinstance(names, list):
        names = names[0] if names else None
    state = item.get("State")
    return {"runtime": runtime, "name": str(names) if names is not None else None,
            "image": item.get("Image"), "state": str(state) if state is not None else None}


def parse_docker_ps(text: str, errors: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """Containers from ``docker ps --all --format '{{json .}}'``: one JSON object per line."""
    containers = []
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            _note(errors, "docker ps printed a line that is not JSON: %s" % raw.strip())
            continue
        if isinstance(item, dict):
            containers.append(_container("docker", item))
    return containers


def parse_podman_ps(text: str) -> List[Dict[str, Any]]:
    """Containers from ``podman ps --all --format json``: one JSON array. Raises ValueError if not JSON."""
    try:
        items = json.loads(text or "[]") or []
    except ValueError as err:
        raise ValueError("podman ps printed no JSON: %s" % err) from None
    return [_container("podman", item) for item in items if isinstance(item, dict)]


def parse_k3s_version(text: str) -> Optional[str]:
    """The version from ``k3s --version``'s first line ("k3s version v1.30.4+k3s1 (98262b5d)" -> "v1.30.4+k3s1")."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    m = re.search(r"\bversion\s+(\S+)", lines[0])
    return m.group(1) if m else lines[0]


def k3s_facts(present: bool, units: List[Dict[str, str]], version_text: Optional[str]) -> Dict[str, Any]:
    """k3s presence, its role from the active unit (k3s.service: server, k3s-agent.service: agent) and version.

    An active k3s unit counts as k3s present even when the binary is elsewhere than PATH or
    /usr/local/bin (installs with INSTALL_K3S_BIN_DIR put it anywhere).
    """
    active = {u["name"] for u in units if u["active"] == "active"}
    role = "server" if "k3s.service" in active else "agent" if "k3s-agent.service" in active else None
    present = bool(present) or role is not None
    return {"present": present, "role": role,
            "version": parse_k3s_version(version_text) if present and version_text else None}


# --- the whole report ----------------------------------------------------------------------------------------------

def _guard(errors: List[Dict[str, str]], probe: str, parse: Any, *args: Any, default: Any = None) -> Any:
    """``parse(*args)``, or ``default`` with a probe error when it fails.

    Anything is caught, not only ValueError: the host's output is not under our control, and
    a parser tripping over it must cost that one probe, never the whole report.
    """
    try:
        return parse(*args)
    except Exception as err:
        errors.append(probe_error(probe, str(err) or type(err).__name__))
        return default


def _nics(raw: Dict[str, Any]) -> List[Dict[str, Any]]:
    nics = []
    sysfs = raw.get("sysfs_net") or {}
    for name in sorted(sysfs):
        if name == "lo":
            continue
        nic = parse_sysfs_nic(name, sysfs[name])
        probe = (raw.get("ethtool") or {}).get(name) or {}
        settings = parse_ethtool(probe["settings"]) if probe.get("settings") else None
        driver = parse_ethtool_driver(probe["driver"]) if probe.get("driver") else None
        nics.append(merge_ethtool(nic, settings, driver))
    return nics


def _ip_config(raw: Dict[str, Any], errors: List[Dict[str, str]]) -> List[Dict[str, Any]]:
    entries = []  # type: List[Dict[str, Any]]
    for key, parse in (("networkd", parse_networkd_network), ("ifupdown", parse_ifupdown),
                       ("nmconnection", parse_nmconnection), ("netplan", parse_netplan)):
        for path in sorted(raw.get(key) or {}):
            entries.extend(_guard(errors, key, parse, path, raw[key][path], default=[]))
    # networkd names its lease files by interface index.
    ifindex = {}
    for name, files in (raw.get("sysfs_net") or {}).items():
        index = _number(files.get("ifindex"))
        if index is not None:
            ifindex[str(index)] = name
    leases = []
    for path in sorted(raw.get("dhclient_leases") or {}):
        found = _guard(errors, "dhclient lease", parse_dhclient_leases, raw["dhclient_leases"][path], default={})
        for iface, lease in found.items():
            leases.append(dict(lease, interface=iface, manager=None, source=path))
    for path, (text, mtime) in sorted((raw.get("networkd_leases") or {}).items()):
        lease = _guard(errors, "networkd lease", parse_kv_lease, text, mtime)
        if lease:
            leases.append(dict(lease, interface=ifindex.get(os.path.basename(path)), manager="networkd",
                               source=path))
    for path, (text, mtime) in sorted((raw.get("nm_leases") or {}).items()):
        if re.search(r"\blease\s*\{", text or ""):  # NetworkManager run with dhclient keeps dhclient's format
            found = _guard(errors, "NetworkManager lease", parse_dhclient_leases, text, default={})
            for iface, lease in found.items():
                leases.append(dict(lease, interface=iface, manager="NetworkManager", source=path))
        else:
            lease = _guard(errors, "NetworkManager lease", parse_kv_lease, text, mtime)
            if lease:
                leases.append(dict(lease, interface=nm_lease_interface(path), manager="NetworkManager",
                                   source=path))
    return join_ip_config(entries, leases)


def _gpus(smi: Dict[str, Any], errors: List[Dict[str, str]]) -> List[Dict[str, Any]]:
    row_errors = []  # type: List[str]
    gpus = parse_nvidia_query_gpu(smi.get("query") or "", errors=row_errors)
    xml_info = _guard(errors, "nvidia-smi -q -x", parse_nvidia_smi_xml, smi["xml"]) if smi.get("xml") else None
    apps = None
    if smi.get("apps") is not None:
        apps = parse_nvidia_compute_apps(smi["apps"], errors=row_errors)
    errors.extend(probe_error("nvidia-smi", message) for message in row_errors)
    return merge_gpus(gpus, xml_info, apps)


def _containers(raw: Dict[str, Any], errors: List[Dict[str, str]]) -> List[Dict[str, Any]]:
    containers = []
    if raw.get("docker") is not None:
        docker_errors = []  # type: List[str]
        containers.extend(parse_docker_ps(raw["docker"], errors=docker_errors))
        errors.extend(probe_error("docker", message) for message in docker_errors)
    if raw.get("podman") is not None:
        containers.extend(_guard(errors, "podman", parse_podman_ps, raw["podman"], default=[]))
    return containers


def build_facts(raw: Dict[str, Any]) -> Dict[str, Any]:
    """The ``homelab_discovered`` facts from what the module gathered (every key optional).

    ``raw`` holds text, never parsed values:
      sysfs_net: {nic: {entry: text}} (see parse_sysfs_nic),
      ethtool: {nic: {"settings": text|None, "driver": text|None}},
      ip_addr, ip_route, systemctl, ss, docker, podman: text, or None where not run,
      nvidia_smi: {"status": "ok"|"absent"|"error: …", "query": text, "xml": text|None, "apps": text|None},
      networkd, ifupdown, nmconnection, netplan, dhclient_leases: {path: text},
      networkd_leases, nm_leases: {path: (text, mtime)},
      k3s: {"present": bool, "version": text|None},
      errors: [{"probe", "message"}] already met while gathering.
    """
    errors = list(raw.get("errors") or [])
    smi = raw.get("nvidia_smi") or {}
    status = smi.get("status") or "absent"
    units = _guard(errors, "systemctl", parse_systemctl_units, raw.get("systemctl"), default=[])
    k3s = raw.get("k3s") or {}
    return {
        "schema": SCHEMA,
        "nics": _guard(errors, "nics", _nics, raw, default=[]),
        "addresses": _guard(errors, "ip addr", parse_ip_addr, raw["ip_addr"], default=[])
        if raw.get("ip_addr") is not None else [],
        "default_route": _guard(errors, "ip route", parse_ip_route_default, raw["ip_route"])
        if raw.get("ip_route") is not None else None,
        "ip_config": _guard(errors, "ip_config", _ip_config, raw, errors, default=[]),
        "gpus": _guard(errors, "nvidia-smi", _gpus, smi, errors, default=[]) if status == "ok" else [],
        "services": {
            "units": units,
            "listening": _guard(errors, "ss", parse_ss_listening, raw.get("ss"), default=[]),
            "containers": _guard(errors, "containers", _containers, raw, errors, default=[]),
            "k3s": k3s_facts(bool(k3s.get("present")), units, k3s.get("version")),
        },
        "nvidia_smi": status,
        "probe_errors": errors,
    }
