"""Promoting a trial: the values a production deployment takes from the trial's recorded item.

After a trial is applied, its item in ``services:`` (written by planner/knowledge/services.py, marked
``added_by``) says what ran: image, port, health check, GPU and memory. "ollama works, promote it to
production" should deploy exactly that, so a catalog entry can fill a variable from one field of that
record (the ``service_record`` extractor, ``field:`` in its meta file). Where no trial is recorded, the
recipe's values stand in, and the plan says so: nothing is guessed silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The fields a variable may read from a record. ``gpus`` is a count (1 when the service needs GPU memory),
#: as a Kubernetes resource request wants it; the rest are the record's own values.
RECORD_FIELDS = ("name", "image", "port", "health_path", "memory_mib", "gpu_mib", "gpus", "dns", "host", "package",
                 "command")


@dataclass(frozen=True)
class Record:
    """What a promotion deploys for one service, and where the values come from."""

    service: str
    values: dict[str, Any]
    said: str  # for the rationale: the trial's record (when, which plan) or the recipe, and why
    trial: bool  # read from a recorded trial (so the trial is there to remove afterwards)


def recorded_trial(services: list[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """The item the tool recorded for ``name`` (one with ``added_by``), or None; a person's item is no trial."""
    return next((s for s in services if s.get("name") == name and s.get("added_by")), None)


def _from_recipe(name: str, recipe: Mapping[str, Any]) -> dict[str, Any]:
    values = {"name": name, **{k: recipe.get(k) for k in ("image", "port", "health_path", "memory_mib", "gpu_mib",
                                                            "package", "command") if recipe.get(k) not in (None, "")}}
    values["gpus"] = 1 if recipe.get("gpu") else 0
    return values


def record_for(name: str, services: list[Mapping[str, Any]], recipes: Mapping[str, Mapping[str, Any]]) -> Record | None:
    """The values to promote ``name`` with: its recorded trial's, else its recipe's; None when neither exists.

    A trial that ran without its image (a package on a host with no container runtime, as in the lab) records
    none: the recipe's image fills that gap, and the rationale says so."""
    item = recorded_trial(services, name)
    recipe = recipes.get(name)
    if item is not None:
        values = {k: item.get(k) for k in RECORD_FIELDS if item.get(k) not in (None, "")}
        values["gpus"] = 1 if (item.get("gpu_mib") or 0) > 0 else 0
        filled = [k for k in _from_recipe(name, recipe) if k not in values] if recipe else []
        values = {**(_from_recipe(name, recipe) if recipe else {}), **values}
        when = ", ".join(x for x in (f"deployed {item['deployed']}" if item.get("deployed") else "",
                                     f"plan {item['plan']}" if item.get("plan") else "") if x)
        return Record(name, values, f"values from the {name} trial's record in services:"
                      + (f" ({when})" if when else "")
                      + (f"; {', '.join(filled)} from the {name} recipe, which the trial did not record" if filled
                         else ""), True)
    if recipe is None:
        return None
    return Record(name, _from_recipe(name, recipe), f"no {name} trial is recorded in services:, so the values come "
                  f"from the {name} recipe ({recipe.get('source') or 'no source given'})", False)
