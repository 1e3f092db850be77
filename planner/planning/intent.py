"""``homelab plan "plain words"``: draft with a planner, validate like any plan, review, save.

Every draft, whichever planner made it, is first held to the safety rules and
the decision framework (:mod:`planner.planning.rules`). It is then validated
step by step and every problem is collected, so a
planner that can repair (an LLM) gets all of them back in one round. After
that round the plan fails with the errors shown. A refusal, or a draft that
is only a checklist for the person, is still saved as a plan document (no
executable steps), so scripts read the same shape either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from planner.catalog.entries import Catalog, load_catalog
from planner.errors import CatalogError, HomelabError
from planner.planning.drafting import Draft, Drafted, DraftStep, Planner
from planner.planning.fixed import with_fixed
from planner.planning.framework import TIERS
from planner.planning.rules import changes_unasked, enforce, hold_tiers, stray_targets, whole_inventory
from planner.plans import planfile
from planner.plans.build import (
    StepRequest,
    record_inputs,
    review_and_save,
    validate_steps,
)
from planner.plans.planfile import ManualItem, Plan, Step, TaskResult
from planner.plans.stepcheck import PlanValidationError
from planner.workspace import Workspace


class DraftRejected(PlanValidationError):
    """The planner's draft failed validation, after its repair round where it had one."""


def _requests(draft: Draft) -> list[StepRequest]:
    return [StepRequest(s.playbook, s.limit or "all", dict(s.vars), s.rationale) for s in draft.steps]


def validate_draft(ws: Workspace, catalog: Catalog, draft: Draft) -> tuple[list[Step], list[str]]:
    """Validate each step on its own; returns the valid steps and every problem found."""
    steps: list[Step] = []
    errors: list[str] = []
    for index, request in enumerate(_requests(draft), start=1):
        try:
            steps.extend(validate_steps(ws, catalog, [request]))
        except (PlanValidationError, CatalogError) as err:
            errors.append(f"step {index} ({request.playbook}): {err.message}")
            errors.extend(f"step {index}: {d}" for d in err.details)
            if err.hint:
                errors.append(f"step {index}: hint: {err.hint}")
    return steps, errors


def _held(intent: str, drafted: Drafted, pack: Any, tier: str | None) -> Drafted:
    # Whoever drafted it, the same rules decide what may stay in it, and the configuration sets what it fixes.
    draft = with_fixed(enforce(intent, drafted.draft, pack.catalog, tier), pack.catalog, getattr(pack, "config", {}))
    return Drafted(draft, drafted.planner, drafted.model, drafted.usage)


def named_at_tier(catalog: list[dict[str, Any]], requests: list[StepRequest],
                  tier: str) -> tuple[list[StepRequest], list[ManualItem]]:
    """Named steps (``--playbook``) held to ``-e tier=…``: a deploying step of another tier becomes that
    tier's entry, or a checklist item for tier manual; refused where the catalog has no such entry."""
    draft = Draft(steps=[DraftStep(playbook=r.playbook, limit=r.limit, vars=dict(r.vars), rationale=r.rationale)
                         for r in requests])
    held = hold_tiers(draft, "", catalog, tier)
    if held.refusal is not None:
        raise HomelabError(held.refusal.reason, f"name another playbook, or another tier: {', '.join(TIERS)}")
    return ([StepRequest(s.playbook, s.limit, dict(s.vars), s.rationale) for s in held.steps],
            [m for m in held.manual if m not in draft.manual])


def _checked(ws: Workspace, catalog: Catalog, intent: str, draft: Draft, pack: Any) -> tuple[list[Step], list[str]]:
    steps, errors = validate_draft(ws, catalog, draft)
    return steps, (errors + stray_targets(intent, steps, pack.hosts, pack.groups, whole_inventory(pack.catalog))
                   + changes_unasked(intent, steps, pack.catalog))


def draft_plan(ws: Workspace, intent: str, planner: Planner, pack: Any,
               tier: str | None = None) -> tuple[Drafted, list[Step]]:
    """Draft, hold the draft to the rules (:mod:`planner.planning.rules`; ``tier`` is the person's
    ``-e tier=…``), validate, and give the planner one repair round when it can use it."""
    catalog = load_catalog(ws.root)
    started = time.monotonic()
    drafted = _held(intent, planner.draft(intent, pack), pack, tier)
    steps, errors = _checked(ws, catalog, intent, drafted.draft, pack)
    attempts = 1
    if errors and planner.can_repair:
        # The planner's usage already covers both rounds (it is paid for both).
        drafted = _held(intent, planner.draft(intent, pack, repair=errors), pack, tier)
        steps, errors = _checked(ws, catalog, intent, drafted.draft, pack)
        attempts = 2
    if errors:
        raise DraftRejected(f"the {planner.name} planner's draft is not a valid plan"
                            + (" even after one repair round" if attempts == 2 else ""),
                            "rephrase the request, or name the steps: homelab plan --playbook ID", details=errors)
    if drafted.usage is not None:
        latency = round(time.monotonic() - started, 2)
        drafted = Drafted(drafted.draft, drafted.planner, drafted.model,
                          drafted.usage.model_copy(update={"latency_s": latency}))
    return drafted, steps


def plan_intent(ws: Workspace, intent: str, planner: Planner, pack: Any, *, check: bool = True,
                on_result: Callable[[TaskResult], None] | None = None, cancel: Callable[[], bool] = lambda: False,
                parent: str | None = None, on_event: Callable[[dict[str, Any]], None] | None = None,
                tier: str | None = None) -> Plan:
    """Draft, validate, review in check mode (unless ``check`` is False), seal and save; ``tier`` is the
    person's ``-e tier=…``, which overrides the decision framework."""
    drafted, steps = draft_plan(ws, intent, planner, pack, tier)
    draft = drafted.draft
    if not steps and not draft.manual and draft.refusal is None:
        raise HomelabError(f"the {planner.name} planner proposed nothing for this request",
                           "rephrase it, or name the steps: homelab plan --playbook ID")
    inputs = record_inputs(ws, steps)
    plan = Plan(id=planfile.new_id(), created_at=planfile.now(), intent=intent, planner=drafted.planner,
                model=drafted.model, usage=drafted.usage, explanation=draft.explanation, questions=draft.questions,
                refusal=draft.refusal, parent=parent, steps=steps, manual=list(draft.manual), inputs=inputs)
    return review_and_save(ws, plan, check=check, on_result=on_result, cancel=cancel, on_event=on_event)
