#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: link_check
short_description: Judge each NIC's negotiated link against a target speed, with counters and the likely cause
description:
  - Takes the NICs that M(homelab.ops.host_facts) found, reads each one's error and drop counters
    (C(/sys/class/net/IFACE/statistics) and C(ethtool -S IFACE) where it answers) and compares them
    with the baseline file recorded before the work, when there is one.
  - Says for every NIC whether it reached O(target_speed_mbps) and, when it did not, the likely
    cause - the NIC itself, the other end (a documented switch port below the target), the cable
    (both ends do more but it linked lower, or at 100/10 Mbps) or auto-negotiation (half duplex,
    unknown speed). Paravirtual NICs are reported as following their hypervisor.
  - Read-only. It never changes the host, so it reports C(changed=false) and runs unchanged under C(--check).
options:
  nics:
    description: The host's NICs as M(homelab.ops.host_facts) returns them (C(homelab_discovered.nics)).
    type: list
    elements: dict
    required: true
  target_speed_mbps:
    description: The link speed each NIC should have reached, in Mbps.
    type: int
    default: 2500
  documented_nics:
    description: The inventory's C(hardware.nics) entries for this host (C(name), C(supported_mbps), C(switch)).
    type: list
    elements: dict
    default: []
  network_devices:
    description: The inventory's documented C(network_devices) (C(port_speed_mbps), C(uplink)).
    type: dict
    default: {}
  hypervisor:
    description: The host this VM runs on, when it is one.
    type: str
  host:
    description: The host's inventory name, to begin each summary line with.
    type: str
    default: ""
  baseline_path:
    description: The baseline file to compare counters and speeds with; absent means no comparison.
    type: path
    default: /var/lib/homelab/network-upgrade/baseline.json
extends_documentation_fragment:
  - homelab.ops.read_only
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Judge every link against 2.5GbE
  homelab.ops.link_check:
    nics: "{{ ansible_facts['homelab_discovered']['nics'] }}"
    target_speed_mbps: 2500
    documented_nics: "{{ hardware['nics'] | default([]) }}"
    network_devices: "{{ network_devices | default({}) }}"
"""

RETURN = r"""
links:
  description: One entry per NIC (software interfaces left out).
  returned: always
  type: list
  elements: dict
  sample:
    - {host: "", name: enp4s0, speed_mbps: 1000, duplex: full, status: below, cause: other_end,
       reason: "likely the other end: sw-core's ports are documented at 1000 Mbps",
       counters: {rx_errors: 0, tx_errors: 0, rx_dropped: 0, tx_dropped: 0}, counters_grown: {}}
summary:
  description: One line per NIC, for people.
  returned: always
  type: list
  elements: str
baseline_found:
  description: Whether the baseline file was there to compare with.
  returned: always
  type: bool
ethtool_stats:
  description: Per NIC, the driver counters C(ethtool -S) printed (empty where it does not answer).
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.link_check import (
    COUNTERS,
    check_host,
    load_baseline,
    parse_ethtool_stats,
)

SYS_CLASS_NET = "/sys/class/net"


def read_counters(name, root=SYS_CLASS_NET):
    """{counter: int or None} from /sys/class/net/NAME/statistics."""
    found = {}
    for counter in COUNTERS:
        try:
            with open(os.path.join(root, name, "statistics", counter), encoding="ascii") as f:
                found[counter] = int(f.read().strip())
        except (OSError, ValueError):
            found[counter] = None
    return found


def read_baseline(path):
    try:
        with open(path, encoding="utf-8") as f:
            return load_baseline(f.read(1024 * 1024))
    except OSError:
        return None


def main():
    module = AnsibleModule(
        argument_spec={
            "nics": {"type": "list", "elements": "dict", "required": True},
            "target_speed_mbps": {"type": "int", "default": 2500},
            "documented_nics": {"type": "list", "elements": "dict", "default": []},
            "network_devices": {"type": "dict", "default": {}},
            "hypervisor": {"type": "str"},
            "host": {"type": "str", "default": ""},
            "baseline_path": {"type": "path", "default": "/var/lib/homelab/network-upgrade/baseline.json"},
        },
        supports_check_mode=True,
    )
    p = module.params
    ethtool = module.get_bin_path("ethtool", required=False)
    counters, stats = {}, {}
    for nic in p["nics"]:
        name = nic.get("name")
        if not name or nic.get("virtual"):
            continue
        counters[name] = read_counters(name)
        stats[name] = {}
        if ethtool:
            rc, out, _unused = module.run_command([ethtool, "-S", name], environ_update={"LC_ALL": "C"})
            if rc == 0:
                stats[name] = parse_ethtool_stats(out)
        # Where sysfs has no statistics, ethtool's counters of the same name stand in.
        for counter in COUNTERS:
            if counters[name][counter] is None and counter in stats[name]:
                counters[name][counter] = stats[name][counter]
    baseline = read_baseline(p["baseline_path"])
    links = check_host(p["nics"], counters, p["documented_nics"], p["network_devices"], p["target_speed_mbps"],
                       hypervisor=p["hypervisor"], baseline=baseline, host=p["host"])
    module.exit_json(changed=False, links=links, summary=[link["summary"] for link in links],
                     baseline_found=baseline is not None, ethtool_stats=stats)


if __name__ == "__main__":
    main()
