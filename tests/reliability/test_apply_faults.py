"""Faults during apply: SIGINT, SIGTERM, a task hanging past the apply's --timeout, a host stopped mid-run.

One reviewed plan (apply_baseline on the three k3s VMs) is applied four times, each time hit by one fault:
each run must end within its bound, report the right per-host outcome, never report success (neither its
exit code nor the plan's record), leave no process behind and release the inventory's apply lock.

The hang is real: the project copy's baseline role (the test's own copy, never the catalog) starts with a
task that waits while ``/run/homelab-test-hang`` exists on the host, and that file is planted on one host
for the whole test, so every run stalls there until its fault stops it. The stopped host is the same host,
powered off through the pid the lab recorded (SIGTERM to its systemd-nspawn, a clean shutdown), last.
It stops a host, so it runs its own lab (``$HOMELAB_TEST_FAULTS_LAB_NET``, by default the session lab's
net + 170 in the third octet).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.lab import LAB_NET, Lab, homelab_in, pid_alive, plan_json, project_on, running_lab

_a, _b, _c = LAB_NET.split(".")
NET = os.environ.get("HOMELAB_TEST_FAULTS_LAB_NET") or f"{_a}.{_b}.{(int(_c) + 170) % 256}"
VICTIM = "k3s-vm-pumped-piglet"
MARKER = "/run/homelab-test-hang"
HANG_TASK = "Wait while the planted hang marker exists (test only)"
#: The --timeout of the hung run, and the bound on every other run.
HANG_TIMEOUT_S = 30
RUN_TIMEOUT_S = 150
#: A run must end this long after its timeout, its signal or the host's stop at the latest.
GRACE_S = 10
# Bounded: at most 5 minutes on the host, and the file is removed when the lab goes down anyway.
HANG = f"""- name: {HANG_TASK}
  ansible.builtin.shell: "for i in $(seq 300); do test -e {MARKER} || exit 0; sleep 1; done"
  changed_when: false

"""


@dataclass(frozen=True)
class Faults:
    lab: Lab
    project: Path
    plan_id: str


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    with running_lab(tmp_path_factory.mktemp("faults-lab"), NET) as lab:
        project = project_on(lab, tmp_path_factory.mktemp("faults-project"))
        tasks = project / "roles" / "baseline" / "tasks" / "main.yml"
        text = tasks.read_text()
        tasks.write_text(text.replace("\n- name:", "\n" + HANG + "- name:", 1))
        made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", "k3s",
                          "-e", "baseline_journald_max_retention=5weeks", "--format", "json")
        assert made.rc == 0, made.stderr
        planted = subprocess.run([sys.executable, "-m", "planner", "lab", "ssh", VICTIM, "--",
                                  f"sudo touch {MARKER}"], env={**os.environ, **lab.env}, capture_output=True,
                                 text=True, timeout=60, check=False)
        assert planted.returncode == 0, planted.stderr
        yield Faults(lab, project, plan_json(made)["id"])


def _ours(project: Path) -> dict[int, str]:
    """Processes of this machine (not inside a lab host) that belong to runs of ``project`` or talk to the lab:
    ansible-playbook and its forks name the project's run directory, ssh clients the lab's addresses.
    (ssh's ControlPersist masters, "ssh: ~/.ansible/cp/… [mux]", outlive a run by design and end after 60 s.)"""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/root") != "/":
                continue  # a process inside a lab host
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if str(project).encode() in cmdline or f"{NET}.".encode() in cmdline:
            found[int(entry)] = cmdline.decode(errors="replace")[:300]
    return found


def _left_behind(project: Path, before: dict[int, str]) -> dict[int, str]:
    """The processes of :func:`_ours` that were not there before the run and are still there a moment after it
    (one SIGKILLed with its process group may take a few milliseconds to go)."""
    left: dict[int, str] = {}
    for _ in range(20):
        left = {p: c for p, c in _ours(project).items() if p not in before}
        if not left:
            break
        time.sleep(0.25)
    return left


def _lock_free(project: Path) -> bool:
    """Every apply lock of the project is empty and can be taken at once."""
    for path in (project / ".homelab" / "locks").glob("apply-*.lock"):
        with path.open("r+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fh, fcntl.LOCK_UN)
            if fh.read().strip():
                return False
    return True


def _hanging(run_dirs: list[Path]) -> bool:
    """The run reached the hang task on the victim (its runner_on_start event is written)."""
    for events in run_dirs:
        for path in events.glob("artifacts/*/job_events/*.json"):
            try:
                event = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being written
            data = event.get("event_data", {})
            if (event.get("event"), data.get("host"), data.get("task")) == ("runner_on_start", VICTIM, HANG_TASK):
                return True
    return False


@dataclass
class Outcome:
    fault: str
    rc: int
    ended_after_s: float  # after the signal, the stop, or (the hang) the apply's recorded start
    bound_s: float
    left: dict[int, str]
    record: dict
    status: str
    lock_free: bool
    stderr: str


def _apply(f: Faults, fault: str, *extra: str) -> Outcome:
    runs = f.project / ".homelab" / "runs"
    before_dirs = set(runs.glob(f"{f.plan_id}-apply-*"))
    before_procs = _ours(f.project)
    env = {**os.environ, "HOMELAB_INVENTORY": str(f.project / ".homelab" / "lab-inventory"), "NO_COLOR": "1"}
    timeout = HANG_TIMEOUT_S if fault == "hang" else RUN_TIMEOUT_S
    log = f.project / f"apply-{fault.replace(' ', '-')}.log"  # a file, not a pipe nobody drains while it runs
    started = time.monotonic()
    with log.open("w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "planner", "apply", f.plan_id, "--yes", "--timeout",
                                 str(timeout), *extra], cwd=f.project, env=env, stdout=subprocess.DEVNULL,
                                stderr=err_file)
    try:
        deadline = started + timeout
        while time.monotonic() < deadline and proc.poll() is None and not _hanging(
                [d for d in runs.glob(f"{f.plan_id}-apply-*") if d not in before_dirs]):
            time.sleep(0.2)
        assert proc.poll() is None, f"{fault}: the apply ended before the hang task: {log.read_text()[-2000:]}"
        hit = time.monotonic()
        if fault == "SIGINT":
            proc.send_signal(signal.SIGINT)
        elif fault == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        elif fault == "host stopped":
            # The lab started this process; the test stops it by its recorded pid (nspawn powers the host off).
            os.kill(f.lab.state()["hosts"][VICTIM]["pid"], signal.SIGTERM)
        proc.wait(timeout=timeout + 60)
        ended = time.monotonic() - hit
        exited = time.time()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shown = plan_json(homelab_in(f.project, "show", f.plan_id, "--format", "json"))
    if fault == "hang":  # the bound runs from the apply's start, as its record says (after the refusal checks)
        ended = exited - datetime.fromisoformat(shown["applies"][-1]["started_at"]).timestamp()
    return Outcome(fault, proc.returncode, round(ended, 1), timeout + GRACE_S if fault in ("hang", "host stopped")
                   else GRACE_S, _left_behind(f.project, before_procs), shown["applies"][-1], shown["status"],
                   _lock_free(f.project), log.read_text())


def test_faults_during_apply_end_in_time_honestly_and_leave_nothing_behind(faults: Faults, figure) -> None:
    outcomes = [_apply(faults, fault) for fault in ("SIGINT", "SIGTERM", "hang", "host stopped")]
    pid = faults.lab.state()["hosts"][VICTIM]["pid"]
    for _ in range(100):  # the stopped host's nspawn takes a moment to finish its shutdown
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    others = {"k3s-vm-chief-horse", "k3s-vm-still-fawn"}
    for o in outcomes:
        hosts = {h: v["outcome"] for h, v in o.record["hosts"].items()}
        assert set(hosts) == others | {VICTIM}, (o.fault, hosts)
        assert o.ended_after_s <= o.bound_s, (o.fault, o.ended_after_s, o.stderr[-2000:])
        assert o.rc != 0 and o.record["status"] != "succeeded" and o.status != "applied", (o.fault, o.rc, o.status)
        assert o.left == {}, f"{o.fault}: processes left behind: {o.left}"
        assert o.lock_free, f"{o.fault}: the apply lock was kept"
        if o.fault in ("SIGINT", "SIGTERM"):
            assert o.rc == 130, (o.fault, o.stderr[-2000:])
            assert (o.record["status"], o.status) == ("interrupted", "interrupted")
            assert set(hosts.values()) == {"outcome_unknown"}, (o.fault, hosts)
            word = "Interrupting" if o.fault == "SIGINT" else "Terminated"
            assert f"{word}: cancelling the run cleanly" in o.stderr, o.stderr[-2000:]
        elif o.fault == "hang":
            assert o.rc == 1, o.stderr[-2000:]
            assert o.record["timed_out"] and o.record["timeout_s"] == HANG_TIMEOUT_S, o.record
            assert (o.record["status"], o.status) == ("outcome_unknown", "outcome_unknown")
            assert set(hosts.values()) == {"outcome_unknown"}, hosts
            assert f"passed its timeout of {HANG_TIMEOUT_S} s and was stopped" in o.stderr, o.stderr[-2000:]
        else:
            assert o.rc == 1, o.stderr[-2000:]
            assert not o.record["timed_out"], "the stopped host's run should end on its own, not by the timeout"
            assert (o.record["status"], o.status) == ("hosts_failed", "failed")
            # Which one depends on a race nobody controls: the host's shutdown kills the task's shell first
            # (its non-zero exit comes back: failed) or takes the SSH connection down first (unreachable).
            # Either is honest; what must never happen is ok or changed for a host that went away mid-task.
            assert hosts[VICTIM] in ("unreachable", "failed"), hosts
            assert all(hosts[h] in ("changed", "ok") for h in others), hosts
    ends = ", ".join(f"{o.fault} {o.ended_after_s:g} s" for o in outcomes)
    figure("faults during apply",
           f"{len(outcomes)} faults (SIGINT, SIGTERM, a task hung past --timeout {HANG_TIMEOUT_S} s, a host stopped),"
           f" ended within bound: {sum(o.ended_after_s <= o.bound_s for o in outcomes)}/{len(outcomes)} ({ends}),"
           f" orphans: {sum(len(o.left) for o in outcomes)}, reported success: "
           f"{sum(o.rc == 0 or o.record['status'] == 'succeeded' for o in outcomes)}, lock released: "
           f"{sum(o.lock_free for o in outcomes)}/{len(outcomes)}, the stopped host recorded as "
           f"{outcomes[-1].record['hosts'][VICTIM]['outcome']}")
