"""Crash safety of the write-back: SIGKILL at any moment leaves every file whole, the old or the new version.

The write-back (``planner.knowledge.facts.write_back``, through ``planner.yamlio.files``) runs in a forked
child over a copy of the project's inventory and is killed at a random moment of its run, a few hundred
times; each time every host_vars file must be byte for byte the old or the new version, parse as YAML,
and no temporary file may be left beside it. A few real ``homelab facts`` runs against the lab are killed
the same way. The moments are drawn from a seed, printed in the figure; ``HOMELAB_RELIABILITY_SEED``
replays a run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner import yamlio
from planner.knowledge import facts
from planner.plans import planfile
from planner.plans.digests import without_discovered
from planner.workspace import Workspace
from tests.lab import Lab, pid_alive, project_on

SEED = int(os.environ.get("HOMELAB_RELIABILITY_SEED") or random.SystemRandom().randrange(2**31))
TRIALS = 240
CLI_KILLS = 2
ROOT = Path(__file__).resolve().parents[2]


def gathered(hosts: list[str], units: int = 12) -> facts.Gathered:
    """What a gathering brings back, big enough that writing it takes a while to interrupt."""
    found = facts.Gathered()
    for n, host in enumerate(hosts):
        found.facts[host] = {
            "homelab_discovered": {
                "addresses": [{"interface": "eth0", "address": f"10.99.0.{n + 10}", "prefix": 24}],
                "services": {"units": [{"name": f"svc-{host}-{i}.service", "sub": "running"} for i in range(units)],
                             "listening": []}},
            "processor_cores": 4, "processor_threads_per_core": 2, "processor_count": 1,
            "memtotal_mb": 16000 + n}
    return found


def temp_files(inventory: Path) -> list[Path]:
    return sorted(p for p in inventory.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".#"))


def snapshot_of(inventory: Path) -> dict[str, bytes]:
    """Every file of the inventory but the writer's temporary ones, by path."""
    return {p.relative_to(inventory).as_posix(): p.read_bytes() for p in inventory.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")}


def test_sigkill_during_write_back_leaves_each_file_old_or_new(tmp_path: Path, monkeypatch, figure) -> None:
    rng = random.Random(SEED)
    replay = f"(seed {SEED}: HOMELAB_RELIABILITY_SEED={SEED} replays it)"
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory", inventory)
    ws = Workspace(tmp_path, tmp_path / ".homelab", inventory)
    # Three hosts: enough for a kill between two files' renames, few enough that 240 trials take seconds.
    hosts = sorted(p.stem for p in (inventory / "host_vars").glob("*.yml"))[:3]
    found = gathered(hosts)
    # One clock for every write, so "the new version" is one set of bytes the child inherits through fork.
    monkeypatch.setattr(planfile, "now", lambda: "2026-12-06T20:00:00+00:00")
    old = snapshot_of(inventory)
    started = time.monotonic()
    facts.write_back(ws, found, hosts)
    duration = time.monotonic() - started
    new = snapshot_of(inventory)
    assert {k for k in new if new[k] != old.get(k)} == {f"host_vars/{h}.yml" for h in hosts}
    assert len(hosts) == 3
    for name in new:  # both versions parse, so a file byte for byte one of them parses too
        yamlio.load(inventory / name)
    changed = [name for name in new if new[name] != old[name]]
    outcomes = {"old": 0, "new": 0}
    mixed = swept = 0
    for trial in range(TRIALS):
        for name in changed:
            (inventory / name).write_bytes(old[name])
        delay = rng.uniform(0, duration * 1.2)
        pid = os.fork()
        if pid == 0:  # the child: the write-back, and nothing of pytest's after it
            try:
                facts.write_back(ws, found, hosts)
            finally:
                os._exit(0)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        now = snapshot_of(inventory)
        assert set(now) == set(old), f"trial {trial}: files appeared or vanished: {set(now) ^ set(old)} {replay}"
        kinds = set()
        for name, data in now.items():
            assert data in (old[name], new[name]), f"trial {trial}: {name} is partial (after {delay:.3f} s) {replay}"
            kinds.add("old" if data == old[name] else "new")
        left = temp_files(inventory)
        if left:  # killed between naming its finished file and the rename: the next write-back sweeps it
            swept += len(left)
            facts.write_back(ws, found, hosts)
            assert temp_files(inventory) == [], f"trial {trial}: temp files not swept: {left} {replay}"
        for kind in kinds:
            outcomes[kind] += 1
        mixed += len(kinds) == 2
    assert outcomes["old"] and outcomes["new"], f"the kills never landed inside the write-back: {outcomes} {replay}"
    figure("crash safety (in-process write-back)",
           f"{TRIALS} SIGKILL trials over {len(hosts)} host_vars files (kill at 0–{duration * 1.2 * 1000:.0f} ms):"
           f" every file old or new and parseable, 0 partial, 0 temp files left"
           f" ({swept} named in the instant before the rename, removed by the next write-back);"
           f" {mixed} trials killed mid-way (some files new, some old); seed {SEED}")


@pytest.fixture(scope="module")
def facts_project(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_on(lab, tmp_path_factory.mktemp("crash"))


def test_sigkilled_homelab_facts_leaves_the_inventory_whole_and_its_lock_recoverable(
        facts_project: Path, figure) -> None:
    rng = random.Random(SEED + 1)
    project = facts_project
    inventory = project / "inventory"
    env = {**os.environ, "HOMELAB_INVENTORY": str(project / ".homelab" / "lab-inventory"), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "planner", "facts", "-l", "maas"]
    started = time.monotonic()
    first = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)
    full = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    killed = 0
    last = 0
    for _ in range(CLI_KILLS):
        before = {p.name: p.read_bytes() for p in (inventory / "host_vars").glob("*.yml")}
        proc = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Late in the run, where the write-back is: the gathering takes most of it.
        time.sleep(rng.uniform(full * 0.5, full * 1.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        last = proc.pid
        for path in (inventory / "host_vars").glob("*.yml"):
            text = path.read_text()
            yamlio.load(path)  # parses
            # Only the tool's block may differ: the person's part of each file is byte for byte as before.
            assert without_discovered(text) == without_discovered(before[path.name].decode()), path.name
        assert temp_files(inventory) == [], temp_files(inventory)
    # A lock left by the killed process (its pid recorded, the process gone) does not block the next run.
    assert list((project / ".homelab" / "locks").glob("apply-*.lock")) and not pid_alive(last)
    after = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert after.returncode == 0, after.stderr
    figure("crash safety (homelab facts)", f"{killed}/{CLI_KILLS} real homelab facts runs SIGKILLed late in the run:"
           " inventory whole and parseable, the person's keys byte for byte, 0 temp files, the next run succeeds")
