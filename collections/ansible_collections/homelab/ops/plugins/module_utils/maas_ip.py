# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""MAAS's reserved IP addresses, as plain functions over plain data (the unit tests call them directly).

From MAAS's API reference (IP Addresses, /MAAS/api/2.0/ipaddresses/): ``GET ipaddresses/?ip=A&all=true``
lists the IP address objects MAAS knows for A (``all`` asks for every user's, an admin's right);
``POST ipaddresses/`` with ``op=reserve`` and ``ip``, ``mac``, ``hostname`` reserves A for use outside
MAAS, linked to the MAC (MAAS then hands that MAC that address over DHCP) and, with a hostname, gives
the name a DNS resource in the default domain. An IP address object carries ``ip``,
``alloc_type``/``alloc_type_name`` (4, "User reserved"), ``owner``, ``subnet`` and ``interface_set``
(the interfaces linked to it, each with its ``mac_address``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from ansible_collections.homelab.ops.plugins.module_utils.maas_dns import resources_url

USER_RESERVED = 4


class ReservationConflict(ValueError):
    """MAAS gives the address to something else."""


def ipaddresses_url(api_url: str, ip: str | None = None) -> str:
    """The IP addresses endpoint (the same API root as the DNS resources'), or a lookup of one address."""
    url = resources_url(api_url).replace("/dnsresources/", "/ipaddresses/")
    if ip is not None:
        url += "?" + urlencode({"ip": ip, "all": "true"})
    return url


def macs(entry: dict) -> list[str]:
    """The MAC addresses of the interfaces MAAS links to an IP address object."""
    return sorted(str(i.get("mac_address")).lower() for i in entry.get("interface_set") or [] if i.get("mac_address"))


def decide(found: list[dict], address: str, mac: str) -> dict:
    """What to do so that MAAS holds ``address`` for ``mac``: ``{action: reserve|none, before, after}``.

    Raises ReservationConflict when MAAS already gives the address to another MAC, or holds it
    otherwise (a machine's automatic or sticky address, one it discovered): that is the person's call.
    """
    mac = mac.lower()
    mine = [e for e in found if str(e.get("ip")) == address]
    if not mine:
        return {"action": "reserve", "before": [], "after": [mac]}
    entry = mine[0]
    linked = macs(entry)
    if mac in linked:
        return {"action": "none", "before": linked, "after": linked}
    holder = ", ".join(linked) or "no MAC"
    kind = entry.get("alloc_type_name") or f"alloc_type {entry.get('alloc_type')}"
    raise ReservationConflict(f"MAAS already holds {address} ({kind}) for {holder}")
