"""The slow-host conversation as the person has it, on the lab, with the offline planner:

    homelab plan "why is k3s-vm-still-fawn slow"   → the runaway named, its standard fix a step of the plan
    homelab apply ID                               → stopped exactly as reviewed; the knowledge base learns it
    … three times; the fourth diagnosis says it keeps coming back and proposes limits as a step of its own …
    homelab plan "yes, add resource limits"        → the drop-in already there: nothing to change
    homelab plan "why is still-fawn slow" --auto-approve-policy   → a covered fix applied without a prompt
    homelab plan "why is maas slow" --auto-approve-policy         → maas is critical: saved, not applied
    homelab apply ID --auto-approve-policy                        → the same decision when applying later

Each part has its closer tests (test_diagnose_host, test_remediate, test_policy, test_learning_loop and the
unit tests of proposals and recurrence); this one checks they hold together: the diagnosis's proposal is the
fix the apply runs, the fixes it records make the recurrence the next plan reads, the permanent fix the plan
proposes is the one "add resource limits" asks for, and the policy decides on the plan the diagnosis made.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from tests.conftest import run_homelab
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_diagnose_host import THRESHOLD, main_pid, planted  # noqa: F401 (a fixture)

HOST = "k3s-vm-still-fawn"
UNIT = "lab-cpu-hog.service"
DROP_IN = f"/etc/systemd/system/{UNIT}.d/50-homelab-limits.conf"
RULE = "runaway-fix-on-hypervisors"
POLICY = f"""\
critical: [maas, k3s]
rules:
  - name: {RULE}
    playbooks: [remediate_runaway_processes]
    targets: [proxmox, infra]
    unless_vars: [remediate_limits]
"""


def on_host(lab: Lab, host: str, command: str) -> str:
    result = run_homelab("lab", "ssh", host, "--", "sudo", "sh", "-c", shlex.quote(command), env=lab.env, timeout=60)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def hog_state(lab: Lab, host: str) -> str:
    """active while the hog runs; a stopped transient unit is gone (inactive)."""
    return on_host(lab, host, f"systemctl is-active {UNIT} || true")


def made(project: Path, *args: str) -> dict[str, Any]:
    result = homelab_in(project, *args, "--format", "json")
    assert result.rc == 0, result.stderr
    return plan_json(result)


def applied(project: Path, plan: dict[str, Any]) -> dict[str, Any]:
    result = homelab_in(project, "apply", plan["id"], "--yes", "--format", "json")
    assert result.rc == 0, result.stderr
    return plan_json(result)


def steps(plan: dict[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    return [(s["playbook"], s["hosts"], sorted(s["vars"])) for s in plan["steps"]]


def remediation(done: dict[str, Any]) -> list[dict[str, Any]]:
    return [t["report"]["homelab_remediation"] for s in done["applies"][-1]["steps"] for t in s["tasks"]
            if isinstance(t.get("report"), dict) and "homelab_remediation" in t["report"]]


def test_the_slow_host_conversation(lab: Lab, project: Path, planted: Any) -> None:  # noqa: F811
    # The thresholds of the 2-core lab (see THRESHOLD), for every host; the project's knowledge base starts
    # with no sighting of its own, so the count below is this conversation's alone.
    (project / "inventory" / "group_vars" / "all" / "diagnose.yml").write_text("---\n" + THRESHOLD)
    kb = project / "docs" / "knowledge-base.yml"
    kb.write_text(kb.read_text().replace("seen: [2026-11-04, 2026-11-12, 2026-11-21]", "seen: []"))
    (project / ".homelab" / "policy.yml").write_text(POLICY)

    # 1–3. Found, its standard fix a step of the plan, applied by the person, gone.
    for n, intent in enumerate([f"why is {HOST} slow", f"check why {HOST} seems slow", f"{HOST} is sluggish"]):
        planted(HOST, "cpu-hog")
        pid = main_pid(lab, HOST)
        plan = made(project, "plan", intent)
        assert steps(plan) == [("diagnose_host", [HOST], []),
                               ("remediate_runaway_processes", [HOST], ["remediate_action", "remediate_processes"])]
        assert [p["pid"] for p in plan["steps"][1]["vars"]["remediate_processes"]] == [pid]
        before = f"seen {n}× in 30 days there" if n else "not seen there before"
        assert f"waits until the problem keeps coming back ({before}, 3× makes it recurring)" \
            in plan["explanation"], (n, plan["explanation"])
        done = applied(project, plan)
        [report] = remediation(done)
        assert [(p["pid"], p["unit"]) for p in report["stopped"]] == [(pid, UNIT)]
        assert hog_state(lab, HOST) == "inactive"

    # 4. Back a fourth time: the plan says how often, and proposes the limits as a step of its own.
    planted(HOST, "cpu-hog")
    fourth = made(project, "plan", f"why is {HOST} slow")
    assert steps(fourth) == [("diagnose_host", [HOST], []),
                             ("remediate_runaway_processes", [HOST], ["remediate_action", "remediate_processes"]),
                             ("remediate_runaway_processes", [HOST], ["remediate_limits", "remediate_processes"])]
    said = f"cpu-runaway seen 3× in 30 days on {HOST}"
    assert said in fourth["explanation"] and said in fourth["steps"][2]["rationale"]
    assert fourth["steps"][2]["vars"]["remediate_limits"] == [
        {"unit": UNIT, "cpu_quota_pct": 50, "memory_max_mib": 0}]
    assert hog_state(lab, HOST) == "active", "the review stopped nothing"
    applied(project, fourth)
    assert hog_state(lab, HOST) == "inactive"
    assert "CPUQuota=50%" in on_host(lab, HOST, f"cat {DROP_IN}")
    troubleshooting = (project / "docs" / "TROUBLESHOOTING.md").read_text()
    assert "Seen 4× in 30 days" in troubleshooting, troubleshooting

    # The person's "yes": the same limits, already in place — reviewed and applied without a change.
    limits = made(project, "plan", "yes, add resource limits")
    assert [(s["playbook"], s["hosts"], s["vars"].get("remediate_limits")) for s in limits["steps"]] == [
        ("remediate_runaway_processes", [HOST], fourth["steps"][2]["vars"]["remediate_limits"])]
    again = applied(project, limits)
    assert {h: o["changed"] for h, o in again["applies"][-1]["hosts"].items()} == {HOST: 0}

    # The thread a person reads back: every diagnosis and fix, and who approved each.
    history = homelab_in(project, "history", "--host", HOST, "--format", "json")
    assert history.rc == 0, history.stderr
    items = plan_json(history)
    fixes = [i for i in items if i["kind"] == "fix"]
    assert len([i for i in items if i["kind"] == "diagnosis" and i["symptom"] == "cpu-runaway"]) == 4
    assert len(fixes) >= 4 and all(i["approved_by"] == "approved with --yes" for i in fixes), fixes

    # The policy: a covered fix on a hypervisor is applied at once, without a prompt ...
    planted("still-fawn", "cpu-hog")
    auto = made(project, "plan", "why is still-fawn slow", "--auto-approve-policy")
    assert auto["status"] == "applied", auto["status"]
    assert hog_state(lab, "still-fawn") == "inactive"
    approvals = [i for i in plan_json(homelab_in(project, "history", "--host", "still-fawn", "--format", "json"))
                 if i["kind"] == "approval" and i["plan"] == auto["id"]]
    assert [a["decision"] for a in approvals] == [f"approved by policy rule {RULE} (.homelab/policy.yml)"]

    # ... and the same fix on maas waits for a person: maas is critical.
    planted("maas", "cpu-hog")
    pid = main_pid(lab, "maas")
    result = homelab_in(project, "plan", "why is maas slow", "--auto-approve-policy")
    assert result.rc == 0, result.stderr
    assert "maas is critical" in result.stderr, result.stderr
    assert main_pid(lab, "maas") == pid and hog_state(lab, "maas") == "active"
    refusals = [i for i in plan_json(homelab_in(project, "history", "--host", "maas", "--format", "json"))
                if i["kind"] == "refusal"]
    assert refusals and "not auto-approved" in refusals[-1]["decision"] and "maas is critical" in \
        refusals[-1]["decision"]
    waiting = plan_json(homelab_in(project, "show", "latest", "--format", "json"))
    asked = homelab_in(project, "apply", waiting["id"], "--auto-approve-policy")
    assert asked.rc == 2 and "Not auto-approved: " in asked.stderr and "maas is critical" in asked.stderr, asked
    assert "--yes" in asked.stderr, "without a terminal, only the person's --yes would apply it"
    assert main_pid(lab, "maas") == pid and hog_state(lab, "maas") == "active"

    # The same policy at apply time: a plan made without the flag, applied later without a prompt.
    planted("still-fawn", "cpu-hog")
    later = made(project, "plan", "why is still-fawn slow")
    assert later["status"] == "planned" and hog_state(lab, "still-fawn") == "active"
    result = homelab_in(project, "apply", later["id"], "--auto-approve-policy")
    assert result.rc == 0 and f"approved by policy rule {RULE}" in result.stderr, result.stderr
    assert hog_state(lab, "still-fawn") == "inactive"
