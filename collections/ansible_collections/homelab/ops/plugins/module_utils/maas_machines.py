# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Whether MAAS knows a MAC address, and how it addresses it: plain functions over MAAS's JSON.

``GET machines/?mac_address=M`` and ``GET devices/?mac_address=M`` (MAAS API 2.0, OAuth as in
maas_dns.py) list the machines and devices with an interface of that MAC. Each has ``system_id``,
``hostname``, ``fqdn`` and ``interface_set: [{name, mac_address, links: [{mode, ip_address, subnet}]}]``.
A link's ``mode`` is how MAAS gives that interface its address: ``static`` (a sticky address MAAS
reserved, the reservation this check looks for), ``auto`` (an address from MAAS's pool at deployment),
``dhcp`` (whatever MAAS's DHCP hands out) or ``link_up`` (none).
"""

from __future__ import annotations

from urllib.parse import urlencode


def node_url(api_url, kind, mac):
    """The search for ``kind`` (machines or devices) with an interface of ``mac`` under MAAS's URL."""
    base = api_url.rstrip("/")
    if not base.endswith("/api/2.0"):
        base += "/api/2.0"
    return "%s/%s/?%s" % (base, kind, urlencode({"mac_address": mac}))


def lookup(machines, devices, mac, source="MAAS API"):
    """What MAAS says about ``mac``: ``{status: ok, registered, kind, hostname, fqdn, system_id, interface,
    link_mode, ip, source}``; the first machine (else device) with an interface of that MAC, and its first
    link with an address (else its first link)."""
    mac = (mac or "").lower()
    for kind, nodes in (("machine", machines), ("device", devices)):
        for node in nodes or []:
            if not isinstance(node, dict):
                continue
            for iface in node.get("interface_set") or []:
                if not isinstance(iface, dict) or str(iface.get("mac_address", "")).lower() != mac:
                    continue
                links = [x for x in iface.get("links") or [] if isinstance(x, dict)]
                link = next((x for x in links if x.get("ip_address")), links[0] if links else {})
                return {"status": "ok", "registered": True, "kind": kind, "hostname": node.get("hostname"),
                        "fqdn": node.get("fqdn"), "system_id": node.get("system_id"), "interface": iface.get("name"),
                        "link_mode": (link.get("mode") or None) if link else None,
                        "ip": link.get("ip_address") if link else None,
                        "source": "%s: %s %s (%s), interface %s" % (
                            source, kind, node.get("hostname"), node.get("system_id"), iface.get("name"))}
    return {"status": "ok", "registered": False, "kind": None, "hostname": None, "fqdn": None, "system_id": None,
            "interface": None, "link_mode": None, "ip": None,
            "source": "%s: no machine or device with %s" % (source, mac)}
