#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: maas_reservation
short_description: Reserve an address for a MAC in MAAS, and make the host's name resolve to it
description:
  - Looks the address up through MAAS's API (C(GET ipaddresses/?ip=)) and reserves it for O(mac) with
    the host's name (C(POST ipaddresses/ op=reserve)) when MAAS does not hold it yet; fails, changing
    nothing, when MAAS gives it to another MAC or holds it otherwise.
  - With O(dns), then makes O(hostname).O(domain) resolve to the address (a DNS resource), as
    homelab.ops.maas_dns does.
  - Authenticates with OAuth 1.0 PLAINTEXT from the API key. Under C(--check) it only reads,
    and reports what it would change with a diff.
options:
  hostname:
    description: The host's name, without the domain.
    type: str
    required: true
  domain:
    description: The DNS domain of the host's name.
    type: str
    required: true
  mac:
    description: The MAC address of the host's NIC.
    type: str
    required: true
  address:
    description: The IPv4 address to reserve.
    type: str
    required: true
  dns:
    description: Whether the name is made to resolve to the address too.
    type: bool
    default: true
attributes:
  check_mode:
    description: Reads only; reports the change it would make.
    support: full
  diff_mode:
    description: The reservation and the name before and after.
    support: full
extends_documentation_fragment:
  - homelab.ops.maas_api
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Reserve 192.168.4.23 for k3s-vm-chief-horse
  homelab.ops.maas_reservation:
    api_url: http://maas:5240/MAAS
    api_key: "{{ lookup('ansible.builtin.env', 'MAAS_API_KEY') }}"
    hostname: k3s-vm-chief-horse
    domain: maas
    mac: "bc:24:11:5e:2a:17"
    address: 192.168.4.23
"""

RETURN = r"""
ip_action:
  description: reserve or none.
  returned: success
  type: str
dns_action:
  description: create, update or none (none also when O(dns) is false).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils import dnsmasq_reservations, maas_dns, maas_ip
from ansible_collections.homelab.ops.plugins.module_utils.maas_api import call


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "api_url": {"type": "str", "required": True},
            "api_key": {"type": "str", "required": True, "no_log": True},
            "hostname": {"type": "str", "required": True},
            "domain": {"type": "str", "required": True},
            "mac": {"type": "str", "required": True},
            "address": {"type": "str", "required": True},
            "dns": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    p = module.params
    bad = dnsmasq_reservations.unsafe_input(p["mac"], p["address"])
    if bad:
        module.fail_json(msg=f"Nothing was reserved for {p['hostname']}: {bad}.")
    fqdn = f"{p['hostname']}.{p['domain']}"
    try:
        maas_dns.parse_api_key(p["api_key"])
        ip_plan = maas_ip.decide(call(module, "GET", maas_ip.ipaddresses_url(p["api_url"], p["address"])) or [],
                                 p["address"], p["mac"])
    except (maas_dns.MaasKeyError, maas_ip.ReservationConflict) as err:
        module.fail_json(msg=f"{p['address']} was not reserved for {p['hostname']} ({p['mac']}): {err}; "
                         "nothing was changed")
    if ip_plan["action"] == "reserve" and not module.check_mode:
        call(module, "POST", maas_ip.ipaddresses_url(p["api_url"]),
             {"op": "reserve", "ip": p["address"], "mac": p["mac"].lower(), "hostname": p["hostname"]})
    dns_plan = {"action": "none", "ids": [], "before": [], "after": []}
    if p["dns"]:
        found = call(module, "GET", maas_dns.resources_url(p["api_url"], fqdn=fqdn)) or []
        dns_plan = maas_dns.decide(found, fqdn, p["address"], "present")
        if not module.check_mode and dns_plan["action"] == "create":
            call(module, "POST", maas_dns.resources_url(p["api_url"]), {"fqdn": fqdn, "ip_addresses": p["address"]})
        elif not module.check_mode and dns_plan["action"] == "update":
            call(module, "PUT", maas_dns.resources_url(p["api_url"], dns_plan["ids"][0]),
                 {"ip_addresses": p["address"]})

    def state(ip_macs: list, names: list) -> str:
        held = f"{p['address']} reserved for {', '.join(ip_macs)}" if ip_macs else f"{p['address']} not reserved"
        return f"{held}\n{fqdn} -> {', '.join(names) or '(none)'}\n" if p["dns"] else held + "\n"

    module.exit_json(
        changed=ip_plan["action"] != "none" or dns_plan["action"] != "none",
        ip_action=ip_plan["action"], dns_action=dns_plan["action"],
        diff={"before": state(ip_plan["before"], dns_plan["before"]),
              "after": state(ip_plan["after"], dns_plan["after"])},
    )


if __name__ == "__main__":
    main()
