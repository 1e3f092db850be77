# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Whether an address may be reserved on a dnsmasq DHCP server: plain functions over file text.

Shipped to the DHCP server with homelab.ops.dnsmasq_reservation and run under its Python (Debian 12:
3.11), so it keeps to Python 3.9 syntax and the standard library; the unit tests call it directly.

dnsmasq's ``dhcp-host=`` takes comma-separated fields in any order: hardware addresses
(``aa:bb:cc:dd:ee:ff``, or ``id:...`` client ids), at most one IPv4 address, a host name, a lease
time and ``set:``/``tag:`` words. Its lease database holds one line a lease:
``<expiry epoch seconds, 0 = infinite> <mac> <ip> <hostname or *> <client id or *>``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Dict, List, Optional

_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$")
_STRICT_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
_LEASE_TIME = re.compile(r"^(infinite|\d+[smhdw]?)$")


def dhcp_host_entry(raw: str) -> Optional[Dict[str, object]]:
    """``{"macs", "address", "name"}`` of one configuration line if it is a ``dhcp-host=`` line, else None.
    A value is a MAC (several allowed, ``-`` or ``:``), an IPv4 address, a lease time, ``id:``/``set:``/``tag:``
    or the name."""
    line = raw.split("#", 1)[0].strip()
    key, sep, value = line.partition("=")
    if not sep or key.strip() != "dhcp-host":
        return None
    macs, address, name = [], None, None  # type: List[str], Optional[str], Optional[str]
    for field in value.split(","):
        field = field.strip()
        low = field.lower()
        if _MAC.match(low):
            macs.append(low.replace("-", ":"))
        elif low.startswith(("id:", "set:", "tag:")) or _LEASE_TIME.match(low) or low == "ignore" or not field:
            continue
        elif _is_ipv4(field):
            address = field
        else:
            name = field
    return {"macs": macs, "address": address, "name": name}


def parse_dhcp_hosts(text: str) -> List[Dict[str, object]]:
    """:func:`dhcp_host_entry` for each ``dhcp-host=`` line (comments and other options left out)."""
    return [e for e in map(dhcp_host_entry, (text or "").splitlines()) if e is not None]


def lease_entry(raw: str) -> Optional[Dict[str, object]]:
    """``{"expires" (epoch, 0 = infinite), "mac", "address", "name"}`` of one IPv4 line of dnsmasq's lease
    database, else None (IPv6 leases and the "duid" line are not IPv4 reservations' business)."""
    words = raw.split()
    if len(words) < 4 or not words[0].isdigit() or not _MAC.match(words[1].lower()) or not _is_ipv4(words[2]):
        return None
    return {"expires": int(words[0]), "mac": words[1].lower().replace("-", ":"), "address": words[2],
            "name": None if words[3] == "*" else words[3]}


def parse_leases(text: str) -> List[Dict[str, object]]:
    """:func:`lease_entry` for each IPv4 line of dnsmasq's lease database."""
    return [e for e in map(lease_entry, (text or "").splitlines()) if e is not None]


def conflicts(host: str, mac: str, address: str, other_files: Dict[str, str], lease_text: str,
              now: int) -> List[str]:
    """Why ``address`` cannot be reserved for ``mac``: another file's reservation, an active lease of another MAC.

    ``other_files`` maps each configuration file other than the host's own reservation file to its
    text. An empty list means the reservation is safe to write.
    """
    mac = mac.lower()
    problems = []
    for path in sorted(other_files):
        for entry in parse_dhcp_hosts(other_files[path]):
            macs = entry["macs"]
            if entry["address"] == address and mac not in macs:  # type: ignore[operator]
                problems.append("%s reserves %s for %s" % (path, address, _who(entry)))
            elif mac in macs and entry["address"] not in (None, address):  # type: ignore[operator]
                problems.append("%s already reserves %s for this MAC (%s)" % (path, entry["address"], mac))
    for lease in parse_leases(lease_text):
        active = lease["expires"] == 0 or int(lease["expires"]) > now  # type: ignore[call-overload]
        if active and lease["address"] == address and lease["mac"] != mac:
            problems.append("an active lease gives %s to %s%s" % (
                address, lease["mac"], " (%s)" % lease["name"] if lease["name"] else ""))
    return problems


def _who(entry: Dict[str, object]) -> str:
    macs = ", ".join(entry["macs"]) or "no MAC"  # type: ignore[arg-type]
    return "%s (%s)" % (entry["name"], macs) if entry["name"] else macs


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def unsafe_input(mac, address):
    """Why ``mac`` or ``address`` may not be written into a DHCP server's configuration, or None.

    The MAC is what the host reported, and a line break in it would be a line of dnsmasq's configuration
    of the host's choosing: only six colon-separated hex octets and a plain IPv4 address pass.
    """
    if not isinstance(mac, str) or not _STRICT_MAC.match(mac.lower()):
        return "the MAC %r is not six colon-separated hex octets" % (mac,)
    try:
        if str(ipaddress.IPv4Address(address)) != address:
            raise ValueError(address)
    except (ipaddress.AddressValueError, ValueError):
        return "the address %r is not a plain IPv4 address" % (address,)
    return None
