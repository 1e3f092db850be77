"""The apply lock: one holder at a time, named when refused, freed when the holder dies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from planner.plans.lock import LockHeldError, apply_lock, lock_path

HOLD = """
import sys, time
from pathlib import Path
from planner.plans.lock import apply_lock
with apply_lock(Path(sys.argv[1]), Path(sys.argv[2]), "held-plan"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_second_holder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    inv = tmp_path / "inventory"
    inv.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), str(inv)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeldError) as info, apply_lock(tmp_path, inv, "mine"):
            pass
        assert f"pid {holder.pid}, plan held-plan" in info.value.message
    finally:
        holder.kill()
        holder.wait()
    notices: list[str] = []
    with apply_lock(tmp_path, inv, "mine", notices.append):
        data = json.loads(lock_path(tmp_path, inv).read_text())
        assert data["plan"] == "mine"
    assert notices and f"pid {holder.pid}" in notices[0]
    assert lock_path(tmp_path, inv).read_text() == ""


TRY = """
import sys
from pathlib import Path
from planner.plans.lock import LockHeldError, apply_lock
try:
    with apply_lock(Path(sys.argv[1]), Path(sys.argv[2]), "intruder"):
        print("acquired")
except LockHeldError as err:
    print("refused:", err.message)
"""


def _try_from_another_process(state: Path, inventory: Path) -> str:
    return subprocess.run([sys.executable, "-c", TRY, str(state), str(inventory)], capture_output=True, text=True,
                          timeout=60, check=True).stdout.strip()


def test_lock_is_per_inventory(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with apply_lock(tmp_path, a, "p1"), apply_lock(tmp_path, b, "p2"):
        # Both held at once, each recording its own holder ...
        assert json.loads(lock_path(tmp_path, a).read_text())["plan"] == "p1"
        assert json.loads(lock_path(tmp_path, b).read_text())["plan"] == "p2"
        # ... and each still excludes a second apply on its inventory, from another process,
        assert _try_from_another_process(tmp_path, a).startswith(f"refused: another apply is running on this "
                                                                  f"inventory: pid {os.getpid()}, plan p1")
        assert "plan p2" in _try_from_another_process(tmp_path, b)
        # ... or from this one, whatever the spelling of the inventory's path.
        with pytest.raises(LockHeldError), apply_lock(tmp_path, b / ".." / "a", "again"):
            pass
        # A third inventory is free meanwhile.
        (tmp_path / "c").mkdir()
        assert _try_from_another_process(tmp_path, tmp_path / "c") == "acquired"
    # Released on leaving the block: the next apply gets it.
    assert _try_from_another_process(tmp_path, a) == "acquired"


LATE = """
import fcntl, json, os, sys, time
from pathlib import Path
from planner.plans.lock import lock_path
path = lock_path(Path(sys.argv[1]), Path(sys.argv[2]))
path.parent.mkdir(parents=True, exist_ok=True)
with open(path, "r+" if path.exists() else "w+") as fh:
    fcntl.flock(fh, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
    if float(sys.argv[3]) < 10:
        fh.write(json.dumps({"pid": os.getpid(), "plan": "late-plan", "started_at": "now"}))
        fh.flush()
    time.sleep(60)
"""


@pytest.mark.parametrize("delay", [0.0, 0.5, 30.0], ids=["at-once", "half-a-second-late", "never"])
def test_a_holder_refused_before_it_wrote_its_record_is_still_named(tmp_path: Path, delay: float) -> None:
    # The holder writes its record just after taking the lock; an apply refused in that gap
    # once read an empty file and said "pid ?". It now waits a bounded moment for the record.
    inv = tmp_path / "inventory"
    inv.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", LATE, str(tmp_path), str(inv), str(delay)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeldError) as info, apply_lock(tmp_path, inv, "mine"):
            pass
    finally:
        holder.kill()
        holder.wait()
    named = f"pid {holder.pid}, plan late-plan" in info.value.message
    assert named if delay < 10 else "pid ?, plan ?" in info.value.message
