# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""What the collection's action plugins share: they run on the controller and read hostvars.

Controller-side only (the action plugins import it; no module ships it to a host).
"""

from __future__ import annotations

from typing import Any, Dict

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator


def plain(value: Any) -> Any:
    """Hostvars' lazy, unsafe-wrapped values as plain dicts, lists and scalars."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def validated_args(args: Dict[str, Any], spec: Dict[str, Any]) -> Dict[str, Any]:
    """The task's arguments checked against ``spec`` (with its defaults), or the run fails naming what is wrong."""
    checked = ArgumentSpecValidator(spec).validate(args)
    if checked.error_messages:
        raise AnsibleActionFail("; ".join(checked.error_messages))
    return checked.validated_parameters
