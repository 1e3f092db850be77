"""remediate_runaway_processes on the sandbox lab: the exact reviewed process stopped, a reused pid never signalled,
and a unit's resource limits in effect, with a second apply that changes nothing.

Real ansible-core through ansible-runner over SSH to k3s-vm-still-fawn. The processes are started over SSH by the
test (busy loops at nice 19, as a transient unit or bare) and stopped by their pid or unit at the end, whatever
the test did.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_homelab
from tests.integration.conftest import Lab, homelab_in, plan_json

HOST = "k3s-vm-still-fawn"
ENTRY = "remediate_runaway_processes"
LOOP = "while True: pass"


def on_host(lab: Lab, command: str) -> str:
    """Run ``command`` as root on the host over SSH; its stdout."""
    done = run_homelab("lab", "ssh", HOST, "--", "sudo", "sh", "-c", shlex.quote(command), env=lab.env, timeout=60)
    assert done.rc == 0, done.stderr
    return done.stdout.strip()


def seen(lab: Lab, pid: int) -> dict[str, Any]:
    """The process as a diagnosis reports it: pid, start time (field 22 of /proc/PID/stat), command line."""
    start, cmdline = on_host(lab, f"cut -d' ' -f22 /proc/{pid}/stat; tr '\\0' ' ' </proc/{pid}/cmdline").split("\n")
    return {"pid": pid, "start_time": int(start), "cmdline": cmdline.strip()}


def alive(lab: Lab, item: dict[str, Any]) -> bool:
    """Whether the reviewed process still runs as itself (the same pid and start time)."""
    out = on_host(lab, f"cut -d' ' -f22 /proc/{item['pid']}/stat 2>/dev/null || true")
    return out == str(item["start_time"])


@pytest.fixture
def started(lab: Lab) -> Iterator[dict[str, list]]:
    """What the test starts on the host, each stopped by its unit or pid at the end."""
    mine: dict[str, list] = {"units": [], "pids": []}
    yield mine
    for unit in mine["units"]:
        on_host(lab, f"systemctl stop {unit} 2>/dev/null; rm -rf /etc/systemd/system/{unit}.d; true")
    for pid, start in mine["pids"]:
        # Only while the pid is still the process this test started.
        on_host(lab, f"[ \"$(cut -d' ' -f22 /proc/{pid}/stat 2>/dev/null)\" = {start} ] && kill -9 {pid}; true")
    on_host(lab, "systemctl daemon-reload")


def start_unit(lab: Lab, started: dict[str, list], unit: str, *argv: str) -> int:
    started["units"].append(unit)
    on_host(lab, f"systemd-run --unit={unit} -p Nice=19 {shlex.join(argv)}")
    return int(on_host(lab, f"systemctl show -p MainPID --value {unit}"))


def start_bare(lab: Lab, started: dict[str, list]) -> dict[str, Any]:
    pid = int(on_host(lab, f"setsid nice -n 19 python3 -c {shlex.quote(LOOP)} </dev/null >/dev/null 2>&1 & echo $!"))
    item = seen(lab, pid)
    started["pids"].append((pid, item["start_time"]))
    return item


def plan(project: Path, **variables: Any) -> dict:
    args = [f"{name}={json.dumps(value)}" for name, value in variables.items()]
    made = homelab_in(project, "plan", "--playbook", ENTRY, "--limit", HOST,
                      *[a for arg in args for a in ("-e", arg)], "--format", "json")
    assert made.rc == 0, made.stderr
    return plan_json(made)


def apply(project: Path, plan_id: str) -> dict:
    done = homelab_in(project, "apply", plan_id, "--yes", "--format", "json")
    assert done.rc == 0, done.stderr[-4000:]
    return plan_json(done)


def tasks(step: dict, name: str) -> list[dict]:
    return [t for t in step["tasks"] if t["task"] == name]


def remediation(applied: dict) -> dict:
    """The homelab_remediation report of the apply's last run."""
    (task,) = tasks(applied["applies"][-1]["steps"][0], "Report what was stopped, already gone, skipped and limited")
    return task["report"]["homelab_remediation"]


def test_the_reviewed_transient_unit_is_stopped_exactly(lab: Lab, project: Path, started: dict[str, list]) -> None:
    pid = start_unit(lab, started, "it-remediate-hog.service", "python3", "-c", LOOP)
    item = {**seen(lab, pid), "unit": "it-remediate-hog.service"}
    reviewed = plan(project, remediate_processes=[item])
    (stop,) = tasks(reviewed["review"]["steps"][0], "Stop the reviewed processes that are still the reviewed ones")
    assert stop["status"] == "changed"
    shown = "".join(d["after"] for d in stop["diffs"])
    assert f"pid {pid}  unit it-remediate-hog.service  {item['cmdline']}  stopped (would stop unit " \
           "it-remediate-hog.service)" in shown
    assert alive(lab, item), "the check-mode review stopped the process"

    applied = apply(project, reviewed["id"])
    assert not alive(lab, item)
    assert on_host(lab, "systemctl show -p LoadState it-remediate-hog.service") == "LoadState=not-found"
    report = remediation(applied)
    assert [(p["pid"], p["unit"], p["how"]) for p in report["stopped"]] == \
        [(pid, "it-remediate-hog.service", "stop unit it-remediate-hog.service")]
    logs = "".join(p.read_text() for p in (project / "docs" / "sessions").glob("*.md"))
    assert f"Remediation: {HOST}: stopped pid {pid} (it-remediate-hog.service)." in logs

    again = plan(project, remediate_processes=[item])
    assert again["review"]["steps"][0]["hosts"][HOST]["changed"] == 0
    gone = remediation(apply(project, again["id"]))
    assert gone["stopped"] == [] and [p["pid"] for p in gone["already_gone"]] == [pid]


def test_a_reused_pid_is_never_signalled(lab: Lab, project: Path, started: dict[str, list]) -> None:
    bare = start_bare(lab, started)
    # What a plan made before the pid was reused would hold: another start time.
    stale = {**bare, "start_time": bare["start_time"] - 1, "unit": ""}
    applied = apply(project, plan(project, remediate_processes=[stale])["id"])
    assert alive(lab, bare), "a process that is not the reviewed one was signalled"
    report = remediation(applied)
    assert report["stopped"] == [] and [p["pid"] for p in report["skipped"]] == [bare["pid"]]
    assert "not the reviewed process" in report["skipped"][0]["reason"]
    assert applied["applies"][-1]["hosts"][HOST]["changed"] == 0

    # The same process with its own start time is stopped, by signal: it has no unit of its own.
    stopped = remediation(apply(project, plan(project, remediate_processes=[{**bare, "unit": ""}])["id"]))
    assert [(p["pid"], p["how"]) for p in stopped["stopped"]] == [(bare["pid"], "SIGTERM")]
    assert not alive(lab, bare)


def test_limits_are_a_drop_in_in_effect_and_a_second_apply_changes_nothing(lab: Lab, project: Path,
                                                                          started: dict[str, list]) -> None:
    unit = "it-remediate-limited.service"
    start_unit(lab, started, unit, "sleep", "infinity")
    limits = [{"unit": unit, "cpu_quota_pct": 30, "memory_max_mib": 128}]
    reviewed = plan(project, remediate_limits=limits)
    (write,) = tasks(reviewed["review"]["steps"][0], "Write each unit's resource limits to its drop-in")
    assert "CPUQuota=30%\nMemoryMax=128M\n" in write["diffs"][0]["after"]
    assert on_host(lab, f"systemctl show -p CPUQuotaPerSecUSec {unit}") == "CPUQuotaPerSecUSec=infinity"

    report = remediation(apply(project, reviewed["id"]))
    dropin = f"/etc/systemd/system/{unit}.d/50-homelab-limits.conf"
    assert "CPUQuota=30%" in on_host(lab, f"cat {dropin}")
    assert on_host(lab, f"systemctl show -p CPUQuotaPerSecUSec {unit}") == "CPUQuotaPerSecUSec=300ms"
    assert on_host(lab, f"systemctl show -p MemoryMax {unit}") == f"MemoryMax={128 * 1024 * 1024}"
    assert [(x["unit"], x["changed"], x["running"], x["cpu_quota_per_sec"]) for x in report["limits"]] == \
        [(unit, True, True, "300ms")]

    second = plan(project, remediate_limits=limits)
    assert second["review"]["steps"][0]["hosts"][HOST]["changed"] == 0
    applied = apply(project, second["id"])
    assert applied["applies"][-1]["hosts"][HOST]["changed"] == 0
    assert remediation(applied)["limits"][0]["changed"] is False
