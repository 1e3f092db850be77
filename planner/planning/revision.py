"""An amendment read against a plan's steps: which of their declared variables its words fill.

``homelab revise ID "delay the k3s nodes until next weekend"`` without a model is read the way
the offline planner reads a request, but only for the variables the plan's steps already
declare (their sidecars' ``offline.variables``): where the words give a value that differs
from the step's, the revised plan keeps every step and target and changes only that value.
Nothing is chosen or widened here; an amendment that fills nothing falls back to leaving the
hosts it names out of the plan (:func:`planner.plans.build.exclude_hosts`).

An amendment whose words settle the decision framework's tier ("trial first", "production")
answers the plan's tier question instead (:func:`tier_answer`): the same steps where they
already deploy to that tier, else the catalog's entry of that tier with what carries over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from planner.errors import HomelabError
from planner.planning.context import mentioned_hosts
from planner.planning.extractors import Named
from planner.planning.framework import MANUAL, TIER_QUESTION, classify, deploys
from planner.planning.offline.planner import fill, fills
from planner.planning.rules import carried_vars, counterpart, swapped
from planner.planning.targets import targets
from planner.plans.build import StepRequest
from planner.plans.planfile import OpenQuestion, Step


def amended_vars(catalog: list[dict[str, Any]], steps: list[Step], amendment: str, hosts: list[str],
                 groups: dict[str, list[str]], today: date) -> list[dict[str, Any]]:
    """Per step, the variables ``amendment`` sets to a new value (empty where it sets none).

    The hosts and groups the amendment names are the pattern a ``host_pattern`` variable takes,
    whether the words include them or leave them out: "delay the k3s nodes" is about k3s.
    Dates ("next weekend") are read against ``today``, the day the revised plan is made.
    """
    named = targets(amendment, hosts, groups)
    names = (*named.include, *named.exclude)
    resolved = mentioned_hosts(" ".join(names), hosts, groups)
    single = names[0] if len(names) == 1 and resolved == [names[0]] else None
    context = Named(",".join(names) or None, single, (), today)
    by_id = {e["id"]: e for e in catalog}
    out = []
    for step in steps:
        entry = by_id.get(step.playbook)
        values = fill(entry, amendment, context) if entry is not None else {}
        out.append({k: v for k, v in values.items() if step.vars.get(k, _declared_default(entry, k)) != v})
    return out


def fillable(catalog: list[dict[str, Any]], steps: list[Step]) -> list[str]:
    """The variables of ``steps`` that an amendment's words can set, in step order (for a hint)."""
    by_id = {e["id"]: e for e in catalog}
    names = [f.variable for s in steps if s.playbook in by_id for f in fills(by_id[s.playbook])]
    return list(dict.fromkeys(names))


def _declared_default(entry: dict[str, Any] | None, name: str) -> Any:
    # A step's vars hold only what was given; a value equal to the default changes nothing.
    return ((entry or {}).get("variables") or {}).get(name, {}).get("default")


@dataclass(frozen=True)
class TierAnswer:
    """A plan's deploying steps at the tier an amendment settles, and its questions without the tier one."""

    requests: list[StepRequest]
    questions: list[OpenQuestion]
    tier: str


_NOTE = "decision framework: "


def _rationale(old: str, note: str) -> str:
    # The parent's own framework note (its suggestion) is replaced, not appended to.
    base = old.split(_NOTE)[0].rstrip("; ")
    return f"{base}; {_NOTE}{note}".lstrip("; ")


def tier_answer(catalog: list[dict[str, Any]], steps: list[Step], questions: list[OpenQuestion], intent: str,
                amendment: str, today: date) -> TierAnswer | None:
    """The plan's steps at the tier ``amendment`` settles ("trial first", "production"), or None when its
    words settle no tier or the plan deploys nothing. A step of the other tier becomes the catalog's entry
    of the settled tier, with the variables it can carry over and those the original request (``intent``)
    fills; no such entry is an error."""
    decided = classify(amendment)
    by_id = {e["id"]: e for e in catalog}
    if not decided.settled or decided.tier in (None, MANUAL) \
            or not any(deploys(by_id.get(s.playbook) or {}) for s in steps):
        return None
    tier = str(decided.tier)
    note = f"tier {tier}, the person chose it ({decided.why}, in the revision)"
    out = []
    for step in steps:
        entry = by_id.get(step.playbook) or {}
        if not deploys(entry):
            out.append(StepRequest(step.playbook, step.limit, dict(step.vars), step.rationale))
        elif entry["tier"] == tier:
            out.append(StepRequest(step.playbook, step.limit, dict(step.vars), _rationale(step.rationale, note)))
        else:
            other = counterpart(catalog, entry, tier)
            if other is None:
                raise HomelabError(f"the amendment asks for {tier} ({decided.why}), and no catalog entry deploys to "
                                   f"{tier} in place of {step.playbook}",
                                   "revise with words for the tier the catalog has, or plan the request again")
            values = {**fill(other, intent, Named(None, None, (), today)), **carried_vars(step.vars, entry, other)}
            out.append(StepRequest(other["id"], step.limit, values,
                                   _rationale(step.rationale, f"{note}; {swapped(entry, other, step.vars)}")))
    return TierAnswer(out, [q for q in questions if q.question != TIER_QUESTION], tier)
