"""``homelab policy check``, and the approval policy's part in ``homelab plan``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import click

from planner.commands._options import console, format_option, inventory_option, print_json
from planner.errors import ExitCode, HomelabError


@dataclass(frozen=True)
class Gate:
    """The policy a ``homelab plan`` run answers to, with the catalog and inventory it was checked against."""

    loaded: Any  # planner.plans.policy.LoadedPolicy
    catalog: Any
    inventory: Any
    why: str  # what asked for it: --auto-approve-policy, or the file's auto_apply: true

    def decide(self, plan: Any) -> Any:
        """The policy's decision for ``plan``."""
        from planner.plans.policy import decide

        return decide(plan, self.loaded, self.catalog, self.inventory)


def checked_policy(ws: Any) -> tuple[Any, Any, Any]:
    """The policy of the workspace's project, validated: (loaded policy, catalog, inventory)."""
    from planner.catalog.entries import load_catalog
    from planner.inventory.hosts import load_inventory
    from planner.plans.policy import load_policy

    catalog = load_catalog(ws.root)
    inventory = load_inventory(ws.inventory)
    return load_policy(ws.root, catalog, inventory), catalog, inventory


def plan_gate(ws: Any, flag: bool, no_check: bool) -> Gate | None:
    """The policy ``homelab plan`` will apply a covered plan under, or None.

    Read before anything is planned: with ``--auto-approve-policy`` an invalid file stops the command with
    nothing saved or run; without it, an invalid file is said and approves nothing. Only the flag or the
    file's ``auto_apply: true`` asks for the policy; without a check run there is no review for it to
    approve, so the flag with --no-check is refused.
    """
    from planner.plans.policy import POLICY_SHOWN, policy_path

    if flag and no_check:
        raise HomelabError("--auto-approve-policy needs the check run: the policy approves only a reviewed plan, "
                           "and --no-check reviews nothing", "leave out --no-check, or --auto-approve-policy")
    if no_check or not (flag or policy_path(ws.root).is_file()):
        return None
    from planner.plans.policy import PolicyError

    try:
        loaded, catalog, inventory = checked_policy(ws)
    except PolicyError as problem:
        if flag:
            raise
        # Not asked for: a broken file approves nothing, and the plan waits for a person as it would without it.
        first = problem.details[0] if problem.details else problem.message
        console(stderr=True).print(f"{POLICY_SHOWN} is invalid, so nothing is auto-approved: {first} "
                                   "(homelab policy check lists every problem)", markup=False)
        return None
    if not (flag or loaded.policy.auto_apply):
        return None
    return Gate(loaded, catalog, inventory, "--auto-approve-policy" if flag else f"auto_apply: true in {POLICY_SHOWN}")


def apply_covered(recorder: Any, made: Any, decision: Any, gate: Gate, fmt: str, output: str | None) -> None:
    """Apply ``made``, which the policy covers, at once: ``decision``'s approval stands in for the prompt."""
    from rich.markup import escape

    from planner.commands._plans import emit
    from planner.commands.apply import apply_now

    err = console(stderr=True)
    # JSON is one document on stdout: the applied plan that apply prints, not the reviewed one before it too.
    if fmt != "json" or output is not None:
        for path in emit(made, fmt, output):
            err.print(f"Wrote {path}")
    err.print(f"Plan {made.id} saved and {escape(decision.approval)} ({escape(gate.why)}); applying it now.")
    apply_now(recorder, made, False, fmt, err, approved=decision.approval)


def not_covered(recorder: Any, made: Any, decision: Any, gate: Gate) -> None:
    """Say, and log as a refusal, why the policy leaves ``made`` to a person."""
    from rich.markup import escape

    console(stderr=True).print(f"Not auto-approved ({escape(gate.why)}): {escape(decision.reason)}")
    recorder.log_event("refusal", f"Plan {made.id} was not auto-approved: {decision.reason}", made,
                       decision=f"not auto-approved: {decision.reason}")


@click.group()
def policy() -> None:
    """The approval policy: which reviewed change plans apply without the prompt.

    The policy is .homelab/policy.yml (see the README, "Approval policy").
    """


@policy.command("check")
@click.argument("plan_ref", metavar="[PLAN_ID|latest]", required=False)
@inventory_option()
@format_option("text", "json")
def check(plan_ref: str | None, inventory: str | None, fmt: str) -> None:
    """Validate .homelab/policy.yml; with PLAN_ID, say whether it covers that saved plan, and why.

    \b
    Exit codes: 0 the policy is valid (and covers the plan), 2 the policy
    is invalid or bad input, 4 the plan is not covered (the reason is
    printed; it waits for `homelab apply`).

    \b
    Examples:
      homelab policy check
      homelab policy check latest
      homelab policy check 7f3a --format json
    """
    from rich.markup import escape

    from planner.paths import project_root, state_dir
    from planner.plans import planfile
    from planner.plans.policy import POLICY_SHOWN
    from planner.workspace import Workspace

    plan = planfile.load(state_dir(project_root()), plan_ref) if plan_ref else None
    chosen = inventory or (str(project_root() / plan.inputs.inventory) if plan is not None else None)
    loaded, catalog, inv = checked_policy(Workspace.find(chosen))
    decision = Gate(loaded, catalog, inv, "").decide(plan) if plan is not None else None
    if fmt == "json":
        data: dict[str, Any] = {"policy": POLICY_SHOWN, "present": loaded.present,
                                **loaded.policy.model_dump(mode="json")}
        if plan is not None and decision is not None:
            data["plan"] = {"id": plan.id, "covered": decision.covered, "reason": decision.reason,
                            "approval": decision.approval if decision.covered else None,
                            "steps": [asdict(s) for s in decision.steps]}
        print_json(data)
    else:
        out = console()
        rules = loaded.policy.rules
        out.print(f"{POLICY_SHOWN}: " + (f"valid, {len(rules)} rule(s)" if loaded.present
                                        else "absent: no rule covers anything"), markup=False)
        out.print(f"  {loaded.critical_shown}; auto_apply: {str(loaded.policy.auto_apply).lower()}", markup=False)
        for rule in rules:
            out.print(f"  rule {rule.name}: {', '.join(rule.playbooks)} on {', '.join(rule.targets)}"
                      + (f", at most {rule.max_hosts} host(s)" if rule.max_hosts else "")
                      + (f", unless {', '.join(rule.unless_vars)} set" if rule.unless_vars else ""), markup=False)
        if plan is not None and decision is not None:
            for s in decision.steps:
                out.print(f"  step {s.step + 1} ({s.playbook}): "
                          + (f"covered by rule {s.rule}" if s.rule else f"not covered: {escape(s.reason or '')}"))
            out.print(f"Plan {plan.id}: " + (escape(decision.approval) if decision.covered
                                             else f"not covered: {escape(decision.reason or '')}"))
    if decision is not None and not decision.covered:
        raise SystemExit(int(ExitCode.REFUSED))
