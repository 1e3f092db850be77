"""Where things live: the project root, its state directory and the shared cache."""

from __future__ import annotations

import os
from pathlib import Path

from planner.errors import HomelabError

#: Files that mark the root of a homelab-planner project.
_ROOT_MARKERS = ("playbooks", "inventory")


def project_root(start: Path | None = None) -> Path:
    """Return the project root: ``$HOMELAB_ROOT`` or the nearest parent holding playbooks/ and inventory/."""
    env = os.environ.get("HOMELAB_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if all((candidate / marker).is_dir() for marker in _ROOT_MARKERS):
            return candidate
    raise HomelabError(
        f"{here} is not inside a homelab-planner project (no playbooks/ and inventory/ above it)",
        "run homelab from the project checkout, or set HOMELAB_ROOT to it",
    )


def state_dir(root: Path) -> Path:
    """The git-ignored directory for plans, locks and the lab's runtime files."""
    return root / ".homelab"


def cache_dir() -> Path:
    """Cache shared by every checkout on this machine (the lab's root filesystem)."""
    env = os.environ.get("HOMELAB_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "homelab-planner"
