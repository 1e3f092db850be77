# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Action plugin for homelab.ops.network_assessment: reads hostvars on the controller, changes nothing.

The assessment itself is module_utils/network_assessment.py (pure Python, unit-tested on its own);
this is only the glue that collects its inputs from the play's hostvars.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.ops.plugins.module_utils.network_assessment import assess

_SPEC = {
    "target_speed_mbps": {"type": "int", "default": 2500},
    "defer_hosts": {"type": "list", "elements": "str", "default": []},
    "window": {"type": "str", "default": ""},
    "defer_window": {"type": "str", "default": ""},
    "document": {"type": "str", "default": "network-upgrade"},
}


def _plain(value: Any) -> Any:
    """Hostvars' lazy, unsafe-wrapped values as plain dicts, lists and scalars."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


class ActionModule(ActionBase):
    """Assess the upgrade of the LAN to a target link speed from every host's documented and discovered NICs."""

    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        checked = ArgumentSpecValidator(_SPEC).validate(self._task.args)
        if checked.error_messages:
            raise AnsibleActionFail("; ".join(checked.error_messages))
        args = checked.validated_parameters
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
