# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Action plugin for homelab.ops.gpu_summary: reads hostvars on the controller, changes nothing.

The judging is module_utils/gpu_report.py (pure Python, unit-tested on its own); this is only the
glue that collects each play host's state, as homelab.ops.gpu_report left it, from hostvars.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.homelab.ops.plugins.module_utils.gpu_report import report
from ansible_collections.homelab.ops.plugins.plugin_utils.hostvars import plain, validated_args

_SPEC = {
    "min_free_mib": {"type": "int", "default": 0},
    "min_memory_mib": {"type": "int", "default": 0},
}


class ActionModule(ActionBase):
    """Every play host's GPUs in one report and, with a need given, where the workload fits, ranked."""

    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = validated_args(self._task.args, _SPEC)
        if args["min_free_mib"] < 0 or args["min_memory_mib"] < 0:
            raise AnsibleActionFail("min_free_mib and min_memory_mib are MiB needed: 0 or more")
        hostvars = task_vars.get("hostvars") or {}
        answered = list(task_vars.get("ansible_play_hosts") or [])
        hosts = {}
        for name in answered:
            state = plain((hostvars[name].get("ansible_facts") or {}).get("homelab_gpu_host"))
            if not isinstance(state, dict):
                raise AnsibleActionFail(f"{name}: no homelab_gpu_host fact; run homelab.ops.gpu_report first")
            hosts[name] = state
        missing = [h for h in task_vars.get("ansible_play_hosts_all") or [] if h not in answered]
        found = report(hosts, args["min_free_mib"], args["min_memory_mib"], missing)
        result.update(changed=False, gpus=found, msg=found["headline"])
        return result
