"""Write-back into a YAML file on disk: read byte for byte, edit surgically, replace atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.yamlio import Location
from planner.yamlio.edit import _edit
from planner.yamlio.patch import _DELETE
from planner.yamlio.text import YamlEditError

__all__ = ["delete_in_file", "edit_file", "set_in_file", "update_in_file"]


def set_in_file(path: Path, key_path: tuple, value: Any, *, unsafe: bool = False, header: str | None = None) -> bool:
    """Set ``key_path`` to ``value`` in the file at ``path``; return whether the file was written.

    The file is read and written byte for byte (CRLF stays CRLF) and replaced
    atomically with its mode kept. When nothing changes it is not touched at
    all, so its mtime stays. A missing file is created as ``---`` preceded by
    ``header`` as comment lines.
    """
    return _rewrite(path, [(tuple(key_path), value)], unsafe=unsafe, header=header)


def update_in_file(path: Path, key_path: tuple, make: Callable[[Any], Any], *, unsafe: bool = False,
                   header: str | None = None) -> bool:
    """:func:`set_in_file` of ``make(the value key_path holds now)`` (None when it holds nothing).

    The old value comes from the same single parse the edit is planned on, so a read-modify-write of one
    key (the facts write-back, for every host) costs one parse of the file instead of two.
    """
    return _rewrite(path, [(tuple(key_path), None)], unsafe=unsafe, header=header, make=make)


def edit_file(path: Path, edits: list[tuple[tuple, Any]], *, unsafe: bool = False, header: str | None = None) -> bool:
    """Make several :func:`set_in_file` changes, in order, in one atomic write: the file has all of them or none.
    Each key path is read against the text the edits before it left."""
    return _rewrite(path, [(tuple(k), v) for k, v in edits], unsafe=unsafe, header=header)


def delete_in_file(path: Path, key_path: tuple) -> bool:
    """Remove the key or list item at ``key_path`` from the file at ``path`` (as :func:`set_in_file` writes);
    return whether the file was written. A missing file is left missing."""
    if not path.exists():
        return False
    if not key_path:
        raise YamlEditError("an empty key path names the whole document; it cannot be deleted")
    return _rewrite(path, [(tuple(key_path), _DELETE)], unsafe=False, header=None)


def _rewrite(path: Path, edits: list[tuple[tuple, Any]], *, unsafe: bool, header: str | None,
             make: Callable[[Any], Any] | None = None) -> bool:
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            text = fh.read()
        existed = True
    except UnicodeDecodeError as err:
        raise YamlEditError(f"the file is not UTF-8 text ({err.reason} at byte {err.start})",
                            Location(str(path), 1, 1)) from None
    except FileNotFoundError:
        comments = "".join((line if line.startswith("#") else f"# {line}".rstrip()) + "\n"
                           for line in (header or "").splitlines())
        text, existed = comments + "---\n", False
    new = text
    for key_path, value in edits:
        new = _edit(new, key_path, value, unsafe=unsafe, display=str(path), make=make)
    if existed and new == text:
        return False
    _atomic_write(path, new)
    return True


def _atomic_write(path: Path, text: str) -> None:
    # Write through a symlink to the file it names, so the link stays a link.
    target = Path(os.path.realpath(path))
    mode = None
    with contextlib.suppress(FileNotFoundError):
        mode = target.stat().st_mode & 0o7777
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies to new files
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
