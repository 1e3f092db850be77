# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Filters over systemd unit names, from the rules homelab.ops.process_control applies on the host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: never_limited
short_description: Why a unit gets no resource limits through a plan ("" when it may)
description:
  - The units homelab.ops.process_control never stops (sshd's, systemd's own such as C(init.scope) and
    C(systemd-*)) get no limits either. The same list as the module's, not a copy.
positional: _input
options:
  _input:
    description: A unit name with its suffix.
    type: str
    required: true
author:
  - homelab-planner maintainers
"""

EXAMPLES = r"""
- name: Refuse limits on a unit the tool never touches
  ansible.builtin.assert:
    that: (unit | homelab.ops.never_limited) == ''
"""

RETURN = r"""
_value:
  description: The reason, or the empty string.
  type: str
"""

from ansible_collections.homelab.ops.plugins.module_utils.process_control import never_limited  # noqa: E402


class FilterModule:
    """homelab.ops unit filters."""

    def filters(self):
        return {"never_limited": never_limited}
