"""The safety rules and the decision framework's enforcing, in one place that every draft passes through.

Whoever drafted a plan (the offline planner or a model), :func:`enforce`
holds the draft to the same rules before it is validated, and each rule that
acts says its name in the plan:

- **destructive**: a request that destroys hosts, data or availability (wipe,
  delete, reinstall, rm -rf, shut down) is refused whole, whatever was drafted;
- **manual** work is a checklist item for the person, never a step: physical
  work, infrastructure-level networking and storage, security-sensitive
  changes, one-time maintenance. A clause of the request that is such work
  gets its item even when the draft forgot it, and a request that is nothing
  but such work keeps no steps;
- **a refusal plans nothing**: a draft that refuses keeps no steps;
- **tiers** (the decision framework, whose rules are data in
  :mod:`planner.planning.framework`): each deploying step goes to the tier the
  person set (``-e tier=…``) or the request's words give; a step of the other
  tier is swapped for the catalog's entry of that tier (refused only where
  there is none), tier manual makes it a checklist item, and words that do
  not settle the tier leave the suggested step and an open question;
- **targets** (:func:`stray_targets`, on the validated steps): a step may only
  target hosts the request names (or their hypervisors and VMs), when it
  names any; text in host data cannot widen a plan;
- **risk** (:func:`changes_unasked`, on the validated steps): a request that
  only asks to look ("check the disk space on maas") gets no step that
  changes hosts, whatever a model drafted for it.

A step for a playbook outside the catalog is left to validation, which names
the closest entries and gives a model its repair round.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from planner.planning.drafting import Draft, DraftStep
from planner.planning.framework import (
    BY_NAME,
    MANUAL,
    MANUAL_BY_CHOICE,
    # The manual rules' names and TierDecision are re-exported: callers import them from here.
    MANUAL_MAINTENANCE,  # noqa: F401
    MANUAL_NETWORK,  # noqa: F401
    MANUAL_PHYSICAL,  # noqa: F401
    MANUAL_RULES,
    MANUAL_SECURITY,  # noqa: F401
    MANUAL_STORAGE,  # noqa: F401
    TIER_QUESTION,
    TierDecision,  # noqa: F401
    choose,
    classify,
    deploys,
    manual_match,
    prompt_text,
)
from planner.planning.targets import resolve, targets
from planner.plans.planfile import ManualItem, OpenQuestion, Refusal

DESTRUCTIVE = "destructive"


def _compile(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


_DESTRUCTIVE = _compile(
    r"\b(delete|destroy|wipe|erase|purge|nuke|obliterate|decommission)\b",
    r"\brm\s+-\w*[rf]\w*",
    r"\b(re)?format(ting)?\s+(\S+\s+){0,3}?(disks?|drives?|partitions?|ssds?|nvme|volumes?|filesystems?|pools?)\b",
    r"\breinstall(ing)?\b",
    r"\bfactory[- ]reset\b",
    r"\bdd\s+if=",
    r"\b(shut\s*down|shutdown|power\s*off|poweroff|turn\s+off|halt)\b",
    r"\bremove\s+(all|every|everything)\b",
    r"\bdrop\s+(the\s+|all\s+)?(databases?|tables?)\b",
)
# The manual rules (their words, what they stand for, why a person does the work) are the framework's data.
_REASONS = {name: BY_NAME[name].reason for name in MANUAL_RULES}
_DESTROYS = "wiping, deleting, reinstalling, formatting, rm -rf, shutting hosts down"


@dataclass(frozen=True)
class Caught:
    """A rule that caught a clause of the request, and the words that made it."""

    rule: str
    words: str
    clause: str


def safety(clause: str) -> Caught | None:
    """The first safety rule that catches ``clause`` (destructive before manual), or None."""
    text = clause.lower()
    for pattern in _DESTRUCTIVE:
        found = pattern.search(text)
        if found:
            return Caught(DESTRUCTIVE, found.group(0).strip(), clause)
    manual = manual_match(clause)
    return Caught(manual[0].name, manual[1], clause) if manual else None


# Clauses: sentences, "then"/"also" sequences, and "and" before another instruction.
_VERBS = ("apply|gather|check|set|replace|open|rotate|delete|show|make|plug|install|update|deploy|upgrade|reboot"
          "|restart|wipe|change|add|remove|cap|collect|read|tell|list|find|bring|renew|reset|shut|create|enable"
          "|disable|configure|move|swap|run|give|put|scale|format|destroy|erase")
# "record the baseline before I swap the NICs" is two instructions too: the tool's and the person's.
_SPLIT = re.compile(rf"\s*(?:[;!?\n]+|\.(?:\s+|$))\s*|,?\s+(?:and\s+then|then|and\s+also|also|after\s+that"
                    rf"|afterwards|before\s+(?:i|we))\s+|,\s+(?:and\s+)?(?=(?:please\s+)?(?:{_VERBS})\b)|,\s+and\s+"
                    rf"|\s+and\s+(?=(?:please\s+)?(?:{_VERBS})\b)", re.I)


def clauses(intent: str) -> list[str]:
    """The request cut into the instructions it gives, in order."""
    return [c.strip(" ,") for c in _SPLIT.split(intent) if c and c.strip(" ,")]


@dataclass(frozen=True)
class Screened:
    """A request read against the safety rules: what destroys, what is manual, what is left for playbooks."""

    destructive: Caught | None
    manual: tuple[ManualItem, ...]
    rest: tuple[str, ...]


def manual_item(caught: Caught) -> ManualItem:
    """The checklist item for a clause a manual rule caught."""
    title = caught.clause[:1].upper() + caught.clause[1:]
    return ManualItem(title=title, reason=f"{_REASONS[caught.rule]} (matched {caught.words!r})", rule=caught.rule)


def screen(intent: str) -> Screened:
    """Each clause of ``intent`` through the safety rules."""
    manual: list[ManualItem] = []
    rest: list[str] = []
    for clause in clauses(intent):
        caught = safety(clause)
        if caught is None:
            rest.append(clause)
        elif caught.rule == DESTRUCTIVE:
            return Screened(caught, (), ())
        elif not any(m.title == manual_item(caught).title for m in manual):
            manual.append(manual_item(caught))
    return Screened(None, tuple(manual), tuple(rest))


def refuse_destructive(caught: Caught, closest: list[str]) -> Draft:
    """The refusal of a destructive request: the same words whichever planner drafted it."""
    return Draft(
        refusal=Refusal(reason=f"{DESTRUCTIVE}: {caught.words!r} destroys hosts, data or availability; no catalog "
                               "playbook does that, and the planner never plans it", closest=closest[:3]),
        explanation=f"Refused the whole request because of {caught.words!r} (rule: {DESTRUCTIVE}); a person does "
                    "such work by hand, deliberately. Ask again without it for the rest.")


# --- the decision framework: which tier a deployment belongs to ---------------------------------------------------

def _with_tier_rule(step: DraftStep, note: str) -> DraftStep:
    return step.model_copy(update={"rationale": f"{step.rationale}; decision framework: {note}".lstrip("; ")})


def _prefix(entry: dict[str, Any]) -> str:
    # An entry's public variables share its role's prefix (trial_service_, k3s_app_): what follows is the meaning.
    names = list(entry.get("variables") or {})
    common = os.path.commonprefix(names) if len(names) > 1 else ""
    return common[: common.rfind("_") + 1]


def carried_names(names: list[str], source: dict[str, Any], target: dict[str, Any]) -> dict[str, str]:
    """``source``'s variables among ``names`` that ``target`` declares under the same meaning (name, image,
    port…), each with its name in ``target``."""
    mine, theirs = _prefix(source), _prefix(target)
    declared = target.get("variables") or {}
    out = {}
    for name in names:
        other = theirs + name[len(mine):] if mine and name.startswith(mine) else name
        if other in declared:
            out[name] = other
    return out


def carried_vars(values: dict[str, Any], source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """``values`` of ``source``'s variables, renamed to ``target``'s where it declares them; the rest dropped."""
    return {new: values[old] for old, new in carried_names(list(values), source, target).items()}


def swapped(entry: dict[str, Any], other: dict[str, Any], values: dict[str, Any]) -> str:
    """What the plan says when ``other`` takes ``entry``'s place: which values carried over, as what."""
    pairs = [f"{old} as {new}" for old, new in carried_names(list(values), entry, other).items()]
    return f"{other['id']} in place of {entry['id']}" + (f" (carried over: {', '.join(pairs)})" if pairs else "")


def counterpart(catalog: list[dict[str, Any]], entry: dict[str, Any], tier: str) -> dict[str, Any] | None:
    """The entry that deploys what ``entry`` deploys, at ``tier``: the one sharing most of its variables' meanings."""
    others = [e for e in catalog if deploys(e) and e.get("tier") == tier]
    if not others:
        return None
    names = {n[len(_prefix(entry)):] for n in entry.get("variables") or {}}
    return max(others, key=lambda e: len(names & {n[len(_prefix(e)):] for n in e.get("variables") or {}}))


def _by_hand(step: DraftStep, note: str) -> ManualItem:
    said = ", ".join(f"{k}={v}" for k, v in step.vars.items())
    return ManualItem(title=f"Deploy by hand what {step.playbook} would" + (f" ({said})" if said else ""),
                      reason=f"decision framework: {note}; the tool runs none of it", rule=MANUAL_BY_CHOICE)


def hold_tiers(draft: Draft, text: str, catalog: list[dict[str, Any]], override: str | None = None) -> Draft:
    """Each deploying step (:func:`deploys`: a tier, no removal) held to the tier the framework and the person choose.

    The tier comes from ``override`` (``-e tier=…``), else from the request's words (:func:`classify`);
    a step of the other tier is swapped for the catalog's entry of that tier, with the variables it can
    carry over, and refused only where the catalog has none. Tier ``manual`` turns the step into a
    checklist item. Where the words do not settle the tier, the step stays and the plan asks.
    """
    by_id = {e["id"]: e for e in catalog}
    if not any(deploys(by_id.get(s.playbook) or {}) for s in draft.steps):
        return draft
    decided = classify(text)
    steps, manual = [], list(draft.manual)
    questions = [q for q in draft.questions if q.question != TIER_QUESTION]
    for step in draft.steps:
        entry = by_id.get(step.playbook) or {}
        if not deploys(entry):
            steps.append(step)
            continue
        choice = choose(decided, entry["tier"], override)
        if choice.tier == MANUAL:
            manual.append(_by_hand(step, choice.note))
            continue
        if choice.tier != entry["tier"]:
            other = counterpart(catalog, entry, choice.tier)
            if other is None:
                return Draft(refusal=Refusal(
                    reason=f"decision framework: {choice.note}, and {step.playbook} deploys to the {entry['tier']} "
                           f"tier; no catalog entry deploys to {choice.tier}",
                    closest=[e["id"] for e in catalog if e.get("tier")][:3]),
                    explanation="Refused: the catalog has no entry for the tier the request needs.")
            carried = carried_vars(step.vars, entry, other)
            note = f"{choice.note}; {swapped(entry, other, step.vars)}"
            step = step.model_copy(update={"playbook": other["id"], "vars": carried})
        else:
            note = choice.note
        steps.append(_with_tier_rule(step, note))
        if not choice.settled:
            question = OpenQuestion(question=TIER_QUESTION, assumption=choice.assumption)
            questions += [question] if question not in questions else []
    return draft.model_copy(update={"steps": steps, "manual": manual, "questions": questions})


def prompt_rules() -> str:
    """The decision framework and the safety rules as an LLM planner is told them (the code enforces them too)."""
    return (f"{prompt_text()}\n"
            f"4. Refuse requests that destroy things (`{DESTRUCTIVE}`: {_DESTROYS}) and requests no catalog "
            "playbook serves: set `refusal` with the reason and the closest catalog ids, and plan no steps.")


def enforce(intent: str, draft: Draft, catalog: list[dict[str, Any]], tier: str | None = None) -> Draft:
    """``draft`` held to the safety rules and the decision framework; see the module's docstring."""
    ids = [e["id"] for e in catalog]
    screened = screen(intent)
    if screened.destructive is not None:
        offered = (draft.refusal.closest if draft.refusal else []) + [s.playbook for s in draft.steps]
        closest = [i for i in dict.fromkeys(offered) if i in ids] or ids
        return refuse_destructive(screened.destructive, closest)
    notes = []
    steps = list(draft.steps)
    if draft.refusal is not None and steps:
        steps, notes = [], [f"dropped {len(steps)} step(s): a refusal plans nothing"]
    manual = list(draft.manual)
    for item in screened.manual:
        if not any(m.rule == item.rule or m.title == item.title for m in manual):
            manual.append(item)
    if screened.manual and not screened.rest and steps:
        # A read playbook that assesses such work (its meta file's `assesses`) may stay: looking is no hands-on work.
        caught = {str(m.rule) for m in screened.manual}
        assessing = {e["id"] for e in catalog if e.get("risk") == "read" and caught & set(e.get("assesses") or [])}
        # Its companions come with it, as its meta file says: they prepare the person's work and do none of it.
        assessing |= {c for e in catalog if e["id"] in assessing for c in e.get("companions") or []}
        kept = [s for s in steps if s.playbook in assessing]
        if len(kept) < len(steps):
            rules = ", ".join(dict.fromkeys(str(m.rule) for m in screened.manual))
            notes.append(f"dropped {len(steps) - len(kept)} step(s): the whole request is work for a person ({rules})")
        steps = kept
    explanation = draft.explanation + "".join(f" Rules: {n}." for n in notes)
    held = draft.model_copy(update={"steps": steps, "manual": manual, "explanation": explanation.strip()})
    return hold_tiers(held, " ".join(screened.rest), catalog, tier)


def whole_inventory(catalog: list[dict[str, Any]]) -> frozenset[str]:
    """The entries that need every host (``whole_inventory`` in their meta file), with their companions."""
    whole = [e for e in catalog if e.get("whole_inventory")]
    return frozenset(e["id"] for e in whole) | frozenset(c for e in whole for c in e.get("companions") or [])


def stray_targets(intent: str, steps: list[Any], hosts: list[dict[str, Any]],
                  groups: dict[str, list[str]], whole: frozenset[str] = frozenset()) -> list[str]:
    """Problems for validated ``steps`` that target hosts the request does not name, or names to leave out.

    A request that names no host, or says every host, allows any. A named host allows its hypervisor and
    the VMs it runs: "why is this VM slow" may well need a look at the machine under it. A step of a
    playbook in ``whole`` (see :func:`whole_inventory`) may target every host: there, named hosts fill
    its variables, not its targets.
    """
    names = [h["name"] for h in hosts]
    wanted = targets(intent, names, groups)
    if not wanted.named or wanted.says_all:
        return []
    left_out = resolve(wanted.exclude, names, groups)
    allowed = resolve(wanted.include or ("all",), names, groups) - left_out
    parent: dict[str, str] = {h["name"]: h["hypervisor"] for h in hosts if h.get("hypervisor")}
    allowed |= {parent[h] for h in allowed if h in parent} | {vm for vm, p in parent.items() if p in allowed}
    problems = []
    for number, step in enumerate(steps, start=1):
        if step.playbook in whole:
            continue
        stray = [h for h in step.hosts if h not in allowed or h in left_out]
        if stray:
            problems.append(f"step {number} ({step.playbook}): targets {', '.join(stray)}, which the request does not "
                            f"ask for (it names {', '.join(wanted.include + wanted.exclude)}); target only the hosts "
                            "the request is about")
    return problems


# A request with a word that asks to look and none that asks for a change only asks to look. The change words
# are broad on purpose: a request they catch by mistake is only planned as before, while a read request that
# gets a change step would put a change to the person's hosts in front of them they never asked for.
_LOOKS = re.compile(r"\b(check|show|list|what|what's|whats|which|why|how|is|are|does|did|do|tell|find|read|gather|"
                    r"look|inspect|diagnose|audit|verify|assess|report|see|where|troubleshoot|sluggish|slow)\b")
_CHANGES = re.compile(r"\b(apply|re-apply|reapply|set|install|update|upgrade|deploy|reboot|restart|change|add|remove|"
                      r"cap|limits?|stop|kill|fix|repair|configure|enable|disable|move|swap|scale|create|rotate|renew|"
                      r"reset|reserve|sync|prepare|remediate|tighten|harden|patch|open|put|give|make|bring|run|keep|"
                      r"spin|try|start|point|replace|plug|record|get|free|clean|clear|throttle|terminate|promote|"
                      r"yes|delay|schedule|mount|write|fill|resize|grow|expand)\b")


def asks_only_to_look(intent: str) -> bool:
    """Whether ``intent`` asks only to look: a word like check, show, why, and no word asking for a change."""
    text = intent.lower()
    return bool(_LOOKS.search(text)) and not _CHANGES.search(text)


def changes_unasked(intent: str, steps: list[Any], catalog: list[dict[str, Any]]) -> list[str]:
    """Problems for validated ``steps`` that change hosts when the request only asks to look.

    A companion of a planned step stays: its meta file says it belongs with that step, whose answer it prepares
    (assess_network_upgrade's preparation), and the person still applies it or not."""
    if not asks_only_to_look(intent):
        return []
    planned = {s.playbook for s in steps}
    companions = {c for e in catalog if e["id"] in planned for c in e.get("companions") or []}
    return [f"step {number} ({step.playbook}): changes hosts, and the request asks only to look; plan read-only "
            "playbooks, or leave the step out" for number, step in enumerate(steps, start=1)
            if step.risk == "change" and step.playbook not in companions]
