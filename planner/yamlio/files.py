"""Write-back into a YAML file on disk: read byte for byte, edit surgically, replace atomically."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from planner.yamlio import Location
from planner.yamlio.edit import _edit
from planner.yamlio.patch import _DELETE
from planner.yamlio.text import YamlEditError

__all__ = ["batch", "delete_in_file", "edit_file", "set_in_file", "update_in_file"]


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
    # Write through a symlink to the file it names, so the link stays a link.
    target = Path(os.path.realpath(path))
    pending = _BATCH.get()
    if pending is not None and pending.waiting(target):
        pending.flush()  # its new version waits for its rename: read that one, not the old
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
    new = _quick_update(text, edits, unsafe, make) if existed else None
    if new is None:
        new = text
        for key_path, value in edits:
            new = _edit(new, key_path, value, unsafe=unsafe, display=str(path), make=make)
    if existed and new == text:
        return False
    _atomic_write(target, new)
    return True


def _quick_update(text: str, edits: list[tuple[tuple, Any]], unsafe: bool,
                  make: Callable[[Any], Any] | None) -> str | None:
    """A read-modify-write of one top-level block (the facts write-back) through :mod:`planner.yamlio.block`:
    the block replaced whole, checked by libyaml's reading; None where that path is unsure."""
    from planner.yamlio.block import Unsure, update

    if make is None or len(edits) != 1 or len(edits[0][0]) != 1 or not isinstance(edits[0][0][0], str):
        return None
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    try:
        return bom + update(text[len(bom):], edits[0][0][0], make, unsafe=unsafe)
    except Unsure:
        return None


def _atomic_write(target: Path, text: str) -> None:
    """Replace the file ``target`` (a real path, no symlink) with ``text``, atomically."""
    mode = None
    with contextlib.suppress(FileNotFoundError):
        mode = target.stat().st_mode & 0o7777
    pending = _BATCH.get()
    if pending is not None:
        pending.add(target, text, mode)
        return
    _sweep(target.parent, target.name)
    tmp = _tmp_name(target)
    # An unnamed file (O_TMPFILE) gets its name only once its bytes are complete, so a writer killed while
    # writing (SIGKILL runs no cleanup) leaves nothing behind; where there is none, a named one.
    fd = _unnamed_file(target.parent)
    named = fd is None
    if fd is None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies to new files
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            _fill(fh, text, mode)
            os.fsync(fh.fileno())
            if not named:
                _give_name(fh.fileno(), tmp, text, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_directory(target.parent)


def _tmp_name(target: Path) -> Path:
    """The temporary name beside ``target``: it carries the writer's pid, for :func:`_sweep`."""
    return target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def _sync_directory(directory: Path) -> None:
    """Make the renames into ``directory`` durable."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2): every dirty byte of the file system holding a descriptor, in one call; None elsewhere."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int]
    call.restype = ctypes.c_int
    return call


class Batch:
    """The files written in one :func:`batch`, their renames held back until their bytes are durable together.

    Each new version is written complete into a file with no name yet (O_TMPFILE; a named temporary file where
    there is none) and is not synced alone: every :data:`_CHUNK` files, and when the batch ends, one syncfs(2)
    makes all their bytes durable, and only then is each named and renamed over its file. A writer killed
    before that leaves every file old (the unnamed files vanish with it); killed among the renames, each file
    is old or new, never partial, and at most one named temporary file is left, which the next write sweeps.
    A file that cannot be renamed into place is recorded in :attr:`failed` and the others go on.
    """

    def __init__(self) -> None:
        self.failed: dict[Path, OSError] = {}
        self._swept: set[Path] = set()
        self._synced: set[Path] = set()
        # target -> (its unnamed file's descriptor, the temporary name, the text and mode, to write it named)
        self._pending: dict[Path, tuple[int | None, Path, str, int | None]] = {}

    def waiting(self, target: Path) -> bool:
        """Whether a new version of ``target`` waits for its rename (a read now would see the old one)."""
        return target in self._pending

    def add(self, target: Path, text: str, mode: int | None) -> None:
        if target in self._pending:
            self.flush()  # a second write of one file: the first is put in place before it
        if target.parent not in self._swept:
            _sweep(target.parent)  # once per directory and batch: a listing per file costs O(files²)
            self._swept.add(target.parent)
        tmp = _tmp_name(target)
        fd = _unnamed_file(target.parent)
        try:
            if fd is None:
                _write_named(tmp, text, mode, sync=False)
            else:
                _write_all(fd, text.encode("utf-8"))
                if mode is not None:
                    os.fchmod(fd, mode)
        except BaseException:
            if fd is not None:
                os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self._pending[target] = (fd, tmp, text, mode)
        if len(self._pending) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        """Make every waiting file's bytes durable, then put each in place."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            _make_durable(pending)
        except OSError as err:  # nothing is renamed: every waiting file keeps its old version
            for target, (fd, tmp, _text, _mode) in pending.items():
                _discard(fd, tmp)
                self.failed[target] = err
            return
        except BaseException:
            for fd, tmp, _text, _mode in pending.values():
                _discard(fd, tmp)
            raise
        proc = _proc()
        try:
            for target, (fd, tmp, text, mode) in pending.items():
                try:
                    if fd is not None:
                        _give_name(fd, tmp, text, mode, proc)
                    os.replace(tmp, target)
                except OSError as err:
                    self.failed[target] = err
                    tmp.unlink(missing_ok=True)
                finally:
                    if fd is not None:
                        os.close(fd)
                    pending[target] = (None, tmp, "", None)  # closed: the error path must not close it again
                self._synced.add(target.parent)
        except BaseException:
            for fd, tmp, _text, _mode in pending.values():
                _discard(fd, tmp)
            raise
        finally:
            if proc is not None:
                os.close(proc)

    def close(self) -> None:
        """Put every waiting file in place, then make the renames durable."""
        try:
            self.flush()
        finally:
            for directory in sorted(self._synced):
                _sync_directory(directory)


def _proc() -> int | None:
    """A descriptor of /proc, to name unnamed files through; None where it cannot be opened."""
    try:
        return os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None


def _make_durable(pending: dict[Path, tuple[int | None, Path, str, int | None]]) -> None:
    """The bytes of every waiting file on disk: one syncfs(2) of their file system, or an fsync each."""
    syncfs = _syncfs()
    devices: set[int] = set()
    for target, (fd, tmp, _text, _mode) in pending.items():
        if syncfs is not None:
            probe = fd if fd is not None else os.open(tmp, os.O_RDONLY)
            try:
                device = os.fstat(probe).st_dev
                if device not in devices:
                    if syncfs(probe) != 0:
                        raise OSError(_errno(), f"syncfs failed for {target.parent}")
                    devices.add(device)
            finally:
                if fd is None:
                    os.close(probe)
        elif fd is not None:
            os.fsync(fd)
        else:
            probe = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(probe)
            finally:
                os.close(probe)


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def _discard(fd: int | None, tmp: Path) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    tmp.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


#: Files a batch holds before it syncs and renames them: few enough open descriptors for any limit.
_CHUNK = 256

#: The current :func:`batch` (None outside one); per thread and task.
_BATCH: contextvars.ContextVar[Batch | None] = contextvars.ContextVar("homelab_write_batch", default=None)


@contextlib.contextmanager
def batch() -> Iterator[Batch]:
    """Many files written together (the facts write-back into every host's file).

    Each file is still replaced atomically, its bytes durable before its rename; what is shared is done once
    per directory or per chunk of files: the sweep for a killed writer's leftovers (before the first write
    there), the sync that makes the bytes durable and the fsync that makes the renames durable. A write
    inside the batch returns once its new version is complete; it is in place when the batch ends (also when
    the batch ends with an error). The :class:`Batch` yielded names the files that could not be put in place.
    """
    current = _BATCH.get()
    if current is not None:
        yield current
        return
    current = Batch()
    token = _BATCH.set(current)
    try:
        yield current
    finally:
        _BATCH.reset(token)
        current.close()


def _unnamed_file(directory: Path) -> int | None:
    """A new file with no name yet in ``directory`` (Linux's O_TMPFILE, named later through /proc), or None."""
    if not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o666)  # the umask applies, as for a named file
    except OSError:  # a filesystem without unnamed files (some network and FUSE ones)
        return None
    return fd


def _fill(fh: Any, text: str, mode: int | None) -> None:
    """Write ``text`` and give the file the old one's mode (the caller makes the bytes durable before any rename)."""
    fh.write(text)
    fh.flush()
    if mode is not None:
        os.fchmod(fh.fileno(), mode)


def _write_named(tmp: Path, text: str, mode: int | None, sync: bool = True) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        _fill(fh, text, mode)
        if sync:
            os.fsync(fh.fileno())


def _give_name(fd: int, tmp: Path, text: str, mode: int | None, proc: int | None = None) -> None:
    """Name the finished unnamed file ``fd`` ``tmp``; where /proc will not name it (a restricted mount), the same
    bytes written to ``tmp`` named from the start, and synced."""
    try:
        _name(fd, tmp, proc)
    except OSError:
        _write_named(tmp, text, mode)


def _name(fd: int, path: Path, proc: int | None = None) -> None:
    """Give the unnamed file ``fd`` the name ``path``: linkat(2) following /proc's link to it, which
    ``os.link`` does only when handed a directory descriptor (without one it hard-links the link itself).
    ``proc`` is an open descriptor of /proc to use (a batch names hundreds of files); else one is opened."""
    own = proc is None
    if proc is None:
        proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"self/fd/{fd}", path, src_dir_fd=proc, follow_symlinks=True)
    finally:
        if own:
            os.close(proc)


def _sweep(directory: Path, name: str | None = None) -> None:
    """Remove the temporary files killed writers left in ``directory`` (beside ``name`` only, when given): the
    name ``.<file>.<pid>.<8 hex>.tmp`` carries the writer's pid, and one whose writer is gone can only be a
    leftover (the rename into place never happened)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            parts = entry.name.rsplit(".", 3)
            if (len(parts) == 4 and parts[0].startswith(".") and parts[3] == "tmp" and parts[1].isdigit()
                    and len(parts[2]) == 8 and (name is None or parts[0] == f".{name}")
                    and not _running(int(parts[1]))):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True
