"""The attributes every read-only module of this collection shares: it runs unchanged in check mode."""

from __future__ import annotations


class ModuleDocFragment:
    """``extends_documentation_fragment: homelab.ops.read_only``."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Runs unchanged in check mode; it only reads.
    support: full
  diff_mode:
    description: Changes nothing, so there is never a diff.
    support: none
"""
