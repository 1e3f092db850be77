"""The learning loop end to end without hosts: a diagnosis's health section and an apply's fixes recorded by the
knowledge recorder, TROUBLESHOOTING.md made from them, and `homelab history --host` telling the thread."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from planner.knowledge import docsgen, kb, loop, sessions
from planner.knowledge.facts import WriteBack, host_vars_file
from planner.planning.memory import recall
from planner.plans.planfile import ApplyRecord, HostOutcome, HostSummary, Step, StepReview
from planner.workspace import Workspace
from planner.yamlio.files import set_in_file
from tests.conftest import ROOT, kb_as_documented, run_homelab

HOST = "k3s-vm-still-fawn"
POLICY = "approved by policy rule standard-fixes (.homelab/policy.yml)"


def health(checked_at: str, *findings: object) -> dict:
    """A ``discovered.health`` section as the diagnosis writes it back (the parts the loop reads)."""
    return {"checked_at": checked_at, "cores": 4, "load": [7.9, 6.1, 3.2], "runaway": [], "skipped": [],
            "findings": list(findings)}


CPU = {"id": "cpu-runaway", "severity": "critical", "summary": "python3 /usr/local/bin/lab-cpu-hog at 99% of a core",
       "evidence": "pid 4242 (lab-cpu-hog.service)", "runbook": "remediate_runaway_processes"}
LOAD = {"id": "load-high", "severity": "warning", "summary": "load 7.9 on 4 cores", "evidence": "", "runbook": ""}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A small project: the real inventory and knowledge base, and a fix playbook that resolves findings."""
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    documented = kb_as_documented((ROOT / "docs" / "knowledge-base.yml").read_text())
    (root / "docs" / "knowledge-base.yml").write_text(documented)
    shutil.copytree(ROOT / "inventory", root / "inventory")
    for path in (root / "inventory" / "host_vars").glob("*.yml"):
        set_in_file(path, ("discovered",), {})  # whatever a demo gathered here: none of this test's business
    (root / "playbooks").mkdir()
    (root / "playbooks" / "stop_it.meta.yml").write_text("description: x\nresolves: [cpu-runaway, load-high]\n")
    (root / "playbooks" / "tune_it.meta.yml").write_text("description: y\n")
    return Workspace(root, root / ".homelab", root / "inventory")


def diagnose(ws: Workspace, recorder: loop.Recorder, plan: str, checked_at: str, *findings: object) -> loop.Lessons:
    """What Recorder.findings does around the write-back of a diagnosis, with the section written as it would be."""
    before = {HOST: loop._health(ws, HOST).get("checked_at")}
    path = host_vars_file(ws.inventory, HOST)
    set_in_file(path, ("discovered", "health"), health(checked_at, *findings))
    return recorder.record_diagnoses(WriteBack({HOST: path}, [], {}, {}), before, plan)


def applied(plan_id: str, playbook: str, outcome: str = "changed") -> SimpleNamespace:
    step = Step(playbook=playbook, limit=HOST, risk="change", hosts=[HOST])
    summary = HostSummary(ok=3, changed=1 if outcome == "changed" else 0, failed=1 if outcome == "failed" else 0)
    record = ApplyRecord(started_at="2026-12-06T10:05:00+00:00", finished_at="2026-12-06T10:05:30+00:00",
                         status="succeeded", steps=[StepReview(step=0, playbook=playbook, check=False,
                                                               status="successful", rc=0, hosts={HOST: summary})],
                         hosts={HOST: HostOutcome(outcome=outcome)})
    return SimpleNamespace(id=plan_id, steps=[step], applies=[record], intent="stop it", hosts=[HOST])


def test_a_diagnosis_written_back_is_learnt_once_and_the_docs_follow(ws: Workspace) -> None:
    recorder = loop.Recorder(ws)
    learnt = diagnose(ws, recorder, "7f3a09bc", "2026-12-06T10:02:11Z", CPU, LOAD,
                      {"id": "journal-errors", "severity": "info", "summary": "2 errors"})
    assert learnt.learned == (f"cpu-runaway on {HOST} → runaway-process-k3s-vm",
                              f"load-high on {HOST} → runaway-process-k3s-vm") and learnt.problem is None
    assert recorder.pending == {loop.KNOWLEDGE_BASE}
    update = recorder.flush()
    assert update is not None and update.changed == [docsgen.TROUBLESHOOTING]
    doc = (ws.root / docsgen.TROUBLESHOOTING).read_text()
    assert f"Last occurrence: 2026-12-06 on {HOST}, plan 7f3a09bc (diagnosis of " in doc
    # The same health again (not read anew): nothing more is learnt.
    again = recorder.record_diagnoses(WriteBack({}, [HOST], {}, {}), {HOST: "2026-12-06T10:02:11Z"}, "other")
    assert again.learned == () and recorder.pending == set()


def test_a_host_that_did_not_answer_adds_no_diagnosis(ws: Workspace) -> None:
    recorder = loop.Recorder(ws)
    path = host_vars_file(ws.inventory, HOST)
    set_in_file(path, ("discovered", "health"), health("2026-12-06T10:02:11Z", CPU))
    stale = recorder.record_diagnoses(WriteBack({HOST: path}, [], {HOST: "2026-12-06T10:00:00Z"}, {}), {}, "p1")
    assert stale.learned == () and not kb.load(ws.root).issues[2].occurrences


def test_a_health_section_in_an_odd_shape_is_learnt_as_far_as_it_goes(ws: Workspace) -> None:
    recorder = loop.Recorder(ws)
    odd = diagnose(ws, recorder, "p1", "not a time", CPU, "not a finding", {"id": ["x"], "severity": "critical"})
    assert len(odd.learned) == 1, "the finding that fits is recorded; the others are passed over"
    assert kb.load(ws.root).issues[2].occurrences[0].date == dt.datetime.now(dt.UTC).date()
    path = host_vars_file(ws.inventory, HOST)
    set_in_file(path, ("discovered", "health"), {"checked_at": "2026-12-07T00:00:00Z", "findings": {"id": "x"}})
    assert recorder.record_diagnoses(WriteBack({HOST: path}, [], {}, {}), {}, "p2").learned == ()


def test_an_applied_fix_is_learnt_with_its_outcome_and_the_policys_approval(ws: Workspace) -> None:
    recorder = loop.Recorder(ws)
    diagnose(ws, recorder, "7f3a09bc", "2026-12-06T10:02:11Z", CPU)
    plan = applied("7f3a09bc", "stop_it")
    sessions.append(ws.root, sessions.Entry(time="2026-12-06T10:04:59+00:00", kind="approval", summary="ok",
                                            plan=plan.id, hosts=[HOST], decision=POLICY))
    learnt = recorder.record_fixes(plan)
    assert learnt.learned == (f"cpu-runaway on {HOST} → runaway-process-k3s-vm",), \
        "only what this plan diagnosed there, of what the playbook resolves"
    fix = kb.load(ws.root).issues[2].occurrences[-1]
    assert (fix.kind, fix.outcome, fix.approved_by, fix.date, fix.summary) == (
        "fix", "changed", POLICY, dt.date(2026, 12, 6), "stop_it: changed")
    assert recorder.record_fixes(plan).learned == (), "recorded once"
    assert recorder.record_fixes(applied("9d0e1f2a", "tune_it")).learned == (), "a playbook that resolves nothing"
    other = recorder.record_fixes(applied("5b6c7d8e", "stop_it", "failed"), approved_by="approved with --yes")
    assert other.learned == (f"cpu-runaway on {HOST} → runaway-process-k3s-vm",
                             f"load-high on {HOST} → runaway-process-k3s-vm"), "no diagnosis: all it resolves"
    assert kb.load(ws.root).issues[2].occurrences[-1].outcome == "failed"


def test_the_context_pack_carries_recent_occurrences_and_counts(ws: Workspace) -> None:
    recorder = loop.Recorder(ws)
    for n in range(8):  # found and fixed every day: back eight times
        diagnose(ws, recorder, f"plan{n}", f"2026-12-0{n + 1}T10:00:00Z", CPU)
        kb.record_fix(ws.root, HOST, ["cpu-runaway"], f"plan{n}", "changed", POLICY, f"2026-12-0{n + 1}",
                      groups={"k3s"})
    got = recall(ws.root, [HOST], {HOST: ["k3s"]}, budget_chars=100_000, today=dt.date(2026, 12, 8))
    runaway = next(i for i in got.issues if i["id"] == "runaway-process-k3s-vm")
    assert runaway["occurrences_on_these_hosts"] == 16 and len(runaway["recent_occurrences"]) == 5
    assert runaway["recent_occurrences"][0]["plan"] == "plan7" and runaway["recurring"] is True
    assert runaway["seen_in_window"] == 10, "back 8 times after a fix and 2 of a person's dates within 30 days"
    assert "occurrences" not in runaway and "seen" not in runaway


def test_troubleshooting_lists_the_tools_issues_and_recurring_advice_from_occurrences(ws: Workspace) -> None:
    disk = {"id": "disk-full", "severity": "warning", "summary": "/srv/lab-full is 98% used"}
    for day in ("01", "03", "05"):  # found and fixed each time: back three times
        kb.record_diagnosis(ws.root, "maas", [disk], f"p{day}", f"2026-12-{day}", groups={"infra"})
        kb.record_fix(ws.root, "maas", ["disk-full"], f"p{day}", "ok", POLICY, f"2026-12-{day}", groups={"infra"})
    doc = docsgen.generate(ws.root, ws.inventory, only=[docsgen.TROUBLESHOOTING])[docsgen.TROUBLESHOOTING]
    section = doc[doc.index("## A filesystem is nearly full on maas"):]
    assert "Opened by homelab from a diagnosis: the root cause is not yet known." in section
    assert "> Seen 3× in 30 days — it keeps coming back: look for a lasting fix." in section
    assert f"Last occurrence: 2026-12-05 on maas, plan p05 (fix of disk-full: ok; {POLICY})." in section
    assert "Counts\nof the last 30 days are as of 2026-12-05" in doc, "today is the latest date the inputs carry"


def test_history_host_tells_the_thread_in_time_order(ws: Workspace) -> None:
    recorder = loop.Recorder(ws)
    log = [("2026-12-06T10:02:30+00:00", "plan", None, {}), ("2026-12-06T10:04:59+00:00", "approval", POLICY, {}),
           ("2026-12-06T10:05:31+00:00", "apply", None, {HOST: "changed"})]
    for time, kind, decision, outcome in log:
        sessions.append(ws.root, sessions.Entry(time=time, kind=kind, summary=f"{kind} of 7f3a09bc", plan="7f3a09bc",
                                                hosts=[HOST], decision=decision, outcome=outcome,
                                                intent="check why k3s-vm-still-fawn is slow"))
    sessions.append(ws.root, sessions.Entry(time="2026-12-06T11:00:00+00:00", kind="plan", summary="elsewhere",
                                            plan="00000000", hosts=["maas"]))
    diagnose(ws, recorder, "7f3a09bc", "2026-12-06T10:02:11Z", CPU)
    recorder.record_fixes(applied("7f3a09bc", "stop_it"))
    kb.record_diagnosis(ws.root, HOST, [LOAD], "unlogged", "2026-12-07", groups={"k3s"})
    env = {"HOMELAB_ROOT": str(ws.root), "HOMELAB_INVENTORY": str(ws.inventory)}
    shown = run_homelab("history", "--host", HOST, "--format", "json", env=env)
    assert shown.rc == 0, shown.stderr
    thread = json.loads(shown.stdout)
    assert [(t["kind"], t["source"]) for t in thread] == [
        ("plan", "session log"), ("diagnosis", "knowledge base"), ("approval", "session log"),
        ("apply", "session log"), ("fix", "knowledge base"), ("diagnosis", "knowledge base")]
    assert thread[1]["time"] == "2026-12-06T10:02:30+00:00", "a diagnosis is placed at its plan's entry"
    assert thread[3]["approved_by"] == POLICY and thread[4]["approved_by"] == POLICY
    assert thread[4]["outcome"] == {HOST: "changed"} and thread[4]["issue"] == "runaway-process-k3s-vm"
    assert thread[5]["time"] == "2026-12-07" and thread[5]["symptom"] == "load-high"
    text = run_homelab("history", "--host", HOST, "--since", "2026-12-07", env=env)
    assert text.rc == 0
    assert text.stdout.splitlines()[0] == "2026-12-07 diagnosis plan unlogged: load-high: load 7.9 on 4 cores"
    plain = json.loads(run_homelab("history", "--format", "json", env=env).stdout)
    assert [e["kind"] for e in plain] == ["plan", "approval", "apply", "plan"], "without --host: the log as before"


def test_an_apply_reads_back_only_the_hosts_it_changed_or_failed_on() -> None:
    outcomes = {"a": "ok", "b": "changed", "c": "failed", "d": "unreachable", "e": "outcome_unknown"}
    plan = SimpleNamespace(applies=[SimpleNamespace(hosts={h: HostOutcome(outcome=o) for h, o in outcomes.items()})])
    # An ok host is as it was: its facts stand. A failed one may have changed before its failure.
    assert loop.read_back_hosts(plan) == ["b", "c"]
