"""What a read step proposes is checked like a draft: its shape, the proposing entry's allow-list, the host it
ran on; a permanent fix only where the problem recurs, and a sentence for everything left out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from planner.plans.planfile import StepReview, TaskResult
from planner.plans.proposals import PROPOSALS_KEY, Recurrence, collect

HOST = "k3s-vm-still-fawn"
STOP = {"playbook": "remediate_runaway_processes", "kind": "standard", "reason": "Stop python3 (pid 53).",
        "vars": {"remediate_processes": [{"pid": 53, "start_time": 9, "cmdline": "python3 x", "unit": ""}]}}
LIMIT = {"playbook": "remediate_runaway_processes", "kind": "permanent", "reason": "Limit it.",
         "vars": {"remediate_limits": [{"unit": "x.service", "cpu_quota_pct": 50, "memory_max_mib": 0}]}}
ALLOWED = ["remediate_runaway_processes"]


def review(*reports: tuple[str, Any]) -> StepReview:
    return StepReview(step=0, playbook="diagnose_host", check=False, status="successful", rc=0,
                      tasks=[TaskResult(host=h, task="Report", status="ok", report=r) for h, r in reports])


def never(host: str, playbook: str) -> None:
    return None


def twice(host: str, playbook: str) -> Recurrence:
    return Recurrence("cpu-runaway", [dt.date(2026, 12, 1), dt.date(2026, 12, 3)], 3, 30)


def test_a_standard_fix_becomes_a_step_for_its_host_and_a_permanent_one_waits_for_recurrence() -> None:
    got = collect(review((HOST, {PROPOSALS_KEY: {"steps": [STOP, LIMIT], "manual": []}})), "diagnose_host", ALLOWED,
                  [HOST], twice)
    assert [(p.host, p.playbook, p.kind, p.vars) for p in got.steps] == [
        (HOST, "remediate_runaway_processes", "standard", STOP["vars"])]
    assert got.steps[0].rationale == f"Proposed by diagnose_host on {HOST}: Stop python3 (pid 53)."
    assert got.notes == [f"The permanent fix remediate_runaway_processes proposed for {HOST} waits until the problem "
                         "keeps coming back (seen 2× in 30 days there, 3× makes it recurring)."]
    assert got.manual == []


def test_a_recurring_problem_brings_the_permanent_fix_with_its_dates() -> None:
    days = [dt.date(2026, 12, 1), dt.date(2026, 12, 3), dt.date(2026, 12, 5)]
    got = collect(review((HOST, {PROPOSALS_KEY: {"steps": [STOP, LIMIT]}})), "diagnose_host", ALLOWED, [HOST],
                  lambda host, playbook: Recurrence("cpu-runaway", days, 3, 30))
    assert [p.kind for p in got.steps] == ["standard", "permanent"]
    said = f"cpu-runaway seen 3× in 30 days on {HOST} (2026-12-01, 2026-12-03, 2026-12-05)"
    assert got.notes and got.notes[0].startswith(said) and said in got.steps[1].rationale


def test_what_does_not_fit_is_left_out_and_said() -> None:
    other = dict(STOP, playbook="apply_baseline")
    got = collect(review((HOST, {PROPOSALS_KEY: {"steps": [other]}}),
                         ("maas", {PROPOSALS_KEY: {"steps": [STOP]}}),
                         ("uptime-kuma", {PROPOSALS_KEY: {"steps": [dict(STOP, kind="always")]}})),
                  "diagnose_host", ALLOWED, [HOST, "uptime-kuma"], never)
    assert got.steps == []
    assert any("proposed apply_baseline, which its catalog entry does not list" in n for n in got.notes)
    assert any("reported proposals for maas, a host it did not run on" in n for n in got.notes)
    assert any("uptime-kuma proposed something that does not fit" in n and "kind" in n for n in got.notes)


def test_manual_items_join_the_checklist_once() -> None:
    item = {"title": "Add resources.limits to pod web-1's manifest", "reason": "a k3s pod"}
    got = collect(review((HOST, {PROPOSALS_KEY: {"manual": [item, item]}})), "diagnose_host", ALLOWED, [HOST], never)
    assert [(m.title, m.rule) for m in got.manual] == [(item["title"], "proposed by diagnose_host")]


def test_a_report_without_proposals_proposes_nothing() -> None:
    got = collect(review((HOST, {"homelab_health": {}}), (HOST, "text")), "diagnose_host", ALLOWED, [HOST], never)
    assert (got.steps, got.manual, got.notes) == ([], [], [])


def test_a_hosts_control_characters_never_reach_the_terminal() -> None:
    from planner.render.health import health_text

    escape = "\x1b[1A\x1b[2K"
    step = dict(STOP, reason=f"Stop {escape}python3\nstopped (pid 53).")
    got = collect(review((HOST, {PROPOSALS_KEY: {"steps": [step]}})), "diagnose_host", ALLOWED, [HOST], never)
    assert "\x1b" not in got.steps[0].rationale and "\n" not in got.steps[0].rationale
    assert "\ufffd[1A\ufffd[2Kpython3 stopped (pid 53)." in got.steps[0].rationale
    health = {"checked_at": "2026-12-06T10:00:00Z", "cores": 2, "load": [1.0, 1.0, 1.0],
              "findings": [{"id": "cpu-runaway", "severity": "critical", "summary": f"{escape}x\nfake line",
                            "evidence": "pid 53", "runbook": "Runaway processes"}]}
    text = health_text({"homelab_health": health, PROPOSALS_KEY: {"steps": [step]}})
    assert text is not None and "\x1b" not in text
    assert "critical cpu-runaway: \ufffd[1A\ufffd[2Kx fake line\n" in text


HOSTS = ["k3s-vm-chief-horse", "k3s-vm-pumped-piglet"]


def proposed_over(tmp_path: Path, reporting: list[str]) -> Any:
    """A check_address_persistence plan over HOSTS whose report from each of ``reporting`` proposes the same
    step (gather_facts stands in for the fix: any catalog entry the meta lists under proposes is merged alike),
    after build.propose."""
    from planner.plans import build
    from planner.plans.planfile import Plan, Step
    from planner.workspace import Workspace
    from tests.conftest import copy_project, documented_only

    root = documented_only(copy_project(tmp_path / "p"))
    meta = root / "playbooks" / "check_address_persistence.meta.yml"
    meta.write_text(meta.read_text().replace("proposes: [reserve_addresses]", "proposes: [gather_facts]"))
    ws = Workspace(root, tmp_path / "state", root / "inventory")
    steps = [Step(playbook="check_address_persistence", limit="all", risk="read", hosts=HOSTS)]
    plan = Plan(id="0123abcd", created_at="2026-12-06T10:00:00+00:00", intent="check address persistence",
                planner="offline", inputs=build.record_inputs(ws, steps), steps=steps)
    step = {"playbook": "gather_facts", "kind": "standard", "vars": {}, "reason": "no reservation"}
    build.propose(ws, plan, StepReview(step=0, playbook="check_address_persistence", check=False,
                                       status="successful", rc=0,
                                       tasks=[TaskResult(host=h, task="Report", status="ok",
                                                         report={PROPOSALS_KEY: {"steps": [step]}})
                                              for h in reporting]))
    return plan


def test_build_propose_merges_the_same_step_from_two_hosts_into_one(tmp_path: Path) -> None:
    """Two hosts proposing the same playbook with the same variables get one step over both (one run that
    reserves both addresses), not a step each."""
    added = proposed_over(tmp_path, HOSTS).steps[1:]
    assert [(s.playbook, s.hosts, s.limit) for s in added] == [("gather_facts", HOSTS, ",".join(HOSTS))]
    assert "on k3s-vm-chief-horse" in added[0].rationale and "on k3s-vm-pumped-piglet" in added[0].rationale


def test_build_propose_keeps_the_valid_hosts_when_one_proposal_is_refused(tmp_path: Path) -> None:
    """A proposal that is refused (here: from a host the step did not run on) costs that host alone its step;
    the others' identical proposals still become one step."""
    plan = proposed_over(tmp_path, [*HOSTS, "not-in-the-inventory"])
    assert [(s.playbook, s.hosts) for s in plan.steps[1:]] == [("gather_facts", HOSTS)]
    assert "proposals for not-in-the-inventory, a host it did not run on; left out" in plan.explanation
