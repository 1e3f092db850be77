#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: address_check
short_description: Whether a host keeps its address (its own side, the DHCP server's, MAAS's, DNS), changing nothing
description:
  - O(part=host), on the host, reads the primary NIC's IPv4 address (C(ip -j addr)), how the address is
    configured (systemd-networkd, ifupdown, NetworkManager, netplan), every lease of its DHCP client's lease
    files (dhclient's C(lease {}) blocks, networkd's lease files) and the client's journal lines.
  - O(part=server), on the dnsmasq DHCP server, reads the C(dhcp-host=) reservations of O(conf_glob), the lease
    database O(leases_path) and the journal lines of the DHCP units that name O(mac).
  - O(part=maas), on the controller, asks MAAS's API which machine or device has O(mac) and its link mode.
  - O(part=report), on the controller, asks the DNS server directly for O(fqdn) and judges all of it into the
    address report and the steps it proposes.
  - Read-only; runs unchanged under C(--check) and always reports C(changed=false).
options:
  part:
    description: Which side to read, or C(report) to judge.
    type: str
    choices: [host, server, maas, report]
    required: true
  mac:
    description: The host's MAC address (parts server and maas).
    type: str
  leases_path:
    description: dnsmasq's lease database.
    type: str
    default: /var/lib/misc/dnsmasq.leases
  conf_glob:
    description: The dnsmasq configuration files that hold reservations.
    type: str
    default: /etc/dnsmasq.d/*.conf
  units:
    description: The systemd units whose journal lines (naming O(mac)) say what the server handed out.
    type: list
    elements: str
    default: [dnsmasq-dhcp, dnsmasq]
  journal_since:
    description: How far back the journals are read, as C(journalctl --since) takes it.
    type: str
    default: 7 days ago
  api_url:
    description: MAAS's URL (part maas).
    type: str
  api_key:
    description: MAAS's API key (part maas), consumer_key:token_key:token_secret.
    type: str
  host:
    description: The inventory name of the host (part report).
    type: str
  documented:
    description: The inventory's C(lan_ip) and C(addressing) of the host (part report).
    type: dict
  local:
    description: What part host returned (part report).
    type: dict
  dhcp:
    description: C(homelab_dhcp) (part report).
    type: dict
  server:
    description: What part server returned, if it ran (part report).
    type: dict
  maas:
    description: What part maas returned, if it ran (part report).
    type: dict
  dns_server:
    description: The DNS server asked for O(fqdn) (part report); empty skips the query.
    type: str
    default: ""
  dns_port:
    description: Its port.
    type: int
    default: 53
  fqdn:
    description: The host's name in DNS (part report).
    type: str
  routers:
    description: Routers that serve DHCP on the LAN too (part report).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds each command, API call or DNS query may take.
    type: int
    default: 10
extends_documentation_fragment:
  - homelab.ops.read_only
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Read the host's address, configuration and leases
  homelab.ops.address_check:
    part: host
  become: true
  register: _local
"""

RETURN = r"""
ansible_facts:
  description: Part host. C(homelab_discovered) with the host's addresses, default route and how its primary NIC is
    configured, so a read playbook refreshes the inventory's discovered addresses (and their history).
  returned: when part is host
  type: dict
local:
  description: Part host. The primary NIC (interface, mac, address), method, manager, client, config_source,
    leases (oldest first, the current last) and events (the DHCP client's journal lines).
  returned: when part is host
  type: dict
server:
  description: Part server. reservations, leases (those of O(mac)), events (journal lines of O(mac)), searched.
  returned: when part is server
  type: dict
maas:
  description: Part maas. status, registered, kind, hostname, link_mode, ip, source.
  returned: when part is maas
  type: dict
address:
  description: Part report. The host's address report (documented, actual, lease, server, dns, history, findings).
  returned: when part is report
  type: dict
proposals:
  description: Part report. The steps the report proposes (reserve_addresses) and the person's items.
  returned: when part is report
  type: dict
"""

import datetime
import glob
import json
import os
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.homelab.ops.plugins.module_utils import addressing as ad
from ansible_collections.homelab.ops.plugins.module_utils import host_facts as hf
from ansible_collections.homelab.ops.plugins.module_utils.maas_dns import MaasKeyError, oauth_header
from ansible_collections.homelab.ops.plugins.module_utils.maas_machines import lookup, node_url
from ansible_collections.homelab.ops.plugins.module_utils.probes import Probes, read_text


def _journal(probes, argv):
    journalctl = probes.which("journalctl")
    if not journalctl:
        return ""
    return probes.run(" ".join(argv), [journalctl, "-o", "short-iso", "--no-pager", "-q"] + argv) or ""


def _host(module, probes):
    """What the host shows, and its addresses as facts (host_facts' shape) for the discovered block."""
    p = module.params
    raw = {}
    ip = probes.which("ip")
    addresses = hf.parse_ip_addr(probes.run("ip addr", [ip, "-j", "addr", "show"]) or "[]") if ip else []
    main = ad.primary(addresses) or {}
    iface = main.get("interface")
    mac = None
    if iface:
        try:
            mac = read_text("/sys/class/net/%s/address" % iface, 64).strip().lower() or None
        except OSError:
            mac = None
    for key, patterns in (("networkd", ["/etc/systemd/network/*.network"]),
                          ("ifupdown", ["/etc/network/interfaces", "/etc/network/interfaces.d/*"]),
                          ("nmconnection", ["/etc/NetworkManager/system-connections/*.nmconnection"]),
                          ("netplan", ["/etc/netplan/*.yaml"])):
        raw[key] = probes.files(key, patterns)
    entries = []
    for key, parse in (("networkd", hf.parse_networkd_network), ("ifupdown", hf.parse_ifupdown),
                       ("nmconnection", hf.parse_nmconnection), ("netplan", hf.parse_netplan)):
        for path in sorted(raw[key]):
            try:
                entries.extend(parse(path, raw[key][path]))
            except ValueError as err:
                probes.errors.append(hf.probe_error(key, "%s: %s" % (path, err)))
    method, manager, source = ad.how_configured(entries, iface)
    leases, client = [], None
    for path, text in sorted(probes.files("dhclient lease", ["/var/lib/dhcp/dhclient*.leases"]).items()):
        found = [x for x in ad.dhclient_leases(text, path) if x.get("interface") in (None, iface)]
        if found:
            leases.extend(found)
            client = "dhclient"
    try:
        index = read_text("/sys/class/net/%s/ifindex" % iface, 64).strip() if iface else ""
    except OSError:
        index = ""
    networkd = "/run/systemd/netif/leases/%s" % index
    if index and os.path.isfile(networkd):
        leases.append(ad.networkd_lease(read_text(networkd), networkd, os.stat(networkd).st_mtime))
        client = client or "networkd"
    if method == "unknown" and leases:
        method = "dhcp"
    if main.get("dynamic") and method == "unknown":
        method = "dhcp"
    events = ad.journal_events(_journal(probes, ["-t", "dhclient", "-t", "systemd-networkd",
                                                 "--since", p["journal_since"]]))
    route = probes.run("ip route", [ip, "-j", "route", "show", "default"]) if ip else None
    # The addresses section of the inventory's discovered block, as host_facts reports it, so the review
    # writes the addresses (and their history) back as gather_facts would.
    facts = {"homelab_discovered": {
        "addresses": addresses, "default_route": hf.parse_ip_route_default(route) if route else None,
        "ip_config": [{"interface": iface, "method": method, "manager": manager,
                       "lease_expires": leases[-1]["expires"] if leases else None}] if iface else []}}
    local = {"interface": iface, "mac": mac, "address": main.get("address"), "prefix": main.get("prefix"),
             "method": method, "manager": manager, "client": client, "config_source": source,
             "leases": leases[-20:], "events": events,
             "skipped": ["%s: %s" % (e["probe"], e["message"]) for e in probes.errors]}
    return local, facts


def _server(module, probes):
    p = module.params
    mac = (p["mac"] or "").lower()
    conf = probes.files("dnsmasq config", sorted(glob.glob(p["conf_glob"])))
    leases = []
    if os.path.isfile(p["leases_path"]):
        leases = ad.dnsmasq_leases(read_text(p["leases_path"]), p["leases_path"])
    argv = []
    for unit in p["units"]:
        argv += ["-u", unit]
    events = ad.journal_events(_journal(probes, argv + ["--since", p["journal_since"]]), mac=mac)
    mine = [x for x in leases if x["mac"] == mac]
    addresses = {x["address"] for x in mine} | {e["address"] for e in events if e.get("address")}
    return {"reservations": ad.dnsmasq_reservations(conf),
            # Its own leases, and whoever holds an address it had: a guest that took it is the evidence.
            "leases": mine + [x for x in leases if x["mac"] != mac and x["address"] in addresses],
            "events": events, "searched": "dhcp-host= lines of %s" % p["conf_glob"],
            "skipped": ["%s: %s" % (e["probe"], e["message"]) for e in probes.errors]}


def _call(module, url):
    headers = {"Authorization": oauth_header(module.params["api_key"], uuid.uuid4().hex, int(time.time())),
               "Accept": "application/json"}
    resp = open_url(url, method="GET", headers=headers, timeout=module.params["timeout"])
    return json.loads(resp.read() or b"[]")


def _maas(module):
    p = module.params
    try:
        machines = _call(module, node_url(p["api_url"], "machines", p["mac"]))
        devices = _call(module, node_url(p["api_url"], "devices", p["mac"]))
    except MaasKeyError as err:
        return {"status": "error: the MAAS API key is not valid: %s" % err}
    except Exception as err:  # urllib's and socket's errors alike: the report says MAAS did not answer
        return {"status": "error: MAAS API %s did not answer: %s" % (p["api_url"], ad.text(err, 200))}
    return lookup(machines, devices, p["mac"], source="MAAS API %s" % p["api_url"])


def _report(module):
    p = module.params
    dns = {"name": p["fqdn"], "server": p["dns_server"] or None, "addresses": [], "error": None}
    if not p["dns_server"] or not p["fqdn"]:
        dns["error"] = "no DNS server to ask"
    else:
        try:
            dns["addresses"] = ad.resolve(p["dns_server"], p["fqdn"], p["dns_port"], float(p["timeout"]))
        except (OSError, ValueError) as err:
            dns["error"] = ad.text(err, 200) or "no answer"
    now = ad.iso(datetime.datetime.now(datetime.timezone.utc))
    report, proposals = ad.assess(p["host"], p["documented"] or {}, p["local"] or {}, p["dhcp"] or {}, p["server"],
                                  p["maas"], dns, now, p["routers"])
    return report, proposals


def main():
    module = AnsibleModule(
        argument_spec={
            "part": {"type": "str", "choices": ["host", "server", "maas", "report"], "required": True},
            "mac": {"type": "str"},
            "leases_path": {"type": "str", "default": "/var/lib/misc/dnsmasq.leases"},
            "conf_glob": {"type": "str", "default": "/etc/dnsmasq.d/*.conf"},
            "units": {"type": "list", "elements": "str", "default": ["dnsmasq-dhcp", "dnsmasq"]},
            "journal_since": {"type": "str", "default": "7 days ago"},
            "api_url": {"type": "str"},
            "api_key": {"type": "str", "no_log": True},
            "host": {"type": "str"},
            "documented": {"type": "dict"},
            "local": {"type": "dict"},
            "dhcp": {"type": "dict"},
            "server": {"type": "dict"},
            "maas": {"type": "dict"},
            "dns_server": {"type": "str", "default": ""},
            "dns_port": {"type": "int", "default": 53},
            "fqdn": {"type": "str"},
            "routers": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "int", "default": 10},
        },
        required_if=[("part", "server", ["mac"]), ("part", "maas", ["mac", "api_url", "api_key"]),
                     ("part", "report", ["host", "local"])],
        supports_check_mode=True,
    )
    part = module.params["part"]
    probes = Probes(module, module.params["timeout"])
    if part == "host":
        local, facts = _host(module, probes)
        module.exit_json(changed=False, local=local, ansible_facts=facts)
    if part == "server":
        module.exit_json(changed=False, server=_server(module, probes))
    if part == "maas":
        module.exit_json(changed=False, maas=_maas(module))
    report, proposals = _report(module)
    module.exit_json(changed=False, address=report, proposals=proposals)


if __name__ == "__main__":
    main()
