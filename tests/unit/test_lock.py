"""The apply lock: one holder at a time, named when refused, freed when the holder dies."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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
        with pytest.raises(LockHeldError) as info:
            with apply_lock(tmp_path, inv, "mine"):
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


def test_lock_is_per_inventory(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with apply_lock(tmp_path, a, "p1"), apply_lock(tmp_path, b, "p2"):
        time.sleep(0)
