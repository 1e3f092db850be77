#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: uptime_kuma_info
short_description: List Uptime Kuma's monitors, normalised for comparison with the inventory
description:
  - Reads every monitor through the Python package uptime-kuma-api, on the controller
    (delegated to C(localhost)), logged in with the credentials the environment variables
    O(username_env) and O(password_env) hold, and returns them reduced to what the comparison with the
    inventory reads (homelab.ops's monitoring_expected.normalise_monitor). Changes nothing.
options:
  when_unset:
    description:
      - What to do when a credential variable is unset or empty where the module runs.
      - V(fail) fails with the names; V(report) changes nothing and returns them in RV(unset) with no
        monitors, so a play can say that Uptime Kuma was left as it is and go on. The check is made here
        rather than by an C(env) lookup because the module sees the play's C(environment), the lookup only
        the controller's own.
    type: str
    choices: [fail, report]
    default: fail
attributes:
  check_mode:
    description: Reads only, in check mode as in a real run.
    support: full
  diff_mode:
    description: Nothing to show; it changes nothing.
    support: none
extends_documentation_fragment:
  - homelab.ops.uptime_kuma
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Read Uptime Kuma's monitors
  homelab.ops.uptime_kuma_info:
    url: http://uptime-kuma.maas:3001
  delegate_to: localhost
  register: kuma
"""

RETURN = r"""
monitors:
  description: >-
    Every monitor: id, name, type, hostname, port, url, keyword, interval, active, managed (carries the
    managed tag) and key (the tag's value, null when not managed), sorted by id.
  returned: success
  type: list
  elements: dict
unset:
  description: The credential variables that are unset or empty (only with O(when_unset=report)); empty when read.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils import uptime_kuma
from ansible_collections.homelab.ops.plugins.module_utils.monitoring_expected import normalise_monitor


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **uptime_kuma.ARGUMENT_SPEC,
            "when_unset": {"type": "str", "choices": ["fail", "report"], "default": "fail"},
        },
        supports_check_mode=True,
    )
    p = module.params
    unset = uptime_kuma.unset_credentials(p["username_env"], p["password_env"])
    if unset and p["when_unset"] == "report":
        module.exit_json(changed=False, monitors=[], unset=unset)
    try:
        with uptime_kuma.session(p["url"], p["username_env"], p["password_env"], timeout=p["timeout"]) as api:
            monitors = [normalise_monitor(m, p["managed_tag"]) for m in api.get_monitors()]
    except uptime_kuma.KumaError as err:
        module.fail_json(msg=str(err), hint=err.hint)
    module.exit_json(changed=False, monitors=sorted(monitors, key=lambda m: m.get("id") or 0), unset=[])


if __name__ == "__main__":
    main()
