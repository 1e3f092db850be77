"""Variables the configuration fixes: one value, whichever planner drafts the plan.

A catalog variable filled by the ``config`` extractor (``{extractor: config, key: gitops.repo}``
in its meta file) is the project's to say, not the request's: where the GitOps repository is,
say. The offline planner reads it through that extractor; a model never sees it (it is left out
of the catalog block and of the draft's JSON schema) and gets it set here after drafting, so an
LLM plan and an offline plan of the same request carry the same value. A plan named with
``--playbook`` gets it too, unless ``-e`` gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.planning.drafting import Draft


def fixed_of(entry: Mapping[str, Any]) -> dict[str, str]:
    """A context-pack catalog entry's fixed variables, each with the setting it takes."""
    variables = ((entry.get("offline") or {}).get("variables") or {})
    return {name: how["key"] for name, how in variables.items() if how.get("key")}


def without_fixed(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry as a model sees it: its fixed variables are not the model's to choose, so it is not told of them."""
    fixed = fixed_of(entry)
    return {**entry, "variables": {k: v for k, v in (entry.get("variables") or {}).items() if k not in fixed}}


def with_fixed(draft: Draft, catalog: list[Mapping[str, Any]], values: Mapping[str, str]) -> Draft:
    """``draft`` with every step's fixed variables set to the configured values, over whatever a planner gave."""
    entries = {e["id"]: fixed_of(e) for e in catalog}
    steps = []
    for step in draft.steps:
        fixed = {name: values[key] for name, key in entries.get(step.playbook, {}).items() if key in values}
        steps.append(step.model_copy(update={"vars": {**step.vars, **fixed}}) if fixed else step)
    return draft.model_copy(update={"steps": steps})


def given_or_fixed(fixed: Mapping[str, str], given: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """Variables named on the command line, with each fixed one the person did not give (-e) from the config."""
    return {**{name: values[key] for name, key in fixed.items() if key in values}, **given}
