# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Action plugin for homelab.ops.network_assessment: reads hostvars on the controller, changes nothing.

The assessment itself is module_utils/network_assessment.py (pure Python, unit-tested on its own);
this is only the glue that collects its inputs from the play's hostvars.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.ops.plugins.module_utils.network_assessment import assess
from ansible_collections.homelab.ops.plugins.plugin_utils.hostvars import plain as _plain
from ansible_collections.homelab.ops.plugins.plugin_utils.hostvars import validated_args

_SPEC = {
    "target_speed_mbps": {"type": "int", "default": 2500},
    "defer_hosts": {"type": "list", "elements": "str", "default": []},
    "window": {"type": "str", "default": ""},
    "defer_window": {"type": "str", "default": ""},
    "document": {"type": "str", "default": "network-upgrade"},
}


class ActionModule(ActionBase):
    """Assess the upgrade of the LAN to a target link speed from every host's documented and discovered NICs."""

    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = validated_args(self._task.args, _SPEC)
        if args["target_speed_mbps"] <= 0:
            raise AnsibleActionFail("target_speed_mbps must be a positive number of Mbps")
        hostvars = task_vars.get("hostvars") or {}
        groups = _plain(task_vars.get("groups") or {})
        reached = set(task_vars.get("ansible_play_hosts") or [])
        hosts = {}
        for name in groups.get("all", []):
            hv = hostvars[name]
            facts = _plain(hv.get("ansible_facts") or {}) if name in reached else {}
            found = (facts.get("homelab_discovered") or {}).get("nics")
            hosts[name] = {"hardware": _plain(hv.get("hardware") or {}), "hypervisor": _plain(hv.get("hypervisor")),
                           "discovered_nics": found if isinstance(found, list) else None}
        network_devices = _plain(task_vars.get("network_devices") or {})
        found = assess(hosts, {k: v for k, v in groups.items() if k not in ("all", "ungrouped")}, network_devices,
                       args["target_speed_mbps"], args["defer_hosts"], args["window"], args["defer_window"])
        document = {"name": args["document"], "markdown": found.pop("markdown"), "manual": found["manual"]}
        result.update(changed=False, assessment=found, document=document, msg=found["summary"])
        return result
