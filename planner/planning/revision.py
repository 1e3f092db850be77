"""An amendment read against a plan's steps: which of their declared variables its words fill.

``homelab revise ID "delay the k3s nodes until next weekend"`` without a model is read the way
the offline planner reads a request, but only for the variables the plan's steps already
declare (their sidecars' ``offline.variables``): where the words give a value that differs
from the step's, the revised plan keeps every step and target and changes only that value.
Nothing is chosen or widened here; an amendment that fills nothing falls back to leaving the
hosts it names out of the plan (:func:`planner.plans.build.exclude_hosts`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from planner.planning.context import mentioned_hosts
from planner.planning.extractors import Named
from planner.planning.offline.planner import fill, fills
from planner.planning.targets import targets
from planner.plans.planfile import Step


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
