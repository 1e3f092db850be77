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
    """The directory for plans, locks and the lab's runtime files, git-ignored but for the approval policy."""
    return root / STATE_NAME


#: The state directory's name: everything the tool creates below it is the owner's alone.
STATE_NAME = ".homelab"


def private_dir(directory: Path) -> Path:
    """Create ``directory`` (and its parents) owner-only, whatever the umask, and return it.

    State holds plans with diffs of the hosts' files, run artifacts and lab keys: other users of
    the machine must not read it. Directories from the state directory down to ``directory`` are
    made (or tightened, when an older version left them looser) 0700.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    parts = directory.parts
    start = parts.index(STATE_NAME) + 1 if STATE_NAME in parts else len(parts)
    for end in range(start, len(parts) + 1):
        path = Path(*parts[:end])
        if not path.is_symlink() and path.stat().st_mode & 0o777 != 0o700:
            path.chmod(0o700)
    return directory


def private_file(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC, *,
                 in_private_dir: bool = False) -> int:
    """Open (creating) ``path`` owner-only (0600, whatever the umask) in an owner-only directory; a descriptor.

    ``in_private_dir``: the caller made ``path.parent`` with :func:`private_dir` already (a run writes
    hundreds of event files into one directory; checking it again for each costs a stat per level)."""
    if not in_private_dir:
        private_dir(path.parent)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through os.open, and the umask may be odd
    return fd


def tighten(top: Path) -> None:
    """Make everything below ``top`` owner-only (0700 directories, 0600 files); links are left alone.

    For trees a library writes with its own modes (ansible-runner's artifacts).
    """
    for dirpath, dirs, files in os.walk(top):
        for name in dirs:
            if not os.path.islink(os.path.join(dirpath, name)):
                os.chmod(os.path.join(dirpath, name), 0o700)
        for name in files:
            if not os.path.islink(os.path.join(dirpath, name)):
                os.chmod(os.path.join(dirpath, name), 0o600)
    if top.is_dir() and not top.is_symlink():
        top.chmod(0o700)


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


def files_below(directory: Path, limit: int = 100_000) -> list[Path]:
    """Every file below ``directory``, in name order, following symlinked directories as Ansible does.

    An inventory may be a directory of links to another one's entries; each real directory is walked
    once (a link loop ends there) and at most ``limit`` files are listed.
    """
    found: list[Path] = []
    seen: set[str] = set()
    for top, dirs, files in os.walk(directory, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        found.extend(Path(top) / name for name in sorted(files))
        if len(found) >= limit:
            break
    return found[:limit]
