"""The approval policy on the lab: a covered plan applies without a prompt, maas waits, a broken file stops all."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import homelab_in, plan_json

RULE = "baseline-on-hypervisors"
POLICY = f"""\
# Written by the test: the baseline may change one or two hypervisors without the prompt.
auto_apply: false
rules:
  - name: {RULE}
    playbooks: [apply_baseline]
    targets: [proxmox, infra]   # maas is in infra, but critical by default
    unless_vars: [baseline_admin_authorized_keys]
    max_hosts: 2
"""
APPROVAL = f"approved by policy rule {RULE} (.homelab/policy.yml)"


def write_policy(project: Path, text: str = POLICY) -> None:
    """The policy goes into the test's own project copy, never into the repository."""
    (project / ".homelab" / "policy.yml").write_text(text)


def history(project: Path) -> list[dict]:
    shown = homelab_in(project, "history", "--format", "json")
    assert shown.rc == 0, shown.stderr
    return json.loads(shown.stdout)


def baselined(project: Path, host: str) -> None:
    """The baseline applied by a person first. Its first run reloads the sysctls, a command check mode cannot
    see (the review says unknown), and such a plan is never the policy's to approve; a later change is."""
    made = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", host, "--format", "json"))
    applied = homelab_in(project, "apply", made["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    logged = [e["decision"] for e in history(project) if e["plan"] == made["id"] and e["kind"] == "approval"]
    assert logged == ["approved with --yes"]  # a person's approval keeps apply's words


def test_a_covered_plan_applies_without_a_prompt_and_the_log_names_the_rule(project: Path) -> None:
    baselined(project, "still-fawn")
    write_policy(project)
    # No terminal and no --yes: only the policy can approve this apply (a prompt would refuse, exit 2).
    made = homelab_in(project, "plan", "--playbook", "apply_baseline", "--limit", "still-fawn",
                      "-e", "baseline_timezone=Europe/Berlin", "--auto-approve-policy", "--format", "json")
    assert made.rc == 0, made.stderr
    applied = plan_json(made)  # one JSON document: the plan with its apply record
    assert applied["status"] == "applied" and applied["applies"][-1]["status"] == "succeeded", made.stderr
    assert applied["applies"][-1]["hosts"]["still-fawn"]["outcome"] == "changed"
    assert f"{APPROVAL} (--auto-approve-policy); applying it now." in made.stderr
    assert "Apply succeeded." in made.stderr

    entries = [e for e in history(project) if e["plan"] == applied["id"]]
    assert [e["kind"] for e in entries] == ["plan", "approval", "apply"]
    assert entries[2]["outcome"] == {"still-fawn": "changed"}
    assert entries[1]["decision"] == APPROVAL
    shown = homelab_in(project, "history", "--host", "still-fawn")
    assert f"approved: {APPROVAL}" in shown.stdout  # the thread names who approved

    checked = homelab_in(project, "policy", "check", applied["id"])
    assert checked.rc == 0 and f"Plan {applied['id']}: {APPROVAL}" in checked.stdout


def test_auto_apply_in_the_file_applies_a_covered_plan_without_the_flag(project: Path) -> None:
    baselined(project, "pumped-piglet")
    write_policy(project, POLICY.replace("auto_apply: false", "auto_apply: true"))
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", "pumped-piglet",
                      "-e", "baseline_timezone=Europe/Berlin")
    assert made.rc == 0, made.stderr
    assert f"{APPROVAL} (auto_apply: true in .homelab/policy.yml); applying it now." in made.stderr
    assert "Apply succeeded." in made.stderr


def test_a_plan_on_maas_is_saved_not_applied_and_the_reason_is_printed_and_logged(project: Path) -> None:
    write_policy(project)
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", "--auto-approve-policy",
                      "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    reason = "step 1 (apply_baseline): maas is critical (policy: critical: [maas, k3s])"
    assert plan["status"] == "planned" and plan["applies"] == []
    assert f"Not auto-approved (--auto-approve-policy): {reason}" in made.stderr
    assert f"Apply it with: homelab apply {plan['id']}" in made.stderr

    entries = [e for e in history(project) if e["plan"] == plan["id"]]
    assert [(e["kind"], e["decision"]) for e in entries] == [("plan", None),
                                                             ("refusal", f"not auto-approved: {reason}")]
    shown = plan_json(homelab_in(project, "show", plan["id"], "--format", "json"))
    assert shown["status"] == "planned"

    checked = homelab_in(project, "policy", "check", plan["id"], "--format", "json")
    assert checked.rc == 4
    assert json.loads(checked.stdout)["plan"] == {"id": plan["id"], "covered": False, "reason": reason,
                                                  "approval": None, "steps": [
        {"step": 0, "playbook": "apply_baseline", "rule": None,
         "reason": "maas is critical (policy: critical: [maas, k3s])"}]}


def test_an_invalid_policy_stops_the_plan_before_anything_is_saved_or_run(project: Path) -> None:
    write_policy(project, POLICY.replace("targets: [proxmox, infra]", "targets: [proxmoxx]"))
    refused = homelab_in(project, "plan", "-p", "apply_baseline", "-l", "still-fawn", "--auto-approve-policy")
    assert refused.rc == 2
    assert refused.stderr.startswith("Error: .homelab/policy.yml is invalid (1 problem); nothing is approved by it")
    assert ("  - .homelab/policy.yml:6:15: 'proxmoxx' is no host or group of the inventory "
            "(did you mean 'proxmox'?)") in refused.stderr
    assert "Hint:  fix the lines named above" in refused.stderr
    assert not (project / ".homelab" / "plans").exists() or not any((project / ".homelab" / "plans").iterdir())
    assert not (project / "docs" / "sessions").exists() or history(project) == []

    checked = homelab_in(project, "policy", "check")
    assert checked.rc == 2 and "proxmoxx" in checked.stderr

    unreviewed = homelab_in(project, "plan", "-p", "apply_baseline", "--no-check", "--auto-approve-policy")
    assert unreviewed.rc == 2 and "--auto-approve-policy needs the check run" in unreviewed.stderr

    # Not asked for: the broken file approves nothing, says so, and the plan waits for a person as usual.
    write_policy(project, POLICY.replace("auto_apply: false", "auto_apply: true").replace("[proxmox, infra]",
                                                                                          "[proxmoxx]"))
    plain = homelab_in(project, "plan", "-p", "apply_baseline", "-l", "still-fawn", "--format", "json")
    assert plain.rc == 0, plain.stderr
    assert ".homelab/policy.yml is invalid, so nothing is auto-approved: .homelab/policy.yml:6:15:" in plain.stderr
    assert plan_json(plain)["status"] == "planned"
