"""``homelab apply ID --at WHEN`` on the lab: the job fires, rechecks, applies and records it; a stale plan is
refused when it fires; a cancelled run never fires; the systemd-timer command line works inside a lab host.

This machine has no systemd as PID 1, so the controller's scheduler here is ``at``: the test starts its own
``atd -f`` and stops it by its PID. atd's spool is compiled in (/var/spool/cron/atjobs) and one atd serves it
per machine: when another is already running (a second test run beside this one), the new atd exits at once
and that one runs the jobs, each with the environment and directory ``at`` recorded for it, so it makes no
difference which daemon fires them.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import time
from pathlib import Path

from planner.schedule.backends import systemd_run_command
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_lab import lab_ssh

HOSTS = "maas,uptime-kuma"
#: A job set for "now + 1 minute" fires within two minutes; the apply itself takes under a minute.
FIRE_WAIT_S = 240


def schedules(project: Path) -> dict[str, dict]:
    listed = homelab_in(project, "schedule", "--format", "json")
    assert listed.rc == 0, listed.stderr
    return {s["plan"]: s for s in json.loads(listed.stdout)}


def wait_until_ran(project: Path, plan_id: str) -> dict:
    deadline = time.monotonic() + FIRE_WAIT_S
    while time.monotonic() < deadline:
        record = schedules(project)[plan_id]
        if record["state"] == "ran":
            return record
        time.sleep(3)
    log = (project / record["log"]).read_text() if (project / record["log"]).exists() else "(no log)"
    raise AssertionError(f"the scheduled run of {plan_id} did not finish in {FIRE_WAIT_S} s: {record}\n{log}")


def history(project: Path, plan_id: str) -> list[dict]:
    entries = json.loads(homelab_in(project, "history", "--format", "json").stdout)
    return [e for e in entries if e["plan"] == plan_id]


def test_a_scheduled_apply_fires_rechecks_applies_and_is_recorded(lab: Lab, project: Path, atd: None) -> None:
    plan = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", HOSTS, "--format", "json"))
    pid = plan["id"]
    # Without a terminal and without --yes nothing is scheduled, as apply would not apply.
    unasked = homelab_in(project, "apply", pid, "--at", "now + 1 minute", "--scheduler", "at")
    assert unasked.rc == 2 and "no terminal to ask for approval" in unasked.stderr
    assert schedules(project) == {}

    scheduled = homelab_in(project, "apply", pid, "--at", "now + 1 minute", "--scheduler", "at", "--yes",
                           "--format", "json")
    assert scheduled.rc == 0, scheduled.stderr
    record = json.loads(scheduled.stdout)
    assert record["backend"] == "at" and record["job"].isdigit() and record["state"] == "waiting"
    assert f"Scheduled plan {pid} for " in scheduled.stderr
    run_at = dt.datetime.fromisoformat(record["run_at"])
    assert dt.timedelta(0) < run_at - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=2)
    assert record["approval"] == "approved with --yes"
    assert {"HOMELAB_INVENTORY", "HOMELAB_ROOT", "PATH"} <= set(record["environment"])
    state_file = project / ".homelab" / "schedules" / f"{pid}.json"
    assert state_file.stat().st_mode & 0o777 == 0o600
    assert state_file.parent.stat().st_mode & 0o777 == 0o700
    assert record["job"] in subprocess.run(["atq"], capture_output=True, text=True, check=True).stdout

    # One run waiting per plan.
    again = homelab_in(project, "apply", pid, "--at", "in 5 minutes", "--scheduler", "at", "--yes")
    assert again.rc == 4 and f"plan {pid} is already scheduled" in again.stderr and "Hint:" in again.stderr

    # Meanwhile: a run scheduled and cancelled never fires.
    other = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", "--format", "json"))
    later = homelab_in(project, "apply", other["id"], "--at", "in 10 minutes", "--scheduler", "at", "--yes",
                       "--format", "json")
    assert later.rc == 0, later.stderr
    job = json.loads(later.stdout)["job"]
    cancelled = homelab_in(project, "schedule", "cancel", other["id"])
    assert cancelled.rc == 0, cancelled.stderr
    assert job not in [line.split()[0] for line in
                       subprocess.run(["atq"], capture_output=True, text=True, check=True).stdout.splitlines()]
    assert schedules(project)[other["id"]]["shown_state"] == "cancelled"
    assert history(project, other["id"])[-1]["decision"] == "cancelled by the person"
    twice = homelab_in(project, "schedule", "cancel", other["id"])
    assert twice.rc == 4 and "was cancelled" in twice.stderr and "Hint:" in twice.stderr
    unknown = homelab_in(project, "schedule", "cancel", "ffffffff")
    assert unknown.rc == 2 and "no scheduled run for plan 'ffffffff'" in unknown.stderr

    ran = wait_until_ran(project, pid)
    assert ran["outcome"] == "succeeded", (project / ran["log"]).read_text()
    shown = plan_json(homelab_in(project, "show", pid, "--format", "json"))
    assert shown["status"] == "applied"
    assert sorted(shown["applies"][-1]["hosts"]) == ["maas", "uptime-kuma"]
    log = (project / ran["log"]).read_text()
    assert f"scheduled run of plan {pid} ('now + 1 minute') fired" in log
    assert "recheck: the hosts still match the review" in log and f"plan {pid} ended: succeeded" in log
    entries = history(project, pid)
    kinds = [e["kind"] for e in entries]
    assert kinds[-2:] == ["approval", "apply"], kinds
    assert "scheduled for" in entries[-2]["decision"]
    applied = entries[-1]
    assert applied["summary"].startswith(f"Plan {pid} scheduled apply succeeded")
    assert applied["decision"].startswith("scheduled run for 'now + 1 minute', approved with --yes at ")
    assert sorted(applied["outcome"]) == ["maas", "uptime-kuma"]
    text = homelab_in(project, "history").stdout
    assert f"apply plan {pid}: Plan {pid} scheduled apply succeeded." in text
    fired = homelab_in(project, "schedule")
    assert "ran (succeeded)" in fired.stdout and "cancelled" in fired.stdout

    # An applied plan is refused at scheduling, as apply refuses it; a fired run cannot be cancelled.
    applied_again = homelab_in(project, "apply", pid, "--at", "in 5 minutes", "--scheduler", "at", "--yes")
    assert applied_again.rc == 4 and "already applied" in applied_again.stderr
    late = homelab_in(project, "schedule", "cancel", pid)
    assert late.rc == 4 and "already fired" in late.stderr
    # The job and the cancel wrote the session log through the recorder: the docs made from it are current.
    checked = homelab_in(project, "docs", "--check")
    assert checked.rc == 0, checked.stderr


def test_a_plan_that_went_stale_before_its_time_is_refused_when_it_fires(lab: Lab, project: Path,
                                                                          atd: None) -> None:
    plan = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", "--format", "json"))
    pid = plan["id"]
    scheduled = homelab_in(project, "apply", pid, "--at", "now + 1 minute", "--scheduler", "at", "--yes")
    assert scheduled.rc == 0, scheduled.stderr
    with (project / "roles" / "baseline" / "defaults" / "main.yml").open("a") as fh:
        fh.write("\n# edited after the plan was scheduled\n")

    ran = wait_until_ran(project, pid)
    assert ran["outcome"].startswith(f"refused: plan {pid} is stale — roles/baseline/defaults/main.yml changed")
    assert plan_json(homelab_in(project, "show", pid, "--format", "json"))["applies"] == []
    refusal = history(project, pid)[-1]
    assert refusal["kind"] == "refusal"
    assert refusal["summary"].startswith(f"Scheduled apply of plan {pid} refused: plan {pid} is stale")
    assert refusal["decision"].startswith("scheduled run for 'now + 1 minute'")
    # Stale at scheduling is refused at once, exit 4, and nothing is left with the backend.
    now_stale = homelab_in(project, "apply", pid, "--at", "in 5 minutes", "--scheduler", "at", "--yes")
    assert now_stale.rc == 4 and f"plan {pid} is stale" in now_stale.stderr
    assert schedules(project)[pid]["state"] == "ran"


def test_the_systemd_timer_command_line_fires_inside_a_lab_host(lab: Lab) -> None:
    """Lab hosts boot systemd: the exact systemd-run line the controller builds makes a timer that fires."""
    host, stamp = "uptime-kuma", f"{time.time_ns()}"
    log = f"/var/tmp/homelab-schedule-{stamp}.log"
    fire_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=6)
    fires = systemd_run_command(f"homelab-apply-t{stamp}", fire_at, ["/bin/sh", "-c", 'echo "fired $MARK"'],
                                {"MARK": "with its environment"}, Path("/tmp"), Path(log), user=False)
    stays = systemd_run_command(f"homelab-apply-c{stamp}", fire_at + dt.timedelta(seconds=4),
                                ["/bin/sh", "-c", "echo cancelled-fired"],
                                {}, Path("/tmp"), Path(log), user=False)
    # The lab's admin reaches the system manager through sudo, as the controller's root would (no user manager
    # runs in the lab's containers).
    made = lab_ssh(lab, host, f"sudo -n {shlex.join(fires)} && sudo -n {shlex.join(stays)} && "
                              f"systemctl is-active homelab-apply-t{stamp}.timer && "
                              f"sudo -n systemctl stop homelab-apply-c{stamp}.timer && "
                              f"! systemctl is-active homelab-apply-c{stamp}.timer")
    assert made.returncode == 0, made.stderr
    assert "Running timer as unit: homelab-apply-t" in made.stderr
    assert made.stdout.split() == ["active", "inactive"]  # the one to fire waits; the stopped one is gone
    deadline, out = time.monotonic() + 60, ""
    while time.monotonic() < deadline:
        time.sleep(2)
        out = lab_ssh(lab, host, f"cat {log} 2>/dev/null; systemctl is-active homelab-apply-t{stamp}.timer").stdout
        if "fired" in out and dt.datetime.now(dt.UTC) > fire_at + dt.timedelta(seconds=8):
            break
    assert "fired with its environment" in out
    assert "cancelled-fired" not in out
    assert out.strip().endswith("inactive")  # a one-shot timer is done once it fired
