#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

# The work is done by the action plugin of the same name, on the controller; this file carries its
# documentation (as ansible.builtin.debug's does).

from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_assessment
short_description: Assess a LAN upgrade to a faster link speed from documented and discovered NICs
description:
  - Runs on the controller (an action plugin) and reads every host's hostvars - the documented C(hardware.nics)
    with the switch each plugs into, C(hypervisor), the groups, C(network_devices) - and the NICs
    C(homelab.ops.host_facts) found in this play.
  - Classifies every device and link against the target (ready, held back by a switch port or cable, needs a NIC,
    switch to replace), says where documentation and discovery disagree, and plans migration waves that keep
    at most one k3s server down at a time and the DHCP/DNS host on its own.
  - Changes nothing, anywhere; runs unchanged under C(--check).
options:
  target_speed_mbps:
    description: The link speed to reach, in Mbps.
    type: int
    default: 2500
  defer_hosts:
    description: Hosts whose work waits for a later window; a hypervisor of a deferred VM waits with it.
    type: list
    elements: str
    default: []
  window:
    description: When the person can do the work, as said; shown in the report.
    type: str
    default: ""
  defer_window:
    description: When the deferred work happens, as said.
    type: str
    default: ""
  document:
    description: The name the report's markdown document is filed under (docs/reports/NAME-DATE.md).
    type: str
    default: network-upgrade
extends_documentation_fragment:
  - homelab.ops.read_only
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Assess the upgrade to 2.5GbE
  homelab.ops.network_assessment:
    target_speed_mbps: 2500
  run_once: true
  register: assessment
"""

RETURN = r"""
assessment:
  description: Devices, links, disagreements, waves and the person's steps.
  returned: always
  type: dict
document:
  description: The markdown report and its manual steps ({name, markdown, manual}).
  returned: always
  type: dict
"""
