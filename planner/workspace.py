"""The workspace a command works in: the project, its state directory and the inventory.

Every command that reads or writes the homelab starts here, so the rule for
which inventory is meant (``--inventory``, then ``$HOMELAB_INVENTORY``, then
the project's ``inventory/``) lives in one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from planner.paths import project_root, state_dir
from planner.plans.stepcheck import PlanValidationError


def chosen_inventory(inventory: str | None = None) -> Path:
    """``--inventory``, else ``$HOMELAB_INVENTORY``, else the project's ``inventory/`` (which may not exist)."""
    chosen = inventory or os.environ.get("HOMELAB_INVENTORY")
    # The project root is looked for only when it is needed: an inventory named outright can be checked anywhere.
    return Path(chosen).resolve() if chosen else project_root() / "inventory"


@dataclass(frozen=True)
class Workspace:
    """The project, its state directory and the inventory plans run against."""

    root: Path
    state: Path
    inventory: Path

    @classmethod
    def find(cls, inventory: str | None = None) -> Workspace:
        """``--inventory``, else ``$HOMELAB_INVENTORY``, else the project's ``inventory/``."""
        root = project_root()
        inv = chosen_inventory(inventory)
        if not inv.exists():
            raise PlanValidationError(f"no inventory at {inv}",
                                      "give --inventory DIR (the lab's is .homelab/lab/inventory)")
        return cls(root, state_dir(root), inv)

    def playbook(self, entry_id: str) -> Path:
        """The playbook file of a catalog entry."""
        return self.root / "playbooks" / f"{entry_id}.yml"
