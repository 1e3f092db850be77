"""An apply whose hosts changed after the review says so; ``apply --recheck`` refuses it first.

Real ansible-runner over SSH against the sandbox lab: a host is converged, planned again (nothing to
change), then a file the baseline manages is edited on the host by hand between plan and apply.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_lab import lab_ssh

HOST = "maas"
TASK = "Write the message of the day naming the host and its groups"


def session_log(project: Path) -> str:
    return "".join(p.read_text() for p in sorted((project / "docs" / "sessions").glob("*.md")))


def plan_nothing_to_change(project: Path) -> dict:
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", HOST, "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    counts = plan["review"]["steps"][0]["hosts"][HOST]
    assert counts["changed"] == 0 and counts["failed"] == 0, counts
    return plan


def test_a_host_changed_between_plan_and_apply_is_refused_by_recheck_and_flagged_by_apply(
        lab: Lab, project: Path) -> None:
    first = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", HOST, "--format", "json"))
    converged = homelab_in(project, "apply", first["id"], "--yes", "--format", "json")
    assert converged.rc == 0, converged.stderr
    # What the review showed is what happened: a first apply flags nothing.
    assert json.loads(converged.stdout)["applies"][-1]["surprise_count"] == 0, converged.stderr
    assert "Not in the review" not in converged.stderr

    # Unchanged hosts, where the recheck matches and the apply goes on, are test_schedule's: every scheduled
    # apply rechecks first.
    plan = plan_nothing_to_change(project)
    edited = lab_ssh(lab, HOST, "echo 'edited by hand after the review' | sudo tee -a /etc/motd >/dev/null")
    assert edited.returncode == 0, edited.stderr
    saved = project / ".homelab" / "plans" / f"{plan['id']}.json"
    before = saved.read_bytes()

    # (a) --recheck sees the host moved and changes nothing: exit 4, the plan left applyable.
    refused = homelab_in(project, "apply", plan["id"], "--yes", "--recheck")
    assert refused.rc == 4, refused.stderr
    assert (f"Error: plan {plan['id']}: the hosts no longer match the review — {HOST}: baseline : {TASK}: "
            "the review said ok, the hosts now say changed") in refused.stderr
    assert "Hint:" in refused.stderr
    assert saved.read_bytes() == before
    assert "edited by hand" in lab_ssh(lab, HOST, "cat /etc/motd").stdout
    log = session_log(project)
    assert f"Apply of plan {plan['id']} refused: plan {plan['id']}: the hosts no longer match the review" in log

    # (b) a plain apply goes ahead and says the change was not in the review.
    applied = homelab_in(project, "apply", plan["id"], "--yes", "--format", "json")
    assert applied.rc == 0, applied.stderr
    block = applied.stderr.split("Not in the review:", 1)[1]
    assert f"apply_baseline: baseline : {TASK} — changed though the review said ok: {HOST}" in block
    assert "Apply succeeded. 1 result(s) not in the review." in applied.stderr
    record = json.loads(applied.stdout)["applies"][-1]
    assert record["surprise_count"] == 1
    assert [(s["kind"], s["host"], s["task"], s["reviewed"], s["applied"]) for s in record["surprises"]] == [
        ("changed", HOST, TASK, "ok", "changed")]
    assert "edited by hand" not in lab_ssh(lab, HOST, "cat /etc/motd").stdout
    entry = session_log(project).split(f"Plan {plan['id']} apply succeeded.", 1)[1].split("\n", 1)[0]
    assert f"1 result(s) not in the review: apply_baseline: baseline : {TASK} — changed though the review said ok " \
           f"on {HOST}." in entry
