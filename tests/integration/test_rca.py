"""An incident review of the slow-host flow on the lab, and its validation:

    homelab lab plant k3s-vm-still-fawn cpu-hog
    homelab plan "why is k3s-vm-still-fawn slow"   → diagnose_host finds the runaway, proposes the fix
    homelab apply ID --yes                          → stopped
    homelab rca ID                                  → docs/rca/<day>-cpu-runaway-k3s-vm-still-fawn.md
    homelab rca validate FILE                       → validated; the knowledge base and TROUBLESHOOTING.md learn it

Real ansible-core through ansible-runner over SSH to the lab; the review cites what the real diagnosis and the
real apply reported (the runaway's pid and unit), and the session log the commands wrote.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from planner.knowledge import kb
from planner.knowledge.rca.document import SECTIONS
from planner.knowledge.rca.validate import parse
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_diagnose_host import THRESHOLD, main_pid, planted  # noqa: F401 (a fixture)

HOST = "k3s-vm-still-fawn"
UNIT = "lab-cpu-hog.service"


def test_an_incident_review_of_a_slow_host_cites_its_evidence_and_validates(lab: Lab, project: Path,
                                                                           planted: Any) -> None:  # noqa: F811
    (project / "inventory" / "group_vars" / "all" / "diagnose.yml").write_text("---\n" + THRESHOLD)
    planted(HOST, "cpu-hog")
    pid = main_pid(lab, HOST)
    made = homelab_in(project, "plan", f"why is {HOST} slow", "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    assert [s["playbook"] for s in plan["steps"]] == ["diagnose_host", "remediate_runaway_processes"]
    applied = homelab_in(project, "apply", plan["id"], "--yes", "--format", "json")
    assert applied.rc == 0, applied.stderr

    written = homelab_in(project, "rca", plan["id"], "--format", "json")
    assert written.rc == 0, written.stderr
    out = plan_json(written)
    path = project / out["path"]
    assert re.fullmatch(rf"docs/rca/\d{{4}}-\d\d-\d\d-cpu-runaway-{HOST}\.md", out["path"]), out
    review = parse(path)
    assert review.front["status"] == "draft" and review.front["plans"] == [plan["id"]]
    assert list(review.sections) == list(SECTIONS) and all(review.sections.values())
    text = path.read_text()
    assert f"plan `{plan['id']}`" in review.sections["Summary"]
    assert f"pid {pid}" in review.sections["Root cause"] and UNIT in review.sections["Root cause"]
    assert f"`homelab_remediation.stopped[0].pid` = “{pid}”" in review.sections["Resolution"], text
    assert "session log · approval" in review.sections["Timeline"]
    assert "decision “approved with --yes”" in review.sections["Timeline"], text

    validated = homelab_in(project, "rca", "validate", out["path"])
    assert validated.rc == 0, validated.stderr
    assert parse(path).front["status"] == "validated" and parse(path).front["validated_by"]
    [issue] = [i for i in kb.load(project).issues if i.rca is not None]
    assert issue.rca.path == out["path"] and issue.rca.plans == [plan["id"]]
    troubleshooting = (project / "docs" / "TROUBLESHOOTING.md").read_text()
    assert f'<a id="{issue.id}"></a>' in troubleshooting and f"({out['path'].removeprefix('docs/')})" \
        in troubleshooting
    assert f"(TROUBLESHOOTING.md#{issue.id})" in (project / "docs" / "PROCEDURES.md").read_text()
    again = homelab_in(project, "rca", "validate", out["path"])
    assert again.rc == 4, again.stderr
    check = homelab_in(project, "docs", "--check")
    assert check.rc == 0, check.stderr
