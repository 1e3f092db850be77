"""Apply a reviewed plan: exactly what was reviewed, or nothing.

Before anything runs: the plan's seal must hold (no hand edits), it must not
have been applied already, the caller's ANSIBLE_* variables must be those
recorded at review, and every input digest must match the working tree
(naming each file that moved). Then, under the inventory's apply lock, each
``change`` step runs through ansible-runner from the plan's own snapshot,
materialized afresh in a private directory: what runs can only be what was
reviewed. Read steps already ran during review.
Outcomes are recorded per host; a run that produced no stats, or a runner
that was killed, is ``outcome_unknown`` — never success. ``timeout_s`` bounds
the whole apply (every change step together): past it, ansible-runner kills
the run's process group, and the hosts' outcome is unknown. What the hosts did
that the review did not show is recorded as surprises (``surprises.py``);
with ``recheck`` a fresh check must match the review before anything runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Literal

from planner.errors import ExitCode, HomelabError
from planner.plans import environment, planfile, snapshot, surprises
from planner.plans.build import run_step
from planner.plans.digests import input_digests, installed_versions, moved_inputs
from planner.plans.lock import apply_lock
from planner.plans.planfile import (
    ApplyRecord,
    HostOutcome,
    Plan,
    StepReview,
    TaskResult,
)
from planner.workspace import Workspace

Outcome = Literal["ok", "changed", "failed", "unreachable", "outcome_unknown"]
#: The plan's status after an apply that ended so.
_PLAN_STATUS: dict[str, Literal["interrupted", "outcome_unknown", "failed", "applied"]] = {
    "interrupted": "interrupted", "outcome_unknown": "outcome_unknown", "hosts_failed": "failed",
    "succeeded": "applied"}


class StalePlanError(HomelabError):
    """The plan's inputs changed since it was reviewed."""

    exit_code = ExitCode.REFUSED


def stale_inputs(ws: Workspace, plan: Plan) -> list[str]:
    """Every recorded input that moved in the working tree, as readable lines (empty when the plan is fresh).

    What runs is the plan's snapshot whatever this says; it is reported so that nobody applies an old
    plan by surprise.
    """
    current = input_digests(ws.root, ws.inventory, [ws.playbook(s.playbook) for s in plan.steps])
    moved = moved_inputs(plan.inputs.files, current)
    versions = installed_versions(ws.root)
    for name in sorted(set(plan.inputs.versions) | set(versions)):
        if plan.inputs.versions.get(name) != versions.get(name):
            moved.append(f"{name} {plan.inputs.versions.get(name, 'absent')} → {versions.get(name, 'absent')}")
    return moved


def environment_changes(plan: Plan) -> list[str]:
    """Each ANSIBLE_* variable set differently now than at review, as readable lines."""
    return environment.changes(plan.inputs.environment, environment.recorded())


def recover_killed(ws: Workspace, plan: Plan, notice: Callable[[str], None] = lambda m: None) -> None:
    """Record, in ``plan`` and its file, that an apply left 'applying' was killed, when it was.

    A run stopped by SIGKILL, a crash or a power cut runs no clean-up: the plan stays 'applying' and every
    later apply would refuse it as already applied. Only the inventory's lock tells a dead run from a live
    one: taken here at once (LockHeldError, naming the holder, while that apply still runs), it proves the
    run is gone. What it did to the hosts is unknown, so that is what is recorded, as for a run that passed
    its timeout; the plan can then be applied again like an interrupted one, or planned afresh.
    """
    if plan.status != "applying":
        return
    with apply_lock(ws.state, ws.inventory, plan.id, notice):
        on_disk = planfile.load(ws.state, plan.id)
        if on_disk.status != "applying":  # another process recorded it between the two reads
            plan.status, plan.applies = on_disk.status, on_disk.applies
            return
        for record in on_disk.applies:
            if record.status == "running":
                record.status = "outcome_unknown"
                record.finished_at = planfile.now()
                record.hosts = _outcomes(on_disk, record.steps, stats_missing=True)
                notice(f"plan {plan.id}: the apply started {record.started_at} was killed before it finished; "
                       "recorded as outcome unknown (check the hosts: homelab drift, or plan again)")
        on_disk.status = "outcome_unknown"
        planfile.save(on_disk, ws.state)
        plan.status, plan.applies = on_disk.status, on_disk.applies


def check_applyable(ws: Workspace, plan: Plan) -> None:
    """Refuse a plan that was applied already or whose inputs moved."""
    if plan.status in ("applied", "applying") or any(a.status == "succeeded" for a in plan.applies):
        raise StalePlanError(f"plan {plan.id} was already applied", "homelab plan again: hosts have changed since")
    if plan.review.skipped:
        raise StalePlanError(f"plan {plan.id} was made with --no-check and has no review to approve",
                             "homelab plan again without --no-check")
    incomplete = [r.playbook for r in plan.review.steps if r.status not in ("successful", "failed")]
    if incomplete:
        raise StalePlanError(f"plan {plan.id} has an incomplete review ({', '.join(incomplete)} did not finish its"
                             " check run)", "fix what the review reports, then homelab plan again")
    # Before anything is recorded as started: a snapshot that cannot be written out exactly refuses the plan.
    snapshot.verify(ws.state, plan.inputs.snapshot)
    changed = environment_changes(plan)
    if changed:
        raise StalePlanError(f"plan {plan.id} was reviewed with other ANSIBLE_* variables — {changed[0]}"
                             + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""),
                             "a run never uses them: unset them (or set them as at review), or homelab plan again",
                             details=changed if len(changed) > 1 else [])
    moved = stale_inputs(ws, plan)
    if moved:
        first = moved[0]
        raise StalePlanError(f"plan {plan.id} is stale — {first} since it was made"
                             + (f" (and {len(moved) - 1} more)" if len(moved) > 1 else ""),
                             "homelab plan again", details=moved if len(moved) > 1 else [])


def _outcomes(plan: Plan, reviews: list[StepReview], stats_missing: bool) -> dict[str, HostOutcome]:
    outcomes: dict[str, HostOutcome] = {}
    targeted = sorted({h for s in plan.steps if s.risk == "change" for h in s.hosts})
    for host in targeted:
        summaries = [r.hosts[host] for r in reviews if host in r.hosts]
        reported = any(s.ok or s.changed or s.failed or s.skipped or s.unreachable for s in summaries)
        if stats_missing or not reported:
            outcomes[host] = HostOutcome(outcome="outcome_unknown")
            continue
        changed = sum(s.changed for s in summaries)
        failed = sum(s.failed for s in summaries)
        outcome: Outcome = ("unreachable" if any(s.unreachable for s in summaries) else "failed" if failed
                            else "changed" if changed else "ok")
        outcomes[host] = HostOutcome(outcome=outcome, changed=changed, failed=failed)
    return outcomes


def apply_plan(ws: Workspace, plan: Plan, *, on_result: Callable[[TaskResult], None] | None = None,
               cancel: Callable[[], bool] = lambda: False, notice: Callable[[str], None] = lambda m: None,
               recheck: bool = False, on_event: Callable[[dict[str, Any]], None] | None = None,
               timeout_s: int | None = None) -> Plan:
    """Run the plan's change steps and record the outcome in the plan file (``on_event``: raw events).

    ``timeout_s`` bounds the change steps' runs together (the recheck, if any, runs before the clock starts).

    With ``recheck``, a fresh check of the change steps must match the review first
    (``RecheckMismatchError`` otherwise, with nothing changed and the plan file untouched).
    """
    recover_killed(ws, plan, notice)
    check_applyable(ws, plan)
    with apply_lock(ws.state, ws.inventory, plan.id, notice):
        # Checked again under the lock: another apply may have finished meanwhile.
        plan = planfile.load(ws.state, plan.id)
        check_applyable(ws, plan)
        if recheck:
            # Under the lock, so no other apply can change the hosts between the recheck and this apply.
            surprises.recheck(ws, plan, cancel=cancel, notice=notice)
            notice("recheck: the hosts still match the review")
        record = ApplyRecord(started_at=planfile.now(), status="running", timeout_s=timeout_s)
        plan.applies.append(record)
        plan.status = "applying"
        planfile.save(plan, ws.state)
        started = time.monotonic()
        reviews: list[StepReview] = []
        stats_missing = False
        interrupted = False
        deadline = None if timeout_s is None else started + timeout_s
        try:
            for index, step in enumerate(plan.steps):
                if step.risk != "change":
                    continue
                left = None if deadline is None else math.ceil(deadline - time.monotonic())
                if left is not None and left <= 0:  # the bound passed between two steps: the rest never starts
                    record.timed_out = True
                    break
                review = run_step(ws, plan, index, check=False, purpose="apply", on_result=on_result,
                                  cancel=cancel, also=on_event, timeout_s=left)
                reviews.append(review)
                if review.status == "canceled":
                    interrupted = True
                    break
                if review.status == "timeout":
                    record.timed_out = True
                    break
                if review.status not in ("successful", "failed"):
                    stats_missing = True
        except KeyboardInterrupt:
            interrupted = True
        finally:
            record.steps = reviews
            found = surprises.compare(plan.review.steps, reviews)
            record.surprises, record.did_not_happen = found.surprises, found.did_not_happen
            record.surprise_count = len(found.surprises)
            record.hosts = _outcomes(plan, reviews, stats_missing or interrupted or record.timed_out)
            duration = round(time.monotonic() - started, 1)
            for outcome in record.hosts.values():
                outcome.duration_s = duration
            record.rc = reviews[-1].rc if reviews else None
            record.finished_at = planfile.now()
            bad = {o.outcome for o in record.hosts.values()} & {"failed", "unreachable"}
            unknown = any(o.outcome == "outcome_unknown" for o in record.hosts.values())
            record.status = ("interrupted" if interrupted else "outcome_unknown" if unknown
                             else "hosts_failed" if bad else "succeeded")
            plan.status = _PLAN_STATUS[record.status]
            planfile.save(plan, ws.state)
    return plan
