"""The decision framework: which tier a deployment belongs to, as data a person can read.

Every deployment is classed into one of three tiers (DESIGN.md, "Decision framework"):

- **k3s**: GitOps on the k3s cluster, for production, high availability, persistent
  storage, several replicas or complex dependencies;
- **orchestrator**: a catalog playbook straight onto one host, for a trial, a single
  instance, something quick to remove, development;
- **manual**: a checklist item for a person, never run by the tool: hands-on hardware,
  infrastructure-level networking and storage, security-sensitive changes, one-time
  maintenance.

:data:`RULES` is the whole framework: each rule's tier, its name (what the plan shows),
what it stands for and the words that match it. Words are *firm* (they settle the tier:
"trial first", "production") or *soft* (they only suggest it: "for local LLM testing"
could be either, so the plan asks). The enforcing lives elsewhere: the manual rules
screen every request in :mod:`planner.planning.rules`, which also holds each deploying
step to the tier chosen here; SERVICES.md's decision matrix and the LLM planner's prompt
are generated from the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

K3S, ORCHESTRATOR, MANUAL = "k3s", "orchestrator", "manual"
TIERS = (K3S, ORCHESTRATOR, MANUAL)

MANUAL_PHYSICAL = "manual: physical work"
MANUAL_SECURITY = "manual: security-sensitive"
MANUAL_NETWORK = "manual: infrastructure-level networking"
MANUAL_STORAGE = "manual: infrastructure-level storage"
MANUAL_MAINTENANCE = "manual: one-time maintenance"

#: Where a deployment goes when no word says: a new service starts as a trial, quick to remove again.
DEFAULT_TIER = ORCHESTRATOR
#: The checklist rule of a deployment the person turned into work by hand (``-e tier=manual``).
MANUAL_BY_CHOICE = "manual: set with -e tier=manual"
#: The one question a plan asks when a request deploys something and its words do not settle the tier.
TIER_QUESTION = "Trial through the orchestrator, or production on k3s?"

_NUM = r"(\d+|two|three|four|five|six|seven|eight|nine|ten)"


@dataclass(frozen=True)
class Rule:
    """One rule of the framework: the tier it gives, why, and the words that match it."""

    tier: str
    name: str
    stands_for: str
    examples: tuple[str, ...]
    firm: tuple[re.Pattern[str], ...]
    soft: tuple[re.Pattern[str], ...] = ()
    #: Manual rules: why a person does such work (the checklist item's reason).
    reason: str = ""


def _re(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.I) for p in patterns)


# --- the manual rules' words (the safety screen in rules.py applies them to every clause) --------------------------

_PHYSICAL = _re(
    r"\b(plug|unplug|re-?cable|cabling|reseat|rack|unrack)\w*\b",
    # The verb must be near the part: "install the nvidia drivers on the GPU hosts" is software.
    r"\b(replace|swap|install|fit|add|upgrade|buy|order|move)\b(\s+\S+){0,4}?\s+(switch(es)?|routers?|nics?|"
    r"network\s+cards?|gpus?|graphics\s+cards?|disks?|drives?|ssds?|nvme|hdds?|ram|dimms?|psus?|fans?|cables?|"
    r"cards?|hardware|ups)\b",
    r"\bcables?\b",
)
_SECURITY = _re(
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
_NETWORK = _re(
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
_STORAGE = _re(rf"{_CHANGE_VERB}.*?{_STORAGE_THING}|{_STORAGE_THING}(?=.*{_CHANGE_VERB})")
_MAINTENANCE = _re(
    r"\b(firmware|bios|uefi|bmc|ipmi|idrac)\b",
    r"\b(dist-upgrade|release\s+upgrade|major\s+upgrade)\b",
    r"\bupgrade\s+(proxmox|pve|debian|ubuntu)\s+(from\s+\S+\s+)?to\s+\d+",
)

# --- the framework ---------------------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(K3S, "k3s: production", "production: what people rely on, promoted from a trial",
         ("production", "prod", "promote"), _re(r"\b(prod(uction)?|promot(e|ed|es|ing|ion))\b")),
    Rule(K3S, "k3s: high availability", "it must survive a node going down",
         ("HA", "highly available", "failover", "redundant"),
         _re(r"\b(ha|highly\s+available|high\s+availability|failover|redundant(ly)?)\b")),
    Rule(K3S, "k3s: persistent storage", "its data must outlive the pod",
         ("persistent", "stateful", "with a database"),
         _re(r"\b(persistent|persistence|stateful|with\s+(its\s+|a\s+)?database)\b")),
    Rule(K3S, "k3s: multi-replica", "several replicas behind one service",
         ("replicas", "3 instances", "replicated"),
         _re(rf"\b(replicas|replicated|multi-?replica|{_NUM}\s+(instances|copies))\b")),
    Rule(K3S, "k3s: complex dependencies", "it depends on other services, deployed together",
         ("depends on", "dependencies", "stack of"), _re(r"\b(depends\s+on|dependencies|stack\s+of)\b")),
    # "k3s" alone is no such word: "delay the k3s nodes" names a group. "on k3s" and "to the cluster" name the tier.
    Rule(K3S, "k3s: through GitOps", "asked for on the cluster, as a GitOps change",
         ("gitops", "kubernetes", "pull request", "on k3s"),
         _re(r"\b(gitops|kubernetes|k8s|pull\s+request|merge\s+request)\b",
             r"\b(on|to|onto|into|in)\s+(the\s+)?(k3s|cluster)\b(?!\s+(nodes?|vms?|hosts?|servers?))")),
    Rule(ORCHESTRATOR, "orchestrator: trial", "a trial or experiment, tried out before anything depends on it",
         ("trial first", "try", "evaluate", "testing"),
         _re(r"\b(trial(\s+first)?|try(ing)?(\s+(it|out))?(\s+first)?|evaluate|experiment\w*|poc|demo)\b"),
         # "for local LLM testing" says a trial is likely, not that the person wants no production.
         _re(r"\blocal\s+(\S+\s+){0,3}?testing\b", r"\btest(ing)?\s+it\b", r"\btesting\b")),
    Rule(ORCHESTRATOR, "orchestrator: single instance", "one instance on one host is enough",
         ("single instance", "one instance"), _re(r"\b(single(\s+instance)?|one\s+instance)\b")),
    Rule(ORCHESTRATOR, "orchestrator: quick removal", "temporary: quick to remove again",
         ("temporary", "throwaway", "disposable"),
         _re(r"\b(temporar(y|ily)|throwaway|disposable|quick(ly)?\s+to\s+remove)\b")),
    Rule(ORCHESTRATOR, "orchestrator: development", "development and staging, not for everyone yet",
         ("development", "dev", "staging"), _re(r"\b(dev|development|staging|sandbox)\b")),
    Rule(MANUAL, MANUAL_PHYSICAL, "cables, disks, cards, power and other hands-on work on the hardware",
         ("plug", "replace the disk", "cable"), _PHYSICAL,
         reason="hands-on work on the hardware; a person does it, and the plan only lists it"),
    Rule(MANUAL, MANUAL_SECURITY, "passwords, keys, certificates, tokens, accounts and sudo",
         ("password", "SSH keys", "certificate"), _SECURITY,
         reason="passwords, keys, certificates and accounts are security-sensitive; a person changes them"),
    Rule(MANUAL, MANUAL_NETWORK, "routers, switches, firewalls, VLANs, Wi-Fi, port forwarding, DNS and DHCP servers, "
         "addressing", ("router", "VLAN", "change DNS"), _NETWORK,
         reason="routers, switches, firewalls, VLANs and the DNS/DHCP service are changed by a person; no catalog "
                "playbook manages them"),
    Rule(MANUAL, MANUAL_STORAGE, "pools, arrays, volumes, partitions and network shares",
         ("create a ZFS pool", "resize LVM"), _STORAGE,
         reason="pools, arrays, volumes and shares hold everyone's data; a person changes them"),
    Rule(MANUAL, MANUAL_MAINTENANCE, "firmware, BIOS and major release upgrades",
         ("BIOS", "firmware", "dist-upgrade"), _MAINTENANCE,
         reason="firmware and major upgrades are one-time maintenance, done by a person with a way back"),
)
BY_NAME = {r.name: r for r in RULES}
_MANUAL = tuple(r for r in RULES if r.tier == MANUAL)
#: The manual rules' names, in the order the safety screen tries them: what a read playbook may say it
#: assesses (``assesses`` in its meta file).
MANUAL_RULES = tuple(r.name for r in _MANUAL)

# A switch named only as when or where something is looked at ("check the link speeds after the new
# switch") is context, not network work; the network rule reads the clause without it.
_SWITCH_AS_CONTEXT = re.compile(r"\b(after|since|behind)\s+(the\s+|a\s+)?(new\s+|core\s+|\S*gbe\s+)?switch(es)?\b")


# Keeping hosts on their documented addresses (a DHCP reservation a host, "so they stop changing") is a
# catalog step, reserve_addresses; the DHCP server's own settings, DNS, subnets and routers stay a person's.
# In such a clause the network rule reads past the words for the reservation itself.
_RESERVING = re.compile(r"\b(reserv(e|es|ed|ing|ations?)|pin|stop\s+(changing|moving)|keep\s+(their|its)\s+"
                        r"(ip\s+)?address(es)?)\b")
_RESERVATION_WORDS = re.compile(r"\b(dhcp|ip\s+address(es)?|leases?|reservations?)\b")


def _network_clause(lowered: str) -> str:
    """The clause as the network rule reads it: a switch as context, and a reservation's words, left out."""
    seen = _SWITCH_AS_CONTEXT.sub(" ", lowered)
    return _RESERVATION_WORDS.sub(" ", seen) if _RESERVING.search(seen) else seen


def manual_match(text: str) -> tuple[Rule, str] | None:
    """The first manual rule whose words are in ``text``, and the words, or None."""
    lowered = text.lower()
    for rule in _MANUAL:
        seen = _network_clause(lowered) if rule.name == MANUAL_NETWORK else lowered
        for pattern in rule.firm:
            found = pattern.search(seen)
            if found:
                return rule, found.group(0).strip()
    return None


@dataclass(frozen=True)
class TierDecision:
    """What the framework makes of a request: the tier (None when it says nothing or both), and why.

    ``settled`` is True when firm words of one tier decided; soft words only suggest the tier.
    """

    tier: str | None
    rules: tuple[str, ...]
    words: tuple[str, ...]
    settled: bool = False

    @property
    def rule(self) -> str | None:
        """The rule that chose the tier (the first that matched it)."""
        return next((r for r in self.rules if BY_NAME[r].tier == self.tier), None)

    @property
    def why(self) -> str:
        """The rules that decided, with the words that matched them."""
        return "; ".join(f"{r} ({w!r})" for r, w in zip(self.rules, self.words, strict=True))


def _hits(text: str, soft: bool) -> list[tuple[str, str, str]]:
    out = []
    for rule in RULES:
        if rule.tier == MANUAL:
            continue
        for pattern in rule.soft if soft else rule.firm:
            found = pattern.search(text)
            if found:
                out.append((rule.tier, rule.name, found.group(0)))
                break
    return out


def classify(text: str) -> TierDecision:
    """The tier the framework gives what ``text`` asks for, the rule that chose it and the words.

    Manual work comes first (it is never deployed); then firm words, which settle the tier when they
    all point to one; soft words only suggest a tier, and only when no firm word speaks.
    """
    manual = manual_match(text)
    if manual is not None:
        return TierDecision(MANUAL, (manual[0].name,), (manual[1],), settled=True)
    firm = _hits(text, soft=False)
    tiers = {tier for tier, _, _ in firm}
    if firm:
        return TierDecision(next(iter(tiers)) if len(tiers) == 1 else None, tuple(n for _, n, _ in firm),
                            tuple(w for _, _, w in firm), settled=len(tiers) == 1)
    soft = _hits(text, soft=True)
    tiers = {tier for tier, _, _ in soft}
    return TierDecision(next(iter(tiers)) if len(tiers) == 1 else None, tuple(n for _, n, _ in soft),
                        tuple(w for _, _, w in soft))


@dataclass(frozen=True)
class TierChoice:
    """The tier one deploying step gets, whether that is settled, and the words the plan says about it."""

    tier: str
    settled: bool
    note: str
    assumption: str


def choose(decided: TierDecision, entry_tier: str, override: str | None = None) -> TierChoice:
    """The tier for a step of an entry deploying to ``entry_tier``: the person's ``override`` (``-e tier=…``),
    else the request's firm words, else the suggestion (soft words, or the entry's own tier) left open."""
    suggested = decided.tier or entry_tier
    if decided.tier is not None:
        why = f"rule {decided.rule}, from {decided.words[decided.rules.index(decided.rule or '')]!r}"
    elif decided.rules:
        why = f"the entry's tier; the request reads as both: {decided.why}"
    else:
        why = "the entry's tier; the request names no deciding trait"
    if override is not None:
        return TierChoice(override, True, f"tier {override}, set with -e tier={override}; the framework suggested "
                                          f"{suggested} ({why})", "")
    if decided.settled:
        return TierChoice(suggested, True, decided.why, "")
    return TierChoice(suggested, False, f"tier {suggested}, suggested ({why}); the words do not settle it",
                      f"{suggested}, as the framework suggests ({why}); "
                      'revise with "trial first" or "production" to settle it')


def parse_tier(value: str) -> str:
    """``-e tier=VALUE`` read: one of the tiers, or an error that names them."""
    from planner.errors import HomelabError, did_you_mean

    tier = value.strip().lower()
    if tier not in TIERS:
        raise HomelabError(f"-e tier={value}: no such tier{did_you_mean(tier, TIERS)}",
                           f"tier is the decision framework's choice, one of {', '.join(TIERS)}: "
                           'homelab plan "deploy ollama" -e tier=orchestrator')
    return tier


# Catalog ids are verb_noun: an entry of a tier that removes what was deployed (remove_trial_service) undoes a
# decision already taken, so the framework neither asks about it nor swaps it.
_UNDOING = ("remove_", "uninstall_", "delete_", "undeploy_")


def deploys(entry: dict[str, Any]) -> bool:
    """Whether ``entry`` deploys something the framework decides the tier of: it has a tier and is no removal."""
    return bool(entry.get("tier")) and not str(entry.get("id", "")).startswith(_UNDOING)


def at_tier(catalog: list[dict[str, Any]], tier: str | None) -> list[dict[str, Any]]:
    """``catalog`` without the deploying entries of tiers other than ``tier`` (the framework's default when
    None), where the catalog has one of that tier: two entries deploying the same kind of thing at two
    tiers then never compete on words."""
    wanted = tier or DEFAULT_TIER
    if not any(deploys(e) and e.get("tier") == wanted for e in catalog):
        return catalog
    return [e for e in catalog if not deploys(e) or e.get("tier") == wanted]


_FILLER = frozenset({"and", "the", "for", "its", "with", "from", "what", "other", "work", "anything", "before", "not",
                     "yet", "one", "all", "own"})


def _said(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9][a-z0-9-]+", text.lower()) if len(w) > 2 and w not in _FILLER}


def fitting_rule(tier: str, text: str) -> str | None:
    """The rule of ``tier`` that ``text`` (a documented service's notes) speaks for most, or None.

    Evidence is the words its patterns find and the words of what it stands for, each counted once: a
    note saying "DHCP and DNS for the LAN" is networking even though "rack controller" looks physical.
    """
    said = _said(text)
    best, most = None, 0
    for rule in RULES:
        if rule.tier != tier:
            continue
        found = {w for p in (*rule.firm, *rule.soft) for m in [p.search(text)] if m for w in _said(m.group(0))}
        evidence = len(found | (said & _said(rule.stands_for)))
        if evidence > most:
            best, most = rule.name, evidence
    return best


def matrix() -> list[dict[str, str]]:
    """The decision matrix, one row per rule: tier, rule, what it stands for, example words."""
    return [{"tier": r.tier, "rule": r.name, "stands_for": r.stands_for,
             "examples": ", ".join(f'"{e}"' for e in r.examples)} for r in RULES]


def prompt_text() -> str:
    """The framework as an LLM planner is told it: every rule by name, with what it stands for."""
    deploy = "\n".join(f"   - `{r.name}`: {r.stands_for}" for r in RULES if r.tier != MANUAL)
    manual = "\n".join(f"   - `{r.name}`: {r.stands_for}" for r in _MANUAL)
    return (
        "3. Decide by kind of work (the decision framework). A deployment goes to k3s through GitOps or to the "
        "orchestrator (one host, quick to remove), by these rules; pick the catalog entry whose `tier` the rule "
        "gives, and where the words do not settle it, take the orchestrator and ask in `questions`:\n"
        f"{deploy}\n"
        "   These kinds of work are `manual` checklist items for the person, never steps; give each a title, the "
        f"reason, and the rule's name exactly as written here:\n{manual}")
