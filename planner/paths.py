"""Where things live: the project root, its state directory and the shared cache."""

from __future__ import annotations

import os
from pathlib import Path

from planner.errors import ExitCode, HomelabError

#: Files that mark the root of a homelab-planner project.
_ROOT_MARKERS = ("playbooks", "inventory")


def project_root(start: Path | None = None) -> Path:
    """Return the project root: ``$HOMELAB_ROOT`` or the nearest parent holding playbooks/ and inventory/."""
    env = os.environ.get("HOMELAB_ROOT")
    if env:
        root = Path(env).resolve()
        # A mistyped HOMELAB_ROOT must not look like an empty project (no plans, an empty catalog).
        wrong = ("does not exist" if not root.is_dir() else "is not a homelab-planner project (it has no playbooks/)"
                 if not (root / "playbooks").is_dir() else None)
        if wrong:
            raise HomelabError(f"HOMELAB_ROOT={env} {wrong}",
                               "set HOMELAB_ROOT to the project checkout (the directory holding playbooks/), "
                               "or unset it to use the checkout you are in")
        return root
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


class BlockedDirError(HomelabError):
    """A directory the tool writes into cannot be made: a file (or something else) sits where it belongs."""

    exit_code = ExitCode.ENVIRONMENT


def require_dirs(*directories: Path) -> None:
    """Refuse before anything is written when a directory a command will create is blocked.

    Checks each directory and its parents without creating anything: the nearest one that exists must
    be a directory (``.homelab`` or ``.homelab/plans`` left as a regular file would otherwise end in a
    FileExistsError traceback halfway through a command).
    """
    for directory in directories:
        for candidate in (directory, *directory.parents):
            if candidate.exists() or candidate.is_symlink():
                if not candidate.is_dir():
                    raise BlockedDirError(f"{candidate} is not a directory, but homelab keeps its state there",
                                          f"move or remove {candidate} (it is not the tool's), then run the "
                                          "command again")
                break


def cache_dir() -> Path:
    """Cache shared by every checkout on this machine (the lab's root filesystem)."""
    env = os.environ.get("HOMELAB_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "homelab-planner"
