#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dnsmasq_reservation
short_description: Check that an address may be reserved for a MAC on a dnsmasq DHCP server
description:
  - Reads every C(*.conf) file of O(conf_dir) except the host's own reservation file, and dnsmasq's
    lease database, and fails, naming each, when another reservation or an active lease of another
    MAC holds O(address), or another file already reserves another address for O(mac).
  - Run it on the DHCP server before writing the reservation, so that nothing changes when it fails.
options:
  host:
    description: The host the address is reserved for (its inventory name).
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
  conf_dir:
    description: The directory dnsmasq reads its C(*.conf) files from.
    type: path
    default: /etc/dnsmasq.d
  leases:
    description: dnsmasq's lease database.
    type: path
    default: /var/lib/misc/dnsmasq.leases
extends_documentation_fragment:
  - homelab.ops.read_only
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Check that 192.168.4.23 is free for k3s-vm-chief-horse
  homelab.ops.dnsmasq_reservation:
    host: k3s-vm-chief-horse
    mac: "bc:24:11:5e:2a:17"
    address: 192.168.4.23
"""

RETURN = r"""
path:
  description: The host's reservation file, which the check leaves out (it is the one to be written).
  returned: success
  type: str
"""

import glob
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.dnsmasq_reservations import conflicts, unsafe_input


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "required": True},
            "mac": {"type": "str", "required": True},
            "address": {"type": "str", "required": True},
            "conf_dir": {"type": "path", "default": "/etc/dnsmasq.d"},
            "leases": {"type": "path", "default": "/var/lib/misc/dnsmasq.leases"},
        },
        supports_check_mode=True,
    )
    p = module.params
    bad = unsafe_input(p["mac"], p["address"])
    if bad:
        module.fail_json(msg="Nothing was reserved for %s: %s." % (p["host"], bad))
    own = os.path.join(p["conf_dir"], "60-homelab-address-%s.conf" % p["host"])
    others = {path: _read(path) for path in sorted(glob.glob(os.path.join(p["conf_dir"], "*.conf"))) if path != own}
    problems = conflicts(p["host"], p["mac"], p["address"], others, _read(p["leases"]), int(time.time()))
    if problems:
        module.fail_json(msg="%s cannot be reserved for %s (%s): %s. Nothing was changed; free the address on the "
                         "DHCP server or correct lan_ip in the host's host_vars." % (
                             p["address"], p["host"], p["mac"], "; ".join(problems)), conflicts=problems)
    module.exit_json(changed=False, path=own)


if __name__ == "__main__":
    main()
