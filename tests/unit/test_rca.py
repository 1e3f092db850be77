"""Incident reviews from recorded plans and session-log lines: written with their evidence, named without
overwriting, linted, refused on bad input with nothing written, validated into the knowledge base and docs."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from planner.knowledge import docsgen, kb, sessions
from planner.knowledge.rca import document, evidence
from planner.knowledge.rca.validate import AlreadyValidatedError, parse, validate
from planner.plans import planfile
from planner.plans.planfile import (
    ApplyRecord,
    HostOutcome,
    HostSummary,
    Inputs,
    ManualItem,
    Plan,
    Review,
    Snapshot,
    Step,
    StepReview,
    TaskResult,
)
from planner.workspace import Workspace
from tests.conftest import ROOT, copy_project, documented_only, run_homelab

HOST = "k3s-vm-still-fawn"
UNIT = "lab-cpu-hog.service"
CPU = {"id": "cpu-runaway", "severity": "critical",
       "summary": "python3 /usr/local/bin/lab-cpu-hog (pid 4242, lab-cpu-hog.service) keeps 99 % of a core busy",
       "evidence": "pid 4242 start_time 777 user root: at least 98.0 % of one core in both 2 s samples "
                   "(threshold 80 %); cgroup /system.slice/lab-cpu-hog.service", "runbook": "runaway-processes"}
HOSTILE = {"id": "journal-errors", "severity": "info",
           "summary": "<script>alert(1)</script> [click](http://evil.example) **bold** `code` <!-- x -->",
           "evidence": "# heading\n- item | pipe", "runbook": ""}


def _inputs() -> Inputs:
    return Inputs(inventory="inventory", files={}, versions={}, snapshot=Snapshot(id="0", inventory="inventory",
                                                                                  files={}))


def diagnosis_plan(plan_id: str, created: str, *findings: dict, fix: bool = True, applied_at: str | None = None,
                   host: str = HOST) -> Plan:
    """A plan as `homelab plan "why is HOST slow"` saves it: diagnose_host's real run, its proposed fix."""
    health = {"checked_at": created, "cores": 2, "load": [2.5, 2.1, 1.2], "api_token": "s3cr3t-value",
              "runaway": [{"pid": 4242, "start_time": 777, "unit": UNIT,
                           "cmdline": "python3 /usr/local/bin/lab-cpu-hog", "cpu_pct": 99.0}],
              "findings": list(findings)}
    steps = [Step(playbook="diagnose_host", limit=host, risk="read", hosts=[host])]
    reviews = [StepReview(step=0, playbook="diagnose_host", check=False, status="successful", rc=0,
                          tasks=[TaskResult(host=host, task="Report the health and the proposed steps", status="ok",
                                            report={"homelab_health": health, "homelab_proposals": {}})])]
    if fix:
        steps.append(Step(playbook="remediate_runaway_processes", limit=host, risk="change", hosts=[host],
                          vars={"remediate_action": "stop", "remediate_processes": [{"pid": 4242}]}))
    plan = Plan(id=plan_id, created_at=created, intent=f"why is {host} slow", planner="offline", steps=steps,
                review=Review(checked_at=created, steps=reviews), inputs=_inputs(),
                manual=[ManualItem(title="Add resources.limits to the pod's manifest", reason="a k3s pod")])
    if fix and applied_at:
        done = StepReview(step=1, playbook="remediate_runaway_processes", check=False, status="successful", rc=0,
                          hosts={host: HostSummary(ok=3, changed=1)},
                          tasks=[TaskResult(host=host, task="Report what was stopped", status="ok", report={
                              "homelab_remediation": {"stopped": [{"pid": 4242, "unit": UNIT}]}})])
        plan = plan.model_copy(update={"status": "applied", "applies": [ApplyRecord(
            started_at=applied_at, finished_at=applied_at, status="succeeded", steps=[done],
            hosts={host: HostOutcome(outcome="changed", changed=1)})]})
    return plan


@pytest.fixture
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of the project (its catalog, inventory, docs and knowledge base) with no plans of its own."""
    root = documented_only(copy_project(tmp_path_factory.mktemp("rca") / "project"))
    state = root / ".homelab"
    (state / "plans").mkdir(parents=True)
    ws = Workspace(root, state, root / "inventory")
    # The docs as the documentation alone makes them: a `make demo` in the checkout wrote its facts into them.
    from planner.knowledge.loop import regenerate
    regenerate(ws)
    return ws


def save(ws: Workspace, plan: Plan) -> Plan:
    planfile.save(planfile.seal(plan, ws.state), ws.state)
    return plan


def log(ws: Workspace, time: str, kind: str, plan: str, summary: str, decision: str | None = None) -> None:
    sessions.append(ws.root, sessions.Entry(time=time, kind=kind, summary=summary, plan=plan, hosts=[HOST],
                                            decision=decision, outcome={HOST: "changed"} if kind == "apply" else {}))


@pytest.fixture
def incident(ws: Workspace) -> Plan:
    plan = save(ws, diagnosis_plan("d1a90515", "2026-12-05T09:00:00+00:00", CPU, HOSTILE,
                                   applied_at="2026-12-05T09:05:00+00:00"))
    log(ws, "2026-12-05T09:00:00+00:00", "plan", plan.id, f"Plan {plan.id} made by the offline planner.")
    log(ws, "2026-12-05T09:04:50+00:00", "approval", plan.id, "Approved.", "approved with --yes")
    log(ws, "2026-12-05T09:05:00+00:00", "apply", plan.id, "Applied: succeeded.")
    return plan


def test_a_review_cites_the_plan_the_finding_the_facts_the_fix_and_the_log(ws: Workspace, incident: Plan) -> None:
    path = document.write(ws.root, evidence.from_plan(ws.root, ws.state, incident.id))
    assert path == ws.root / "docs" / "rca" / f"2026-12-05-cpu-runaway-{HOST}.md"
    text = path.read_text()
    review = parse(path)
    assert review.front == {"status": "draft", "id": path.stem, "date": "2026-12-05", "hosts": [HOST],
                            "plans": [incident.id], "validated_by": "", "validated_at": ""}
    assert list(review.sections) == list(document.SECTIONS) and all(review.sections.values())
    summary = review.sections["Summary"]
    assert f"plan `{incident.id}`" in summary and "`cpu-runaway`" in summary and "pid 4242" in summary
    assert "`remediate_runaway_processes` applied on k3s-vm-still-fawn" in summary
    cause = review.sections["Root cause"]
    assert "evidence: “pid 4242 start\\_time 777" in cause
    assert f"fact {HOST} · `homelab_health.runaway[0].unit` = “lab-cpu-hog.service”" in cause
    assert "`homelab_remediation.stopped[0].pid` = “4242”" in review.sections["Resolution"]
    assert "- 2026-12-05 09:04:50 UTC: session log · approval" in review.sections["Timeline"]
    assert "Approved: session log 2026-12-05 09:04:50 UTC · approval" in review.sections["Resolution"]
    assert "decision “approved with --yes”" in review.sections["Timeline"]
    assert "> To confirm:" in review.sections["Impact"] and "> To confirm:" in review.sections["Root cause"]
    assert "s3cr3t" not in text and "api_token" not in text


def test_host_text_is_inert(ws: Workspace, incident: Plan) -> None:
    text = document.write(ws.root, evidence.from_plan(ws.root, ws.state, incident.id)).read_text()
    assert "<script>" not in text and "<!--" not in text and "**bold**" not in text
    assert not re.search(r"(?<!\\)\]\(http", text), "no link a renderer would follow"
    assert ("&lt;script&gt;alert(1)&lt;/script&gt; \\[click\\](http\\://evil.example) \\*\\*bold\\*\\* "
            "\\`code\\`") in text
    assert "\n# heading" not in text and "\n- item" not in text


def test_the_generated_review_passes_the_markdown_linter(ws: Workspace, incident: Plan) -> None:
    path = document.write(ws.root, evidence.from_plan(ws.root, ws.state, incident.id))
    linter = Path(sys.executable).with_name("pymarkdown")
    result = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml"), "scan", str(path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = path.with_name("broken.md")
    broken.write_text(path.read_text().replace("## Impact\n\n", "## Impact\n"))
    failed = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml"), "scan", str(broken)],
                            capture_output=True, text=True, cwd=ROOT)
    assert failed.returncode != 0 and "MD022" in failed.stdout, "the linter must be able to fail"


def test_names_are_never_reused(ws: Workspace, incident: Plan) -> None:
    found = evidence.from_plan(ws.root, ws.state, incident.id)
    first, second, third = (document.write(ws.root, found) for _ in range(3))
    assert [p.name for p in (first, second, third)] == [
        f"2026-12-05-cpu-runaway-{HOST}{n}.md" for n in ("", "-2", "-3")]
    assert parse(third).front["id"] == third.stem


def test_since_gathers_the_diagnoses_of_the_days_and_the_host(ws: Workspace, incident: Plan) -> None:
    other = save(ws, diagnosis_plan("0e7ab1c2", "2026-12-06T08:00:00+00:00", CPU, fix=False, host="still-fawn"))
    both = evidence.since(ws.root, ws.state, dt.date(2026, 12, 5))
    assert both.plans == [incident.id, other.id] and both.hosts == [HOST, "still-fawn"]
    one = evidence.since(ws.root, ws.state, dt.date(2026, 12, 5), host="still-fawn")
    assert one.plans == [other.id] and one.fixes == []
    text = document.render(one, "x")
    assert "No applied fix follows the diagnosis" in text and "> To confirm: was it fixed by hand" in text


def test_a_later_plan_that_resolves_the_finding_is_the_fix(ws: Workspace) -> None:
    first = save(ws, diagnosis_plan("aa000001", "2026-12-05T09:00:00+00:00", CPU, fix=False))
    # A later plan whose change step resolves cpu-runaway on the host (its own read step found nothing).
    save(ws, diagnosis_plan("aa000002", "2026-12-05T10:00:00+00:00", applied_at="2026-12-05T10:01:00+00:00"))
    found = evidence.from_plan(ws.root, ws.state, first.id)
    assert [(f.plan, f.playbook, f.resolves) for f in found.fixes] == [
        ("aa000002", "remediate_runaway_processes", ["cpu-runaway"])]


@pytest.mark.parametrize("args, said", [
    (["rca", "ffffffff"], "no plan 'ffffffff'"),
    (["rca", "--since", "2026-13-01"], "is not a date"),
    (["rca", "--since", "2999-01-01"], "is in the future"),
    (["rca", "--since", "2026-12-06", "--host", "maas"], "no diagnosis found anything on maas since 2026-12-06"),
    (["rca", "cafe0001"], "has no read step"),
    (["rca", "cafe0002"], "reported no findings"),
    (["rca"], "give one plan id, or --since DATE"),
])
def test_bad_input_is_refused_and_nothing_is_written(ws: Workspace, incident: Plan, args: list[str],
                                                     said: str) -> None:
    fix_only = diagnosis_plan("cafe0001", "2026-12-05T11:00:00+00:00", CPU)
    save(ws, fix_only.model_copy(update={"steps": fix_only.steps[1:], "review": Review()}))
    save(ws, diagnosis_plan("cafe0002", "2026-12-05T12:00:00+00:00", fix=False))
    result = run_homelab(*args, cwd=ws.root)
    assert result.rc == 2, result.stderr
    assert said in result.stderr and "Error:" in result.stderr and "Hint:" in result.stderr
    assert sorted((ws.root / "docs" / "rca").glob("2*.md")) == []


def test_validate_records_the_known_issue_and_the_docs_name_it(ws: Workspace, incident: Plan) -> None:
    path = document.write(ws.root, evidence.from_plan(ws.root, ws.state, incident.id))
    kb_before = (ws.root / "docs" / "knowledge-base.yml").read_text()
    done = validate(ws, path, now=dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC))
    front = parse(path).front
    assert (front["status"], front["validated_at"]) == ("validated", "2026-12-06T08:00:00+00:00")
    assert front["validated_by"] == done.validated_by != ""
    kb_text = (ws.root / "docs" / "knowledge-base.yml").read_text()
    assert kb_text.startswith(kb_before.rstrip("\n")[:400]), "the person's comments and entries stay"
    [issue] = [i for i in kb.load(ws.root).issues if i.rca is not None]
    assert issue.id == done.issue == f"rca-{path.stem}"
    assert issue.rca.path == f"docs/rca/{path.name}" and issue.rca.plans == [incident.id]
    assert issue.rca.date == dt.date(2026, 12, 5) and issue.affected == [HOST]
    assert "pid 4242" in issue.symptoms[0] and "cpu-runaway" in issue.root_cause
    assert issue.playbooks == ["diagnose_host", "remediate_runaway_processes"]
    troubleshooting = (ws.root / "docs" / "TROUBLESHOOTING.md").read_text()
    assert f'<a id="{issue.id}"></a>' in troubleshooting and f"(rca/{path.name})" in troubleshooting
    procedures = (ws.root / "docs" / "PROCEDURES.md").read_text()
    assert f"(TROUBLESHOOTING.md#{issue.id})" in procedures and f"Review: [rca/{path.name}](rca/{path.name})" \
        in procedures
    assert sorted(done.docs) == ["docs/PROCEDURES.md", "docs/TROUBLESHOOTING.md"]
    generated = docsgen.generate(ws.root, ws.inventory)
    assert docsgen.stale(ws.root, generated) == [], "homelab docs --check stays green"


def test_validate_refuses_a_validated_or_incomplete_review_and_leaves_it(ws: Workspace, incident: Plan) -> None:
    path = document.write(ws.root, evidence.from_plan(ws.root, ws.state, incident.id))
    kb_file = ws.root / "docs" / "knowledge-base.yml"
    text = path.read_text()
    incomplete = path.with_name("incomplete.md")
    incomplete.write_text(text.replace("## Prevention\n", "## Prevent\n").replace(
        text[text.index("## Impact") + 11:text.index("## Timeline")], ""))
    before = (incomplete.read_text(), kb_file.read_text())
    result = run_homelab("rca", "validate", str(incomplete), cwd=ws.root)
    assert result.rc == 2, result.stderr
    assert "section '## Prevention' is missing" in result.stderr and "section '## Impact' is empty" in result.stderr
    assert (incomplete.read_text(), kb_file.read_text()) == before
    assert run_homelab("rca", "validate", str(path), cwd=ws.root).rc == 0
    validated = (path.read_text(), kb_file.read_text())
    again = run_homelab("rca", "validate", str(path), cwd=ws.root)
    assert again.rc == 4 and "was validated already" in again.stderr and "Hint:" in again.stderr
    assert (path.read_text(), kb_file.read_text()) == validated


def test_a_review_outside_docs_rca_is_refused(ws: Workspace, incident: Plan, tmp_path: Path) -> None:
    path = document.write(ws.root, evidence.from_plan(ws.root, ws.state, incident.id))
    elsewhere = shutil.copy(path, tmp_path / path.name)
    with pytest.raises(Exception, match="is not under docs/rca"):
        validate(ws, Path(elsewhere))
    with pytest.raises(AlreadyValidatedError):
        validate(ws, path)
        validate(ws, path)
