#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iperf_client
short_description: Measure TCP throughput to an iperf3 server and judge it against a target speed
description:
  - Runs C(iperf3 --client SERVER --json) for O(seconds) seconds and returns the received
    throughput in Mbps, with whether it reached O(target_speed_mbps) (90% of it counts, since
    TCP tops out near 94% of a link's line rate).
  - Changes nothing on the host; it sends test traffic, so run it only where that is welcome.
    It runs unchanged under C(--check).
options:
  server:
    description: Address of the iperf3 server.
    type: str
    required: true
  bind:
    description: Local address to send from (the client host's own address).
    type: str
  port:
    description: The server's TCP port.
    type: int
    default: 5201
  seconds:
    description: How long to send, in seconds.
    type: int
    default: 5
  target_speed_mbps:
    description: The throughput expected, in Mbps.
    type: int
    default: 2500
extends_documentation_fragment:
  - homelab.ops.read_only
requirements:
  - iperf3 (Debian's package) on the host
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Measure throughput to still-fawn
  homelab.ops.iperf_client:
    server: 192.168.4.11
    seconds: 5
    target_speed_mbps: 2500
"""

RETURN = r"""
mbps:
  description: Received throughput in Mbps.
  returned: success
  type: int
retransmits:
  description: TCP retransmissions the sender counted (null when iperf3 does not say).
  returned: success
  type: int
reached:
  description: Whether the throughput reached 90% of the target.
  returned: success
  type: bool
summary:
  description: One line for people.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.link_check import throughput


def main():
    module = AnsibleModule(
        argument_spec={
            "server": {"type": "str", "required": True},
            "bind": {"type": "str"},
            "port": {"type": "int", "default": 5201},
            "seconds": {"type": "int", "default": 5},
            "target_speed_mbps": {"type": "int", "default": 2500},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not 1 <= p["seconds"] <= 60:
        module.fail_json(msg="seconds must be between 1 and 60, got %d" % p["seconds"])
    iperf3 = module.get_bin_path("iperf3", required=False)
    if not iperf3:
        module.fail_json(msg="iperf3 is not installed on this host; install Debian's iperf3 package")
    argv = [iperf3, "--client", p["server"], "--port", str(p["port"]), "--time", str(p["seconds"]), "--json",
            # A server that never answers must not hold the play: connect within 5 s.
            "--connect-timeout", "5000"]
    if p["bind"]:
        argv += ["--bind", p["bind"]]
    rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C"})
    try:
        result = throughput(out, p["target_speed_mbps"])
    except ValueError as exc:
        module.fail_json(msg="throughput test to %s failed: %s" % (p["server"], exc), rc=rc, stderr=err)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
