# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Whether a host keeps its address: the parsers and the judgement behind homelab.ops.address_check.

Plain functions over text and numbers (3.9 syntax, standard library only), so the unit tests call them
without Ansible or a host. The sources are the host's own (``ip -j addr``, its network configuration,
its DHCP client's lease files and journal lines) and the DHCP server's (dnsmasq's lease database, its
``dhcp-host=`` reservations and its journal; or MAAS's API, read in maas_machines.py). Every finding
names the file and line, the log line or the fact it rests on.
"""

from __future__ import annotations

import datetime
import random
import re
import socket
import struct

from ansible_collections.homelab.ops.plugins.module_utils.dnsmasq_reservations import dhcp_host_entry, lease_entry

MAX_TEXT = 512
MAX_EVENTS = 200
#: The finding ids (fixed by the catalog's contract) and the PROCEDURES.md step each one points to.
RUNBOOK = {
    "address-moved": "Address moved",
    "no-reservation": "No reservation",
    "lease-expired": "Lease expired",
    "dns-mismatch": "Name and address disagree",
    "not-registered": "Not registered with the DHCP server",
    "static-mismatch": "Static address differs",
}
_MAC = re.compile(r"^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:?\d{2}|Z)?)\s")


def text(value, limit=MAX_TEXT):
    """A host's text, capped and on one line."""
    return " ".join(str(value if value is not None else "").split())[:limit]


def iso(moment):
    """A datetime as ISO 8601 in UTC, to the second."""
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0).isoformat()


def from_epoch(seconds):
    return iso(datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc))


# --- the host's side ------------------------------------------------------------------------------------------------

def primary(addresses):
    """The primary NIC's IPv4 entry of host_facts.parse_ip_addr's list: the first IPv4 that is neither
    loopback nor link-local (``ip`` lists the NICs in index order, the first NIC first), or None."""
    for a in addresses:
        if a.get("family") == "inet" and not str(a.get("address", "")).startswith(("127.", "169.254.")):
            return a
    return None


def _dhclient_time(words):
    """A dhclient time ("3 2026/12/06 10:00:00" in UTC, "epoch N", "never") as ISO 8601, or None."""
    if len(words) >= 2 and words[0] == "epoch" and words[1].isdigit():
        return from_epoch(words[1])
    if len(words) == 3:
        try:
            moment = datetime.datetime.strptime(words[1] + " " + words[2], "%Y/%m/%d %H:%M:%S")
        except ValueError:
            return None
        return iso(moment.replace(tzinfo=datetime.timezone.utc))
    return None


def dhclient_leases(text_, path):
    """Every ``lease { }`` block of a dhclient lease file, oldest first (dhclient appends; the last is current):
    ``{interface, address, server, renew, rebind, expires, obtained, source}``. ``obtained`` is the expiry less
    ``dhcp-lease-time`` when the block has it; ``source`` is ``path:line`` of the block's first line."""
    found = []
    lines = (text_ or "").splitlines()
    i = 0
    while i < len(lines):
        if not re.match(r"^\s*lease\s*\{", lines[i]):
            i += 1
            continue
        start, block = i + 1, {}
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("}"):
            # `db-time-format local` writes "expire epoch N; # <local time>": the comment is not the value.
            line = lines[i].split("#", 1)[0].strip().rstrip(";")
            words = line.split()
            if len(words) >= 2:
                if words[0] == "interface":
                    block["interface"] = words[1].strip('"')
                elif words[0] == "fixed-address":
                    block["address"] = words[1]
                elif words[0] in ("renew", "rebind", "expire"):
                    block[words[0]] = _dhclient_time(words[1:])
                elif words[:2] == ["option", "dhcp-server-identifier"] and len(words) >= 3:
                    block["server"] = words[2]
                elif words[:2] == ["option", "dhcp-lease-time"] and len(words) >= 3 and words[2].isdigit():
                    block["lease_time"] = int(words[2])
            i += 1
        i += 1
        expires = block.get("expire")
        obtained = None
        if expires and block.get("lease_time") is not None:
            moment = datetime.datetime.fromisoformat(expires) - datetime.timedelta(seconds=block["lease_time"])
            obtained = iso(moment)
        found.append({"interface": block.get("interface"), "address": block.get("address"),
                      "server": block.get("server"), "renew": block.get("renew"), "rebind": block.get("rebind"),
                      "expires": expires, "obtained": obtained, "source": "%s:%d" % (path, start)})
    return found


def networkd_lease(text_, path, mtime):
    """A systemd-networkd lease file (``/run/systemd/netif/leases/<ifindex>``, KEY=VALUE lines) as one lease.
    networkd rewrites it at each renewal and writes no time it was granted: its modification time stands in."""
    values = {}
    for raw in (text_ or "").splitlines():
        key, sep, value = raw.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    lifetime = values.get("LIFETIME", "")
    obtained = from_epoch(mtime) if mtime is not None else None
    expires = from_epoch(mtime + int(lifetime)) if mtime is not None and lifetime.isdigit() else None
    return {"interface": None, "address": values.get("ADDRESS") or None, "server": values.get("SERVER_ADDRESS") or None,
            "renew": None, "rebind": None, "expires": expires, "obtained": obtained, "source": path}


def how_configured(entries, interface):
    """(method, manager, source) for ``interface`` from host_facts' configuration entries (networkd, ifupdown,
    NetworkManager, netplan; names may be globs): the first that names it, else one that names no interface."""
    import fnmatch

    named = [e for e in entries if e.get("interface") and fnmatch.fnmatch(interface or "", e["interface"])]
    loose = [e for e in entries if not e.get("interface")]
    for entry in named + loose:
        return entry.get("method") or "unknown", entry.get("manager"), entry.get("source")
    return "unknown", None, None


# --- journal lines -------------------------------------------------------------------------------------------------

_DHCLIENT = (
    ("ack", re.compile(r"DHCPACK of (\S+) from (\S+)")),
    ("nak", re.compile(r"DHCPNAK from (\S+)()")),
    ("offer", re.compile(r"DHCPOFFER of (\S+) from (\S+)")),
    ("request", re.compile(r"DHCPREQUEST for (\S+) on \S+ to (\S+)")),
    ("bound", re.compile(r"bound to (\S+) -- renewal")),
    ("discover", re.compile(r"DHCPDISCOVER on \S+ to (\S+)")),
)
# dnsmasq-dhcp with log-dhcp prefixes a transaction number: "2851183742 DHCPACK(lo) 192.168.4.57 52:54:.. name".
_DNSMASQ = re.compile(r"(?:^|\s)(?:\d+\s+)?DHCP(ACK|NAK|OFFER|REQUEST|DISCOVER|RELEASE|DECLINE)\([^)]*\)\s+(.*)$")


def journal_events(lines, mac=None):
    """DHCP events from ``journalctl -o short-iso`` lines of dhclient (the host's) or dnsmasq (the server's;
    only those of ``mac``): ``{time, kind, address, server, line}``, oldest first."""
    events = []
    mac = (mac or "").lower()
    for raw in (lines or "").splitlines():
        stamp = _STAMP.match(raw)
        when = stamp.group(1) if stamp else None
        m = _DNSMASQ.search(raw)
        if m:
            words = m.group(2).split()
            ip = next((w for w in words if _IPV4.match(w)), None)
            macs = [w.lower() for w in words if _MAC.match(w.lower())]
            if mac and mac not in macs:
                continue
            events.append({"time": when, "kind": m.group(1).lower(), "address": ip, "server": None,
                           "line": text(raw)})
            continue
        for kind, pattern in _DHCLIENT:
            hit = pattern.search(raw)
            if hit:
                groups = hit.groups()
                address = groups[0] if kind not in ("nak", "discover") else None
                server = groups[1] if kind in ("ack", "offer", "request") else groups[0] if kind == "nak" else None
                events.append({"time": when, "kind": kind, "address": address, "server": server or None,
                               "line": text(raw)})
                break
    return events[-MAX_EVENTS:]


def history(events, leases=()):
    """The addresses the host was given, oldest first: ``{address, first_seen, last_seen, source}``.

    The ACKs (and bound lines) of ``events`` say when; lease blocks (the host's lease files) say which
    addresses it had even where the journal no longer reaches back: those the events do not name go first.
    """
    seen = []
    for event in events:
        if event["kind"] not in ("ack", "bound") or not event.get("address"):
            continue
        if seen and seen[-1]["address"] == event["address"]:
            seen[-1]["last_seen"] = event["time"] or seen[-1]["last_seen"]
        else:
            seen.append({"address": event["address"], "first_seen": event["time"], "last_seen": event["time"],
                         "source": event["line"]})
    named = {h["address"] for h in seen}
    older = []
    for lease in leases:
        address = lease.get("address")
        if address and address not in named and (not older or older[-1]["address"] != address):
            older.append({"address": address, "first_seen": lease.get("obtained"), "last_seen": lease.get("obtained"),
                          "source": lease["source"]})
    return (older + seen)[-20:]


# --- the server's side ------------------------------------------------------------------------------------------------

def dnsmasq_leases(text_, path):
    """dnsmasq's lease database (:func:`dnsmasq_reservations.lease_entry` per line), each with its time in
    ISO 8601 (None: infinite), its source line and its text."""
    found = []
    for number, raw in enumerate((text_ or "").splitlines(), 1):
        entry = lease_entry(raw)
        if entry is not None:
            found.append(dict(entry, expires=from_epoch(str(entry["expires"])) if entry["expires"] else None,
                              source="%s:%d" % (path, number), line=text(raw)))
    return found


def dnsmasq_reservations(files):
    """``dhcp-host=`` lines of dnsmasq config files ({path: text}), read by
    :func:`dnsmasq_reservations.dhcp_host_entry` (as reserve_addresses reads them): ``{macs, address, name,
    source, line}``."""
    found = []
    for path in sorted(files):
        for number, raw in enumerate((files[path] or "").splitlines(), 1):
            entry = dhcp_host_entry(raw)
            if entry is not None:
                found.append(dict(entry, source="%s:%d" % (path, number), line=text(raw)))
    return found


# --- DNS -----------------------------------------------------------------------------------------------------------

def dns_query_packet(name, ident):
    """A DNS query for the A records of ``name``, recursion desired."""
    labels = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split(".") if p)
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", 1, 1)


def _skip_name(packet, offset):
    while True:
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        offset += 1 + length
        if length == 0:
            return offset


def dns_answer(packet, ident):
    """The IPv4 addresses of a DNS response to query ``ident``; raises ValueError for a malformed one."""
    if len(packet) < 12:
        raise ValueError("a DNS answer shorter than its header")
    got, flags, qd, an = struct.unpack("!HHHH", packet[:8])
    if got != ident:
        raise ValueError("a DNS answer to another query")
    rcode = flags & 0xF
    if rcode not in (0, 3):  # NXDOMAIN is an answer: the name is unknown
        raise ValueError("the DNS server answered rcode %d" % rcode)
    offset = 12
    for _question in range(qd):
        offset = _skip_name(packet, offset) + 4
    found = []
    for _unused in range(an):
        offset = _skip_name(packet, offset)
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", packet[offset:offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            found.append(socket.inet_ntoa(packet[offset:offset + 4]))
        offset += length
    return found


def resolve(server, name, port=53, timeout=3.0):
    """Ask ``server`` directly (UDP) for ``name``'s A records: the DNS server's own answer, not /etc/hosts'."""
    ident = random.randint(0, 0xFFFF)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(dns_query_packet(name, ident), (server, port))
        data, _unused = sock.recvfrom(4096)
    return dns_answer(data, ident)


# --- the judgement -------------------------------------------------------------------------------------------------

def _finding(fid, severity, summary, evidence):
    return {"id": fid, "severity": severity, "summary": text(summary), "evidence": text(evidence, 1024),
            "runbook": RUNBOOK[fid]}


def _expired(expires, now):
    return bool(expires) and expires < now


def assess(host, documented, local, dhcp, server, maas, dns, now, routers=()):
    """The address report of one host and the steps it proposes: ``(report, proposals)``.

    ``documented``: ``{lan_ip, addressing}`` from the inventory. ``local``: what the host showed (the
    address_check module's host part). ``dhcp``: ``homelab_dhcp``. ``server``: what the dnsmasq server showed
    for this host (its part ``server``), or None. ``maas``: maas_machines.lookup's result, or None. ``dns``:
    ``{name, server, addresses, error}``. ``now``: ISO 8601 UTC. ``routers``: names of routers that serve DHCP.
    """
    kind = (dhcp or {}).get("kind") or "none"
    server = server or {}
    address, iface, mac = local.get("address"), local.get("interface"), (local.get("mac") or "").lower()
    method = local.get("method") or "unknown"
    want = documented.get("lan_ip")
    leases = local.get("leases") or []
    lease = leases[-1] if leases else None
    events = (local.get("events") or []) + (server.get("events") or [])
    events.sort(key=lambda e: e.get("time") or "")
    seen = history(events, leases)
    earlier = [h for h in seen if h["address"] != address]
    previous = earlier[-1] if earlier else None
    dhcp_addressed = method == "dhcp" or documented.get("addressing") == "dhcp"
    findings = []
    fact = "ip -j addr: %s %s" % (iface or "?", address or "no IPv4 address")
    if address and want and address != want:
        moved = "; it had %s before (%s)" % (previous["address"], previous["source"]) if previous else ""
        if method == "static":
            findings.append(_finding("static-mismatch", "critical",
                                     "%s is configured statically on %s, not on its documented %s"
                                     % (host, address, want), "%s; %s" % (fact, local.get("config_source") or "")))
        else:
            findings.append(_finding("address-moved", "warning",
                                     "%s is on %s, not on its documented %s%s" % (host, address, want, moved),
                                     fact + ("; history: %s" % previous["source"] if previous else "")))
    elif address and previous and dhcp_addressed:
        # Back on its documented address (a reservation brought it back): said, but nothing to fix.
        back = address == want
        findings.append(_finding("address-moved", "info" if back else "warning", "%s moved from %s to %s%s"
                                 % (host, previous["address"], address, ", its documented address" if back else ""),
                                 "%s; %s" % (fact, previous["source"])))
    if lease and _expired(lease.get("expires"), now):
        findings.append(_finding("lease-expired", "critical", "the lease on %s expired %s"
                                 % (lease.get("address"), lease.get("expires")), lease["source"]))
    elif previous and dhcp_addressed and address != want:  # back on its documented address: nothing expired now
        old = next((x for x in reversed(leases[:-1]) if x.get("address") == previous["address"]), None)
        taken = next((x for x in server.get("leases") or []
                      if x.get("address") == previous["address"] and x.get("mac") != mac), None)
        if old and _expired(old.get("expires"), now) or taken:
            when = old.get("expires") if old else None
            evidence = "; ".join(s for s in (old["source"] if old else "",
                                             "%s: %s" % (taken["source"], taken["line"]) if taken else "") if s)
            findings.append(_finding("lease-expired", "warning", "the lease on %s expired%s%s"
                                     % (previous["address"], " " + when if when else "",
                                        ", and the address went to another device" if taken else ""), evidence))
    reservation = None
    registered = None
    server_name = (dhcp or {}).get("host") or kind
    if kind == "dnsmasq" and not server.get("error"):
        mine = [r for r in server.get("reservations") or [] if mac and mac in r.get("macs", [])]
        reservation = ({"address": mine[0].get("address"), "name": mine[0].get("name"), "source": mine[0]["source"]}
                       if mine else None)
        registered = bool(mac)  # without a MAC there is nothing to look a reservation up by
    elif kind == "maas" and maas and maas.get("status") == "ok":
        registered = bool(maas.get("registered"))
        if registered and maas.get("link_mode") == "static":
            reservation = {"address": maas.get("ip"), "name": maas.get("hostname"), "source": maas.get("source")}
        if not registered:
            findings.append(_finding("not-registered", "warning", "MAAS has no machine or device with %s's MAC %s"
                                     % (host, mac), maas.get("source") or "MAAS API"))
    if dhcp_addressed and registered and reservation is None:
        mode = " (link mode %s)" % maas.get("link_mode") if kind == "maas" and maas.get("link_mode") else ""
        findings.append(_finding("no-reservation", "warning", "no reservation on %s for %s (%s)%s"
                                 % (server_name, mac, host, mode),
                                 server.get("searched") or (maas or {}).get("source") or server_name))
    elif reservation and want and reservation.get("address") not in (None, want):
        findings.append(_finding("address-moved", "warning", "the reservation on %s gives %s %s, not %s"
                                 % (server_name, host, reservation["address"], want), reservation["source"]))
    if dns.get("error") is None and address and dns.get("addresses") != [address]:
        got = ", ".join(dns.get("addresses") or []) or "nothing"
        query = "DNS query to %s for %s" % (dns.get("server"), dns.get("name"))
        findings.append(_finding("dns-mismatch", "warning", "%s resolves to %s, not to %s"
                                 % (dns.get("name"), got, address), query))
    if kind == "maas":
        status = (maas or {}).get("status") or "not configured"
    else:
        status = (server.get("error") or "ok") if kind == "dnsmasq" else "none"
    report = {
        "host": host, "checked_at": now,
        "documented": {"address": want, "addressing": documented.get("addressing")},
        "actual": {"interface": iface, "mac": mac or None, "address": address},
        "previous_address": previous["address"] if previous else None,
        "method": method, "manager": local.get("manager"), "client": local.get("client"),
        "config_source": local.get("config_source"),
        "lease": lease,
        "server": {"kind": kind, "host": (dhcp or {}).get("host"), "status": status,
                   "reservation": reservation, "registered": registered,
                   "leases": server.get("leases") or [], "link_mode": (maas or {}).get("link_mode")},
        "dns": dns, "history": seen, "findings": findings, "skipped": local.get("skipped") or [],
    }
    return report, propose(host, report, dhcp_addressed, routers)


def propose(host, report, dhcp_addressed, routers=()):
    """reserve_addresses for a DHCP-addressed host without a reservation or that moved; the person's items."""
    ids = {f["id"] for f in report["findings"] if f["severity"] != "info"}
    steps, manual = [], []
    kind, status = report["server"]["kind"], report["server"]["status"]
    if dhcp_addressed and ids & {"no-reservation", "address-moved"}:
        if kind == "maas" and status == "not configured":
            manual.append({"title": "Reserve %s's address in MAAS by hand" % host,
                           "reason": "MAAS's API is not configured (homelab_dhcp.api_url is empty): reserve in MAAS "
                                     "by hand, a static (sticky) address for %s on %s"
                                     % (report["actual"]["mac"], report["documented"]["address"])})
        elif kind == "none":
            manual.append({"title": "Reserve %s's address on the DHCP server by hand" % host,
                           "reason": "no DHCP server is described (homelab_dhcp.kind: none): reserve %s for %s "
                                     "where the LAN's DHCP is served" % (report["documented"]["address"],
                                                                         report["actual"]["mac"] or host)})
        elif kind in ("dnsmasq", "maas"):
            why = "; ".join(f["summary"] for f in report["findings"]
                            if f["id"] in ("no-reservation", "address-moved") and f["severity"] != "info")
            steps.append({"playbook": "reserve_addresses", "kind": "standard", "vars": {}, "reason": why})
    if dhcp_addressed:
        for router in routers:
            manual.append({"title": "Check the DHCP server on router %s" % router,
                           "reason": "%s serves DHCP on the LAN too: its leases and reservations are the person's "
                                     "to check" % router})
    return {"steps": steps, "manual": manual}
