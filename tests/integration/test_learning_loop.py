"""The learning loop against the sandbox lab: a real apply's outcome and approval recorded as a fix in the
knowledge base, TROUBLESHOOTING.md following, and the host's thread telling it."""

from __future__ import annotations

import json
from pathlib import Path

from planner.knowledge import kb
from planner.knowledge.loop import Recorder
from planner.paths import state_dir
from planner.plans import planfile
from planner.workspace import Workspace
from tests.integration.conftest import Lab, homelab_in, plan_json


def test_a_real_applys_fix_is_learnt_with_its_outcome_and_approval_and_threaded(lab: Lab, project: Path) -> None:
    made = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas",
                                "-e", "baseline_journald_max_retention=6weeks", "--format", "json"))
    applied = homelab_in(project, "apply", made["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    assert "knowledge base" not in applied.stderr, "a playbook that resolves no finding teaches nothing"

    # The same apply, as if its playbook's meta said what it resolves (a fix entry of the catalog says so; the
    # key is added after the apply here, so the plan's reviewed inputs stay as they were).
    meta = project / "playbooks" / "apply_baseline.meta.yml"
    original = meta.read_text()
    meta.write_text(original + "resolves: [journal-errors]\n")
    ws = Workspace(project, state_dir(project), project / ".homelab" / "lab-inventory")
    plan = planfile.load(ws.state, made["id"])
    recorder = Recorder(ws)
    learnt = recorder.record_fixes(plan)
    assert learnt.problem is None and learnt.learned == ("journal-errors on maas → journal-errors-maas (new)",)
    assert recorder.record_fixes(plan).learned == (), "one occurrence per plan, host and symptom"
    meta.write_text(original)
    update = recorder.flush()
    assert update is not None and update.changed == ["docs/TROUBLESHOOTING.md"]
    assert homelab_in(project, "docs", "--check").rc == 0

    issue = next(i for i in kb.load(project).issues if i.id == "journal-errors-maas")
    fix = issue.occurrences[0]
    assert (fix.kind, fix.host, fix.plan, fix.outcome, fix.approved_by) == (
        "fix", "maas", made["id"], plan.applies[-1].hosts["maas"].outcome, "approved with --yes")
    assert fix.outcome == "changed" and issue.added_by == "homelab" and issue.root_cause == "not yet known"

    thread = json.loads(homelab_in(project, "history", "--host", "maas", "--format", "json").stdout)
    mine = [(t["kind"], t["source"]) for t in thread if t["plan"] == made["id"]]
    assert mine == [("plan", "session log"), ("approval", "session log"), ("apply", "session log"),
                    ("fix", "knowledge base")], mine
    assert thread[-1]["approved_by"] == "approved with --yes" and thread[-1]["outcome"] == {"maas": "changed"}
    text = homelab_in(project, "history", "--host", "maas")
    assert f"fix plan {made['id']}: journal-errors: apply_baseline: changed" in text.stdout
    assert "    approved: approved with --yes" in text.stdout
