#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: maas_dns
short_description: Make a name resolve to one address in MAAS's DNS (a DNS resource), or remove it
description:
  - Looks up the DNS resources of O(fqdn) through MAAS's API and creates, updates or deletes one
    so that the name gives O(address) (O(state=present)) or nothing (O(state=absent)).
  - Authenticates with OAuth 1.0 PLAINTEXT from the API key. Under C(--check) it only reads,
    and reports what it would change with a diff.
options:
  fqdn:
    description: The name, with its domain.
    type: str
    required: true
  address:
    description: The IPv4 or IPv6 address the name gives.
    type: str
  state:
    description: Whether the name exists.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Reads only; reports the change it would make.
    support: full
  diff_mode:
    description: The addresses before and after.
    support: full
extends_documentation_fragment:
  - homelab.ops.maas_api
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Register ollama-trial.maas
  homelab.ops.maas_dns:
    api_url: http://maas:5240/MAAS
    api_key: "{{ lookup('ansible.builtin.env', 'MAAS_API_KEY') }}"
    fqdn: ollama-trial.maas
    address: 192.168.4.11
"""

RETURN = r"""
action:
  description: create, update, delete or none.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.maas_api import call
from ansible_collections.homelab.ops.plugins.module_utils.maas_dns import (
    MaasKeyError,
    decide,
    resources_url,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "api_url": {"type": "str", "required": True},
            "api_key": {"type": "str", "required": True, "no_log": True},
            "fqdn": {"type": "str", "required": True},
            "address": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "timeout": {"type": "int", "default": 10},
        },
        required_if=[("state", "present", ["address"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        found = call(module, "GET", resources_url(p["api_url"], fqdn=p["fqdn"])) or []
    except MaasKeyError as err:
        module.fail_json(msg=f"the MAAS API key is not valid: {err}")
    plan = decide(found, p["fqdn"], p["address"] or "", p["state"])
    result = {
        "changed": plan["action"] != "none",
        "action": plan["action"],
        "diff": {"before": f"{p['fqdn']} -> {', '.join(plan['before']) or '(none)'}\n",
                 "after": f"{p['fqdn']} -> {', '.join(plan['after']) or '(none)'}\n"},
    }
    if module.check_mode or plan["action"] == "none":
        module.exit_json(**result)
    if plan["action"] == "create":
        call(module, "POST", resources_url(p["api_url"]), {"fqdn": p["fqdn"], "ip_addresses": p["address"]})
    elif plan["action"] == "update":
        call(module, "PUT", resources_url(p["api_url"], plan["ids"][0]), {"ip_addresses": p["address"]})
    else:
        for rid in plan["ids"]:
            call(module, "DELETE", resources_url(p["api_url"], rid))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
