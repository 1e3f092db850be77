"""What the offline planner adds around a deployment its meta file describes: a host chosen from the facts
(``offline.placement``), the read check that shows the live numbers first, and a promotion's follow-up.

Nothing here names a playbook: each entry's meta file says which variable names the service, which read
entry checks first and with which variables, and which entry removes a promoted trial (``offline.retires``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.planning.drafting import DraftStep
from planner.planning.extractors import Named, known_services
from planner.planning.offline.index import offline_hints
from planner.planning.placement import Need, gib, place
from planner.planning.promotion import Record, record_for, recorded_trial
from planner.plans.planfile import ManualItem


@dataclass(frozen=True)
class Placed:
    """The host chosen for a step (None: none fits), the sentence the plan shows, and the check to run first."""

    host: str | None
    sentence: str
    check: DraftStep | None


def placed_step(entry: dict[str, Any], values: dict[str, Any], named: Named, hosts: list[dict[str, Any]],
                catalog: dict[str, dict[str, Any]]) -> Placed | None:
    """Where ``entry``'s workload goes when the request names no host, or None when its meta file asks for no
    placement or there is nothing to place by: a recipe that needs no GPU (``gpu``), no recorded trial
    (``recorded``, the host the service's recorded item names: where a removal has to run)."""
    how = offline_hints(entry).get("placement")
    if not how:
        return None
    if how["kind"] == "diagnosed":
        return _diagnosed(named)
    service = values.get(how["recipe_variable"])
    if not isinstance(service, str):
        return None
    if how["kind"] == "recorded":
        item = recorded_trial(list(named.records), service)
        if item is None or not item.get("host"):
            return None
        when = f", deployed {item['deployed']}" if item.get("deployed") else ""
        return Placed(str(item["host"]), f"{service} runs there (its record in services:{when})", None)
    recipe = named.recipes.get(service)
    if recipe is None or (how["kind"] == "gpu" and not recipe.get("gpu")):
        return None
    need = Need(service, int(recipe.get("gpu_mib") or 0), int(recipe.get("memory_mib") or 0),
                str(recipe.get("source") or "no source given"))
    placement = place(need, hosts)
    check = how.get("check")
    step = None
    if check in catalog:
        # The placement read the inventory's facts, which may be old: the check shows the GPUs as they are now.
        given = {var: getattr(need, field) for var, field in (how.get("check_variables") or {}).items()}
        shown = ", ".join(f"{var}={value} ({gib(value)})" for var, value in given.items())
        step = DraftStep(playbook=check, limit="all", vars=given,
                         rationale=f"before {entry['id']}: the live GPU report of every host, so the review shows "
                                   f"where {service} fits now" + (f" ({shown}, the {service} recipe's estimate)"
                                                                  if shown else ""))
    return Placed(placement.host, placement.sentence, step)


def _diagnosed(named: Named) -> Placed:
    """The host whose written-back diagnosis found runaway processes, the one diagnosed last."""
    from planner.planning.diagnoses import newest_runaway_host

    host = newest_runaway_host(named.diagnoses)
    if host is None:
        return Placed(None, "no host's written-back diagnosis found runaway processes; run a diagnosis first: "
                            "homelab plan 'why is HOST slow'", None)
    found = named.diagnoses[host]
    return Placed(host, f"its diagnosis of {found.get('checked_at') or 'an unknown time'} found runaway processes "
                        f"({', '.join(found.get('units') or [])}), the newest such diagnosis", None)


def promoted(entry: dict[str, Any], text: str, named: Named) -> Record | None:
    """For an entry that fills variables from a service's record, that record (the recorded trial, else the
    recipe) with where its values come from; None for any other entry or an unknown service."""
    reads = any(how.get("extractor") == "service_record" or how.get("field")
                for how in (offline_hints(entry).get("variables") or {}).values())
    if not reads:
        return None
    for found in known_services(text, named):
        record = record_for(found.value, list(named.records), named.recipes)
        if record is not None:
            return record
    return None


def retirement(entry: dict[str, Any], record: Record | None) -> ManualItem | None:
    """The person's step once a promoted trial's service runs for good: remove the trial, through the entry the
    meta file names (``offline.retires``). None when nothing was promoted from a recorded trial."""
    remover = offline_hints(entry).get("retires")
    if not remover or record is None or not record.trial:
        return None
    name, where = record.service, entry.get("tier") or "its new tier"
    host = record.values.get("host")
    return ManualItem(title=f'After the branch is merged and {name} runs on {where}, remove the trial: '
                            f'homelab plan "remove the {name} trial"',
                      reason=f"the trial keeps running{f' on {host}' if host else ''} until {remover} removes it; "
                             "the tool removes it only when you ask", rule=f"retires through {remover}")
