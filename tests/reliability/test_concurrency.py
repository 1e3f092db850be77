"""Concurrency: one apply or write-back per inventory at a time, and a dead holder never blocks anyone.

Ten commands start at the same instant on one lab inventory: ``homelab apply`` of one reviewed plan and
``homelab facts`` write-backs, each the command's own entry point in a forked child (forked after the
imports, so they really start together). Exactly one runs; every other exits 4 naming the holder's pid.
Then a write-back holding the lock is SIGKILLed (with the Ansible run under it) and the next command
clears its lock and runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from planner.plans.lock import lock_path
from tests.lab import Lab, homelab_in, pid_alive, plan_json, project_on
from tests.reliability.forked import finish, start

APPLIES = 6
WRITE_BACKS = 4
HOST = "maas"


@pytest.fixture(scope="module")
def project(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_on(lab, tmp_path_factory.mktemp("concurrency"))


def test_ten_at_once_exactly_one_runs_and_the_others_name_it(project: Path, tmp_path: Path, figure) -> None:
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", HOST,
                      "-e", "baseline_journald_system_max_use=170M", "--format", "json")
    assert made.rc == 0, made.stderr
    plan_id = plan_json(made)["id"]
    commands = [["apply", plan_id, "--yes"]] * APPLIES + [["facts", "-l", HOST]] * WRITE_BACKS
    pids = {start(project, tmp_path / f"cmd{n}", *commands[n]): n for n in range(len(commands))}
    codes = {pid: finish(pid) for pid in pids}
    errs = {pid: (tmp_path / f"cmd{pids[pid]}.err").read_text() for pid in pids}
    winners = [pid for pid, code in codes.items() if code == 0]
    assert len(winners) == 1, {pids[p]: (codes[p], errs[p][-300:]) for p in pids}
    (winner,) = winners
    holder = "plan facts" if commands[pids[winner]][0] == "facts" else f"plan {plan_id}"
    for pid, code in codes.items():
        if pid == winner:
            continue
        assert code == 4, f"{commands[pids[pid]]}: exit {code}: {errs[pid]}"
        said = " ".join(errs[pid].split())
        assert re.search(rf"another apply is running on this inventory: pid {winner}, {holder}", said), said
        assert "Hint:" in said, said
    figure("concurrency", f"{APPLIES} applies + {WRITE_BACKS} write-backs started at once on one inventory: 1 ran "
           f"({commands[pids[winner]][0]}), {len(pids) - 1}/{len(pids) - 1} others exit 4 naming its pid")


def test_a_lock_left_by_a_sigkilled_holder_is_recovered(project: Path, tmp_path: Path, figure) -> None:
    lock = lock_path(project / ".homelab", project / ".homelab" / "lab-inventory")
    victim = start(project, tmp_path / "victim", "facts", "-l", HOST)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and f'"pid": {victim}' not in (lock.read_text() if lock.exists() else ""):
        time.sleep(0.05)
    assert json.loads(lock.read_text())["pid"] == victim, "the write-back never took the lock"
    os.killpg(victim, signal.SIGKILL)  # the command and the Ansible run it started, as a kill -9 of the job
    assert finish(victim, timeout=60) == -signal.SIGKILL
    assert not pid_alive(victim)
    assert json.loads(lock.read_text())["pid"] == victim, "the dead holder's record is gone: nothing to recover"
    after = homelab_in(project, "facts", "-l", HOST)
    assert after.rc == 0, after.stderr
    assert f"cleared the lock left by pid {victim}" in " ".join(after.stderr.split()), after.stderr
    figure("concurrency (dead holder)", f"a write-back SIGKILLed while holding the lock (pid {victim}): the next "
           "homelab facts cleared its lock, said so, and ran (exit 0)")
