"""The offline planner: keyword scoring over the catalog, slot filling from the words.

It needs no model, no network and no downloaded weights, and gives the same
draft for the same request every time. Safety comes first and is not scored:
each clause goes through :mod:`planner.planning.rules`, the same rules every
LLM draft is held to, so destructive requests are refused and manual work
becomes a checklist item. What is left is scored against each catalog entry
(:mod:`.index`); an entry is chosen only when it shares a topic word with the
request, answers what the request asks (a change or a look), and clearly
beats the runner-up, because a wrong playbook is worse than none. Hosts,
groups and the variables an entry declares are then read from the request
by the extractors its meta file names; nothing an entry does not declare is ever filled in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.planning import framework, rules
from planner.planning.context import mentioned_hosts
from planner.planning.drafting import Draft, Drafted, DraftStep
from planner.planning.extractors import RECORD_EXTRACTORS, Named, Wanted, extract
from planner.planning.offline.index import Decision, Index, Scored, offline_hints
from planner.planning.offline.placing import placed_step, promoted, retirement
from planner.planning.offline.vocabulary import CHANGE, READ
from planner.planning.targets import Targets, names_in, near_misses, targets
from planner.plans.planfile import ManualItem, OpenQuestion, Refusal

# --- slots: an entry's variables, filled by the extractors its meta file names -----------------------------------
# No variable name appears here: an entry that names no extractor gets nothing filled, and a variable keeps
# its default unless the request gives a value.

@dataclass(frozen=True)
class Fill:
    """How the meta file says one variable is filled."""

    variable: str
    wanted: Wanted
    merge_with_default: bool


def fills(entry: dict[str, Any]) -> list[Fill]:
    """The variables ``entry`` lets the offline planner fill, in the order its meta file names them."""
    out = []
    for name, how in (offline_hints(entry).get("variables") or {}).items():
        wanted = Wanted(how["extractor"], tuple(how.get("near") or ()), tuple(how.get("not_near") or ()),
                        how.get("key"), how.get("field"))
        out.append(Fill(name, wanted, bool(how.get("merge_with_default"))))
    return out


def uses(entry: dict[str, Any], extractor: str) -> bool:
    """Whether one of ``entry``'s variables is filled by ``extractor``."""
    return any(f.wanted.extractor == extractor for f in fills(entry))


def fill(entry: dict[str, Any], text: str, named: Named) -> dict[str, Any]:
    """Values for the variables ``entry`` declares, only where ``text`` gives one."""
    declared = entry.get("variables") or {}
    out: dict[str, Any] = {}
    for how in fills(entry):
        spec = declared.get(how.variable)
        if spec is None:
            continue  # the catalog refuses such a meta file; a hand-made pack may still have one
        value = extract(how.wanted, text, named, spec)
        if value is None and how.wanted.record_field and how.wanted.extractor not in RECORD_EXTRACTORS:
            # Not in the words: the named service's record (its trial, else its recipe) gives it.
            value = extract(Wanted("service_record", record_field=how.wanted.record_field), text, named, spec)
        if value is None:
            continue
        if how.merge_with_default and isinstance(value, dict):
            # The variable replaces the whole map, so one key given keeps the others' defaults.
            default = spec.get("default")
            value = {**(default if isinstance(default, dict) else {}), **value}
        out[how.variable] = value
    return out


def _why_not(best: Scored | None, second: Scored | None, overall: Decision, asks: frozenset[str]) -> str:
    """Why nothing was chosen, in the terms of the rule that stopped it."""
    top = overall.ranked[0] if overall.ranked else None
    if best is not None and second is not None:
        return (f"the request matches {best.id} ({best.score:.2f}) and {second.id} ({second.score:.2f}) about "
                "equally; say which, or name the step with --playbook")
    if top is None or top.score <= 0:
        return "no catalog playbook matches this request (outside the catalog)"
    words = ", ".join(repr(w) for w in top.words)
    if top.topical and not top.fits:
        wanted, other = (("a change", "only reads hosts") if CHANGE in asks else ("a look", "changes hosts"))
        return (f"the request asks for {wanted}, and {top.id}, the closest match (on {words}), {other}: no catalog "
                "playbook does what it asks (outside the catalog)")
    if "description" in top.fields and not set(top.fields) - {"description"}:
        return f"no catalog playbook matches this request well enough (outside the catalog; {top.id} mentions only " \
               f"{words} in passing)"
    return (f"no catalog playbook is about this request (outside the catalog): it shares only generic words "
            f"({words}) with {top.id}, the closest")


class OfflinePlanner:
    """Deterministic keyword planner; the default when no model is configured."""

    name = "offline"
    can_repair = False

    def draft(self, intent: str, pack: Any, repair: list[str] | None = None) -> Drafted:
        """Draft a plan for ``intent`` from ``pack``; the same request always gives the same draft."""
        return Drafted(self._draft(intent, pack), planner=self.name)

    def _draft(self, intent: str, pack: Any) -> Draft:
        hosts = [h["name"] for h in pack.hosts]
        groups = dict(pack.groups)
        services = [s["name"] for s in pack.services if s.get("name")]
        # The decision framework picks between entries that deploy the same kind of thing at two tiers;
        # the words never have to (rules.hold_tiers then says which rule chose, or asks).
        deciding = framework.classify(" ".join(rules.screen(intent).rest))
        entries = framework.at_tier(pack.catalog, deciding.tier)
        catalog = {e["id"]: e for e in entries}
        index = Index(entries, tuple(dict.fromkeys([*hosts, *groups, *services])))
        if not intent.strip():
            return Draft(refusal=Refusal(reason="the request is empty", closest=sorted(catalog)[:3]),
                         explanation="Nothing to plan: the request has no words.")

        screened = rules.screen(intent)
        if screened.destructive is not None:
            return rules.refuse_destructive(screened.destructive, [s.id for s in index.score(intent)])
        manual, rest = list(screened.manual), list(screened.rest)

        strangers = near_misses(" ".join(rest), [*hosts, *groups], [*hosts, *groups, *services, *catalog])
        if strangers:
            named = "; ".join(f"{word!r} (did you mean {', '.join(close)}?)" for word, close in strangers)
            return Draft(
                refusal=Refusal(reason=f"the request names {named}, which is no host or group in the inventory",
                                closest=[s.id for s in index.score(intent)[:3]]),
                explanation="Refused rather than widened: without the host it names, the plan would target "
                            "every host. Name a host or group from the inventory (homelab inventory validate "
                            "lists them), or say 'all hosts'.")
        whole = targets(intent, hosts, groups)
        picked: dict[str, list[str]] = {}
        for clause in rest:
            decision = Decision(index.score(clause))
            if decision.confident and decision.best is not None:
                picked.setdefault(decision.best.id, []).append(clause)
        for item in manual:
            # Work for a person may still be assessed first by a read entry that says so (`assesses`), when the
            # clause is clearly about it: two of its topic words, not one ("a network cable" is no upgrade).
            # Only the entries that say they assess this kind of work compete: a check after the work or a step that
            # prepares hosts for it shares its words ("new NICs") but assesses nothing, so it is no rival here.
            assessors = {e["id"] for e in catalog.values()
                         if item.rule in (e.get("assesses") or []) and e.get("risk") == "read"}
            decision = Decision([s for s in index.score(item.title) if s.id in assessors])
            top = decision.best if decision.confident else None
            if top is not None and len(set(top.topical)) >= 2:
                picked.setdefault(top.id, []).append(item.title)
        rest_text = ". ".join(rest)
        overall = Decision(index.score(rest_text)) if rest else Decision([])
        if len(picked) < 2:
            if overall.confident and overall.best is not None:
                picked = {overall.best.id: rest}
            elif picked:
                first = next(iter(picked))
                picked = {first: rest or picked[first]}

        steps: list[DraftStep] = []
        questions: list[OpenQuestion] = []
        chosen_scores: list[str] = []
        follow_ups: list[ManualItem] = []  # the person's steps after this plan's (remove the promoted trial)
        for entry_id, own in picked.items():
            entry = catalog[entry_id]
            text = ". ".join(own)
            mine = targets(text, hosts, groups)
            if not mine.named and not mine.says_all:
                mine = targets(rest_text, hosts, groups)
            if not mine.named and not mine.says_all and whole.named:
                mine = whole  # "replace the NIC in pumped-piglet, then gather facts on it"
            named_services = names_in(text, services) or names_in(intent, services)
            include = mine.include
            if uses(entry, "service_name") and named_services and len(include) > 1:
                # "deploy uptime-kuma on still-fawn": the service's own host is what is deployed, not a target.
                include = tuple(n for n in include if n not in named_services) or include
            mine = Targets(include, mine.exclude, mine.says_all)
            left_out = set(mentioned_hosts(" ".join(mine.exclude), hosts, groups))
            resolved = [h for h in mentioned_hosts(" ".join(include), hosts, groups) if h not in left_out]
            # A single host is one machine named as such, not a group that happens to hold one.
            single = resolved[0] if len(resolved) == 1 and include == (resolved[0],) else None
            known = Named(mine.limit if mine.named else None, single, named_services,
                          recipes=dict(getattr(pack, "recipes", {}) or {}), records=tuple(pack.services),
                          config=getattr(pack, "config", {}), diagnoses=dict(getattr(pack, "diagnoses", {}) or {}))
            values = fill(entry, text, known)
            missing = [n for n, spec in (entry.get("variables") or {}).items()
                       if spec.get("required") and n not in values]
            if missing:
                # A required value the words do not give ("a trial of paperless-ngx": no recipe by that name)
                # is the person's to say: a draft without it could only fail validation.
                return Draft(refusal=Refusal(
                    reason=f"{entry_id} fits the request, but it needs {', '.join(missing)}, which the request does "
                           f"not give in a form the offline planner knows; say it with --playbook {entry_id} "
                           f"-e {missing[0]}=VALUE (homelab catalog show {entry_id} lists what it takes)",
                    closest=[entry_id]))
            placed = placed_step(entry, values, known, pack.hosts, catalog) if not mine.named else None
            if placed is not None and placed.host is not None:
                mine = Targets((placed.host,), (), False)
            acts_on = entry.get("acts_on")
            if acts_on and not any(values.get(name) for name in acts_on["variables"]):
                # A step that would change nothing is no plan: the refusal says where the values come from.
                where = mine.limit if mine.named or (placed is not None and placed.host) else "HOST"
                return Draft(refusal=Refusal(
                    reason=f"{entry_id} fits the request, but nothing says what it should act on "
                           f"({' and '.join(acts_on['variables'])} would be empty): "
                           + str(acts_on["hint"]).replace("{limit}", where),
                    closest=[entry_id]))
            scored = next(s for s in index.score(text) if s.id == entry_id)
            where = " and ".join(scored.fields) or "entry"
            why_targets = (f"targets {mine.limit}, chosen from the inventory: {placed.sentence}"
                           if placed is not None and placed.host is not None else
                           f"targets {mine.limit} (named in the request)" if mine.named else
                           "targets every host (the request says so)" if mine.says_all else
                           "targets every host (no host was named)")
            if not mine.named and not mine.says_all and placed is None and offline_hints(entry).get("default_limit"):
                mine = Targets((str(offline_hints(entry)["default_limit"]),), (), False)
                why_targets = f"targets {mine.limit} (where the entry acts when the request names no host)"
            if entry.get("whole_inventory"):
                # It reads the whole topology: the hosts the request names only fill its variables.
                mine = Targets((), (), True)
                why_targets = "targets every host (it needs the whole inventory; named hosts fill its variables)"
            record = promoted(entry, text, known)
            # What the words gave is the request's; the rest of what a record field filled is the record's.
            given = fill(entry, text, Named(known.limit, known.single_host, known.services, config=known.config))
            recorded = {f.variable for f in fills(entry) if f.wanted.record_field and f.variable not in given}
            fixed = {f.variable for f in fills(entry) if f.wanted.key}  # the configuration's, not the words'
            said = {k: v for k, v in values.items() if k not in recorded and k not in fixed}
            kept = {k: v for k, v in values.items() if k in recorded}
            rationale = (f"the words {', '.join(repr(w) for w in scored.words)} match its {where}; {why_targets}"
                         + (f"; values from the request: {', '.join(f'{k}={v}' for k, v in said.items())}"
                            if said else "")
                         + (f"; {', '.join(f'{k}={v}' for k, v in kept.items())}: {record.said}"
                            if record is not None and kept else ""))
            if placed is not None and placed.check is not None:
                steps.append(placed.check)
            steps.append(DraftStep(playbook=entry_id, limit=mine.limit, vars=values, rationale=rationale))
            if placed is not None and placed.host is None:
                questions.append(OpenQuestion(question="Which host should run it?",
                                              assumption=f"none chosen: {placed.sentence}"))
            retire = retirement(entry, record)
            if retire is not None and retire not in follow_ups:
                follow_ups.append(retire)
            steps += [DraftStep(playbook=other, limit=mine.limit, rationale=f"a companion of {entry_id} (its meta "
                                "file names it), with the same targets") for other in entry.get("companions") or []
                      if other in catalog and other not in picked]
            chosen_scores.append(f"{entry_id} (score {scored.score:.2f})")
            if entry.get("risk") == "change" and not mine.named and not mine.says_all and placed is None:
                question = OpenQuestion(question="Which hosts?", assumption="all hosts in the inventory")
                if question not in questions:
                    questions.append(question)

        ranked = overall.ranked or index.score(intent)
        scores = ", ".join(f"{s.id} {s.score:.2f}" for s in ranked[:3])
        if steps:
            explanation = (f"Offline planner (keyword scoring over the catalog, no model): chose "
                           f"{', '.join(chosen_scores)}; scores for the request: {scores}.")
            if manual:
                explanation += f" {len(manual)} part(s) of the request are work for a person: see the checklist."
            return Draft(steps=steps, manual=manual + follow_ups, questions=questions, explanation=explanation)
        if manual:
            explanation = "This is work for a person, listed as a checklist; the tool runs none of it."
            if index.terms(rest_text):
                explanation += f" The rest of the request matched no catalog entry well enough ({scores})."
            return Draft(manual=manual, explanation=explanation)
        asks = index.asks(rest_text) or frozenset({READ, CHANGE})
        reason = _why_not(overall.best, overall.runner_up, overall, asks)
        return Draft(refusal=Refusal(reason=reason, closest=overall.closest() or [s.id for s in ranked[:3]]),
                     explanation=f"Offline planner: refused. Scores: {scores}.")
