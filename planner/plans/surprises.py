"""What the hosts did that the review did not show, and ``apply --recheck``.

Check mode saw the hosts as they were when the plan was made. An apply
compares each task's result per host with the review: a change where the
review said ok, a failure where it expected success, a task the review never
ran on that host. Those are surprises; they are recorded in the apply record
and said aloud. A review result of ``unknown`` means check mode could not see,
so whatever happens there was expected.

Results are matched by identity, not by position in the run directory (the
apply runs elsewhere, so ``task_path`` differs): the step index, the host, the
role, the task name and how many times that (role, task) already ran on that
host in the step — a role included twice, or a task name repeated in a
playbook, keeps its occurrences apart.

``recheck`` runs a fresh check of every change step and compares it with the
review (statuses and the diffs' text) before anything changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from planner.errors import ExitCode, HomelabError
from planner.plans.planfile import Diff, Plan, StepReview, Surprise, TaskResult, TaskStatus
from planner.workspace import Workspace

#: (step index, host, role, task name, occurrence of that (role, task) on that host in the step).
Key = tuple[int, str, str | None, str, int]

_BAD: frozenset[TaskStatus] = frozenset({"failed", "unreachable"})
#: How many differences a refusal names in its message before "and N more".
_NAMED = 3


class RecheckMismatchError(HomelabError):
    """The hosts no longer look as they did in the review: applying would do something unreviewed."""

    exit_code = ExitCode.REFUSED


class RecheckInterruptedError(HomelabError):
    """The person cancelled the recheck; nothing was applied."""

    exit_code = ExitCode.INTERRUPTED


@dataclass(frozen=True)
class Comparison:
    """An apply's results set against the review."""

    surprises: list[Surprise]
    did_not_happen: list[Surprise]


def keyed(steps: Iterable[StepReview]) -> dict[Key, tuple[StepReview, TaskResult]]:
    """Every task result of ``steps`` under its identity (see the module docstring)."""
    found: dict[Key, tuple[StepReview, TaskResult]] = {}
    for step in steps:
        seen: Counter[tuple[str, str | None, str]] = Counter()
        for result in step.tasks:
            ident = (result.host, result.role, result.task)
            found[(step.step, *ident, seen[ident])] = (step, result)
            seen[ident] += 1
    return found


def task_label(result: TaskResult | Surprise) -> str:
    """The task as Ansible prints it: ``role : name``."""
    return f"{result.role} : {result.task}" if result.role else result.task


def _surprise(kind: str, step: StepReview, result: TaskResult, reviewed: TaskStatus | None,
              applied: TaskStatus | None, reason: str) -> Surprise:
    return Surprise.model_validate({"kind": kind, "step": step.step, "playbook": step.playbook, "host": result.host,
                                    "task": result.task, "role": result.role, "reviewed": reviewed,
                                    "applied": applied, "reason": reason})


def compare(review: Iterable[StepReview], applied: Iterable[StepReview]) -> Comparison:
    """Classify each applied result against the reviewed one with the same identity."""
    before = keyed(review)
    surprises: list[Surprise] = []
    not_done: list[Surprise] = []
    for key, (step, result) in keyed(applied).items():
        now = result.status
        if key not in before:
            surprises.append(_surprise("not_in_review", step, result, None, now,
                                       f"{now}, but the review did not run it"))
            continue
        was = before[key][1].status
        if was == "unknown":
            continue  # check mode could not see this task: whatever it does was expected
        if now == "changed" and was in ("ok", "skipped"):
            surprises.append(_surprise("changed", step, result, was, now, f"changed though the review said {was}"))
        elif now in _BAD and was in ("ok", "changed", "skipped"):
            surprises.append(_surprise("failed", step, result, was, now, f"{now} though the review said {was}"))
        elif was == "changed" and now in ("ok", "skipped"):
            not_done.append(_surprise("did_not_happen", step, result, was, now,
                                      f"the review said changed; the apply found nothing to change ({now})"))
    return Comparison(surprises, not_done)


def grouped(surprises: Iterable[Surprise]) -> list[tuple[str, list[str]]]:
    """Surprises as (what happened, hosts): one line per task and reason, however many hosts share it."""
    groups: dict[tuple[int, str, str, str], list[str]] = {}
    for s in surprises:
        groups.setdefault((s.step, s.playbook, task_label(s), s.reason), []).append(s.host)
    return [(f"{playbook}: {label} — {reason}", sorted(set(hosts)))
            for (_, playbook, label, reason), hosts in groups.items()]


def _where(result: TaskResult) -> str:
    return f"{result.host}: {task_label(result)}"


def _diff_text(diffs: list[Diff]) -> list[tuple[str | None, str | None, str | None]]:
    # The headers are left out: the "after" header names the source file, whose path is the run's own.
    return [(d.before, d.after, d.prepared) for d in diffs]


def differences(review: Iterable[StepReview], fresh: Iterable[StepReview]) -> list[str]:
    """How a fresh check differs from the review, one readable line each (empty when they match).

    Statuses must be equal; an ``unknown`` compares only as unknown (check mode could not see it
    then or now, so its diff means nothing). Where both saw the task, the diffs' text must match too.
    """
    reviewed_steps = list(review)
    fresh_steps = list(fresh)
    lines = [f"step {s.step + 1} ({s.playbook}): the recheck did not finish ({s.status})"
             for s in fresh_steps if s.status not in ("successful", "failed")]
    before, now = keyed(reviewed_steps), keyed(fresh_steps)
    rechecked = {s.step for s in fresh_steps}
    for key in list(before) + [k for k in now if k not in before]:
        if key[0] not in rechecked:
            continue  # a read step: it ran for real during review and is not rechecked
        if key not in now:
            old = before[key][1]
            lines.append(f"{_where(old)}: in the review ({old.status}), not in the recheck")
            continue
        new = now[key][1]
        if key not in before:
            lines.append(f"{_where(new)}: not in the review, {new.status} in the recheck")
            continue
        old = before[key][1]
        if old.status != new.status:
            lines.append(f"{_where(new)}: the review said {old.status}, the hosts now say {new.status}")
        elif old.status != "unknown" and _diff_text(old.diffs) != _diff_text(new.diffs):
            lines.append(f"{_where(new)}: {new.status} as reviewed, but with a different diff")
    return lines


def recheck(ws: Workspace, plan: Plan, cancel: Callable[[], bool] = lambda: False,
            notice: Callable[[str], None] = lambda m: None) -> None:
    """Check every change step again and refuse when the hosts no longer match the review.

    Nothing is changed on a host and the plan file is not written, so a refused plan stays applyable.
    """
    from planner.plans.build import run_step

    changes = [i for i, s in enumerate(plan.steps) if s.risk == "change"]
    notice(f"Rechecking {len(changes)} step(s) against the review…")
    fresh = []
    for index in changes:
        review = run_step(ws, plan, index, check=True, purpose="recheck", on_result=None, cancel=cancel)
        if review.status == "canceled":
            raise RecheckInterruptedError("the recheck was cancelled; nothing was applied",
                                          f"homelab apply {plan.id} --recheck when ready")
        fresh.append(review)
    found = differences(plan.review.steps, fresh)
    if found:
        more = f" (and {len(found) - _NAMED} more)" if len(found) > _NAMED else ""
        raise RecheckMismatchError(
            f"plan {plan.id}: the hosts no longer match the review — {'; '.join(found[:_NAMED])}{more}",
            f"homelab plan again to review the hosts as they are now (plan {plan.id} is left as it was)",
            details=found if len(found) > _NAMED else [])
