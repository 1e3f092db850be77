"""The decision framework and the safety rules, in one place that every draft passes through.

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
- **tiers** (the decision framework proper): a deployment goes to k3s through
  GitOps when the request says production, HA, persistent storage, several
  replicas or complex dependencies, and to the orchestrator when it says
  trial, single instance, quick to remove or development. A step whose
  catalog entry deploys to the other tier is refused;
- **targets** (:func:`stray_targets`, on the validated steps): a step may only
  target hosts the request names (or their hypervisors and VMs), when it
  names any; text in host data cannot widen a plan.

A step for a playbook outside the catalog is left to validation, which names
the closest entries and gives a model its repair round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from planner.planning.drafting import Draft, DraftStep
from planner.planning.targets import resolve, targets
from planner.plans.planfile import ManualItem, OpenQuestion, Refusal

DESTRUCTIVE = "destructive"
MANUAL_PHYSICAL = "manual: physical work"
MANUAL_SECURITY = "manual: security-sensitive"
MANUAL_NETWORK = "manual: infrastructure-level networking"
MANUAL_STORAGE = "manual: infrastructure-level storage"
MANUAL_MAINTENANCE = "manual: one-time maintenance"

_NUM = r"(\d+|two|three|four|five|six|seven|eight|nine|ten)"


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
_PHYSICAL = _compile(
    r"\b(plug|unplug|re-?cable|cabling|reseat|rack|unrack)\w*\b",
    # The verb must be near the part: "install the nvidia drivers on the GPU hosts" is software.
    r"\b(replace|swap|install|fit|add|upgrade|buy|order|move)\b(\s+\S+){0,4}?\s+(switch(es)?|routers?|nics?|"
    r"network\s+cards?|gpus?|graphics\s+cards?|disks?|drives?|ssds?|nvme|hdds?|ram|dimms?|psus?|fans?|cables?|"
    r"cards?|hardware|ups)\b",
    r"\bcables?\b",
)
_SECURITY = _compile(
    r"\bpass(word|phrase)s?\b",
    r"\bkeys?\b",
    r"\bauthorized_keys\b",
    r"\b(api|access|auth)[- ]?tokens?\b|\btokens?\b",
    r"\bsecrets?\b",
    r"\bcert(ificate)?s?\b|\btls\b|\bssl\b|\blet'?s\s*encrypt\b",
    r"\bsudo(ers)?\b",
    r"\b(2fa|mfa|totp)\b",
    r"\b(create|add|remove)\s+(a\s+|an\s+|the\s+|new\s+)*(user|account)s?\b",
)
_CHANGE_VERB = (r"\b(set|change|add|remove|point|configure|update|move|enable|disable|create|edit|reserve|extend"
                r"|shrink|assign|give|make|switch|renumber|fix|resize|grow|expand|mount|migrate)\b")
# Reading addresses is a fact; changing DNS, DHCP or addressing is network work.
_ADDRESSING = r"\b(dns|dhcp|static\s+ip|ip\s+address(es)?|subnet|gateway|lease|reservation)\b"
_NETWORK = _compile(
    r"\brouters?\b",
    r"\bfirewalls?\b|\bopnsense\b|\bpfsense\b|\biptables\b|\bnftables\b|\bufw\b",
    r"\bvlans?\b",
    r"\bport[- ]?forward\w*",
    r"\bopen\s+(a\s+|the\s+)?ports?\b",
    r"\bswitch\s*ports?\b",
    r"\b(the|a|an|new|core|network|managed|unmanaged|poe|gigabit|\S*gbe|\d+-port)\s+(\S+\s+)?switch(es)?\b",
    r"\b(wifi|wi-fi|access\s+points?|wlan)\b",
    rf"{_CHANGE_VERB}.*?{_ADDRESSING}|{_ADDRESSING}(?=.*{_CHANGE_VERB})",
)
# Looking at storage is a fact; changing pools, arrays, volumes and shares is infrastructure work.
# (A bare "pool" is no storage: "point NTP at the pool" is about time servers.)
_STORAGE_THING = (r"\b(zfs|zpools?|(storage|zfs|ceph)\s+pools?|raid\w*|lvm|volume\s+groups?|logical\s+volumes?|ceph"
                  r"|nfs|iscsi|smb|samba|partitions?|datasets?)\b")
_STORAGE = _compile(rf"{_CHANGE_VERB}.*?{_STORAGE_THING}|{_STORAGE_THING}(?=.*{_CHANGE_VERB})")
_MAINTENANCE = _compile(
    r"\b(firmware|bios|uefi|bmc|ipmi|idrac)\b",
    r"\b(dist-upgrade|release\s+upgrade|major\s+upgrade)\b",
    r"\bupgrade\s+(proxmox|pve|debian|ubuntu)\s+(from\s+\S+\s+)?to\s+\d+",
)

_REASONS = {
    MANUAL_PHYSICAL: "hands-on work on the hardware; a person does it, and the plan only lists it",
    MANUAL_SECURITY: "passwords, keys, certificates and accounts are security-sensitive; a person changes them",
    MANUAL_NETWORK: "routers, switches, firewalls, VLANs and the DNS/DHCP service are changed by a person; "
                    "no catalog playbook manages them",
    MANUAL_STORAGE: "pools, arrays, volumes and shares hold everyone's data; a person changes them",
    MANUAL_MAINTENANCE: "firmware and major upgrades are one-time maintenance, done by a person with a way back",
}
# What each rule covers, in the words the LLM planner's prompt gives it.
_COVERS = {
    DESTRUCTIVE: "wiping, deleting, reinstalling, formatting, rm -rf, shutting hosts down",
    MANUAL_PHYSICAL: "cables, disks, cards, power and other hands-on work on the hardware",
    MANUAL_SECURITY: "passwords, keys, certificates, tokens, accounts and sudo",
    MANUAL_NETWORK: "routers, switches, firewalls, VLANs, Wi-Fi, port forwarding, DNS and DHCP servers, addressing",
    MANUAL_STORAGE: "pools, arrays, volumes, partitions and network shares",
    MANUAL_MAINTENANCE: "firmware, BIOS and major release upgrades",
}
#: The manual rules, by name: what a read playbook may say it assesses (``assesses`` in its meta file).
MANUAL_RULES = tuple(_REASONS)
_CHECKS = ((DESTRUCTIVE, _DESTRUCTIVE), (MANUAL_PHYSICAL, _PHYSICAL), (MANUAL_SECURITY, _SECURITY),
           (MANUAL_NETWORK, _NETWORK), (MANUAL_STORAGE, _STORAGE), (MANUAL_MAINTENANCE, _MAINTENANCE))


@dataclass(frozen=True)
class Caught:
    """A rule that caught a clause of the request, and the words that made it."""

    rule: str
    words: str
    clause: str


# A switch named only as when or where something is looked at ("check the link speeds after the new
# switch") is context, not network work; the network rule reads the clause without it.
_SWITCH_AS_CONTEXT = re.compile(r"\b(after|since|behind)\s+(the\s+|a\s+)?(new\s+|core\s+|\S*gbe\s+)?switch(es)?\b")


def safety(clause: str) -> Caught | None:
    """The first safety rule that catches ``clause`` (destructive before manual), or None."""
    text = clause.lower()
    for rule, patterns in _CHECKS:
        seen = _SWITCH_AS_CONTEXT.sub(" ", text) if rule == MANUAL_NETWORK else text
        for pattern in patterns:
            found = pattern.search(seen)
            if found:
                return Caught(rule, found.group(0).strip(), clause)
    return None


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

K3S, ORCHESTRATOR = "k3s", "orchestrator"
_TIER_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (tier, name, re.compile(p, re.I)) for tier, name, p in (
    (K3S, "k3s: production", r"\bprod(uction)?\b"),
    (K3S, "k3s: high availability", r"\b(ha|highly\s+available|high\s+availability|failover|redundant(ly)?)\b"),
    (K3S, "k3s: persistent storage", r"\b(persistent|persistence|stateful|with\s+(its\s+|a\s+)?database)\b"),
    (K3S, "k3s: multi-replica", rf"\b(replicas|replicated|multi-?replica|{_NUM}\s+(instances|copies))\b"),
    (K3S, "k3s: complex dependencies", r"\b(depends\s+on|dependencies|stack\s+of)\b"),
    (ORCHESTRATOR, "orchestrator: trial", r"\b(trial|try(ing)?(\s+out)?|evaluate|experiment\w*|poc|demo)\b"),
    (ORCHESTRATOR, "orchestrator: single instance", r"\b(single(\s+instance)?|one\s+instance)\b"),
    (ORCHESTRATOR, "orchestrator: quick removal",
     r"\b(temporar(y|ily)|throwaway|disposable|quick(ly)?\s+to\s+remove)\b"),
    (ORCHESTRATOR, "orchestrator: development", r"\b(dev|development|staging|sandbox)\b"),
))


@dataclass(frozen=True)
class TierDecision:
    """What the framework makes of a request: the tier (None when it says nothing or both), and why."""

    tier: str | None
    rules: tuple[str, ...]
    words: tuple[str, ...]

    @property
    def why(self) -> str:
        """The rules that decided, with the words that matched them."""
        return "; ".join(f"{r} ({w!r})" for r, w in zip(self.rules, self.words, strict=True))


def classify(text: str) -> TierDecision:
    """The tier the decision framework gives the deployment ``text`` asks for."""
    hits = [(tier, name, m.group(0)) for tier, name, pattern in _TIER_RULES for m in [pattern.search(text)] if m]
    tiers = {tier for tier, _, _ in hits}
    return TierDecision(next(iter(tiers)) if len(tiers) == 1 else None, tuple(n for _, n, _ in hits),
                        tuple(w for _, _, w in hits))


def _with_tier_rule(step: DraftStep, note: str) -> DraftStep:
    return step.model_copy(update={"rationale": f"{step.rationale}; decision framework: {note}".lstrip("; ")})


def _tiers(draft: Draft, text: str, catalog: list[dict[str, Any]], ids: list[str]) -> Draft:
    tier_of = {e["id"]: e.get("tier") for e in catalog}
    deploying = [s for s in draft.steps if tier_of.get(s.playbook)]
    if not deploying:
        return draft
    decided = classify(text)
    steps, questions = [], list(draft.questions)
    for step in draft.steps:
        tier = tier_of.get(step.playbook)
        if not tier:
            steps.append(step)
        elif decided.tier is None and decided.rules:
            steps.append(_with_tier_rule(step, f"{tier}, the entry's tier (the request reads as both: {decided.why})"))
            question = OpenQuestion(question="k3s or the orchestrator?", assumption=f"{tier}, where {step.playbook} "
                                    "deploys")
            questions += [question] if question not in questions else []
        elif decided.tier is None:
            steps.append(_with_tier_rule(step, f"{tier}, the entry's tier (the request names no deciding trait)"))
        elif decided.tier == tier:
            steps.append(_with_tier_rule(step, decided.why))
        else:
            return Draft(refusal=Refusal(
                reason=f"decision framework: {decided.why} makes this {decided.tier} work, and {step.playbook} "
                       f"deploys to the {tier} tier", closest=[i for i in ids if tier_of.get(i) == decided.tier][:3]),
                explanation="Refused: the catalog entry drafted deploys to the other tier than the request needs.")
    return draft.model_copy(update={"steps": steps, "questions": questions})


def prompt_rules() -> str:
    """The decision framework and the safety rules as an LLM planner is told them (the code enforces them too)."""
    manual = "\n".join(f"   - `{rule}`: {_COVERS[rule]}" for rule in _REASONS)
    return (
        "3. Decide by kind of work (the decision framework). A deployment goes to k3s through GitOps for "
        "production, high availability, persistent storage, several replicas or complex dependencies, and to the "
        "orchestrator for a trial, a single instance, something quick to remove, or development. These kinds of "
        "work are `manual` checklist items for the person, never steps; give each a title, the reason, and the "
        f"rule's name exactly as written here:\n{manual}\n"
        f"4. Refuse requests that destroy things (`{DESTRUCTIVE}`: {_COVERS[DESTRUCTIVE]}) and requests no catalog "
        "playbook serves: set `refusal` with the reason and the closest catalog ids, and plan no steps.")


def enforce(intent: str, draft: Draft, catalog: list[dict[str, Any]]) -> Draft:
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
    return _tiers(held, " ".join(screened.rest), catalog, ids)


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
