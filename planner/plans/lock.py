"""One apply per inventory at a time.

An exclusive ``flock`` on ``.homelab/locks/apply-<inventory>.lock``: the
kernel releases it when the holder dies, however it dies, so a lock left by
a dead process can never block anyone. The file also records who holds it
(pid, plan, start time) so a refused apply can name the holder, and so the
next holder can say it cleared a dead one's lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planner.errors import ExitCode, HomelabError
from planner.paths import private_file
from planner.plans.planfile import now


class LockHeldError(HomelabError):
    """Another apply holds the inventory's lock."""

    exit_code = ExitCode.REFUSED


@contextmanager
def waiting_lock(path: Path) -> Iterator[None]:
    """Wait for, then hold, an exclusive lock on ``path`` (created if missing) for the block.

    For work that is short and must simply not run twice at once (a lab's up/down, a root
    filesystem build); the kernel drops the lock if the holder dies.
    """
    with os.fdopen(private_file(path), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def lock_path(state: Path, inventory: Path) -> Path:
    """The lock file for one inventory (by its resolved path)."""
    key = hashlib.sha256(str(inventory.resolve()).encode()).hexdigest()[:12]
    return state / "locks" / f"apply-{key}.lock"


@contextmanager
def apply_lock(state: Path, inventory: Path, plan_id: str, notice=lambda msg: None) -> Iterator[None]:
    """Hold the inventory's apply lock for the duration of the block."""
    path = lock_path(state, inventory)
    fd = private_file(path, os.O_RDWR | os.O_CREAT)
    with os.fdopen(fd, "r+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fh)
            raise LockHeldError(
                f"another apply is running on this inventory: pid {holder.get('pid', '?')}, plan "
                f"{holder.get('plan', '?')}, since {holder.get('started_at', '?')}",
                "wait for it to finish (one apply per inventory at a time)") from None
        previous = _read(fh)
        if previous.get("pid") and previous.get("pid") != os.getpid():
            notice(f"cleared the lock left by pid {previous['pid']} (plan {previous.get('plan')}), which is no"
                   " longer running")
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "plan": plan_id, "started_at": now()}))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _holder(fh, wait: float = 2.0) -> dict:
    """The holder's record, given ``wait`` seconds to appear.

    The holder writes it just after taking the lock, so an apply refused in between would
    read an empty file and could not name the holder; a busy machine can stretch that gap to
    a noticeable fraction of a second. Bounded, so a record that never comes (a holder
    killed right after locking) still ends in a refusal.
    """
    deadline = time.monotonic() + wait
    while True:
        holder = _read(fh)
        if holder.get("pid") or time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


def _read(fh) -> dict:
    fh.seek(0)
    try:
        data = json.loads(fh.read() or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
