"""The offline planner: keyword scoring over the catalog, slot filling from the words.

It needs no model, no network and no downloaded weights, and gives the same
draft for the same request every time. Safety comes first and is not scored:
destructive requests are refused, and router, switch, firewall, DNS/DHCP,
credential and hardware work becomes a checklist item for the person, never a
step. What is left is scored against each catalog entry with a BM25-style
ranking over its id, tags, description and example requests (examples weigh
most: they are written in the words people use). A weak or ambiguous best
match is refused with the closest entries, because a wrong playbook is worse
than none. Hosts, groups and the variables an entry declares are then read
from the request; nothing an entry does not declare is ever filled in.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from planner.planning.context import mentioned_hosts
from planner.planning.drafting import Draft, Drafted, DraftStep
from planner.plans.planfile import ManualItem, OpenQuestion, Refusal

# ---------------------------------------------------------------------------
# Normalisation: the same pipeline turns a request and a catalog entry into terms.

_STOPWORDS = frozenset("""
a an the and or but if then so to of in on at by for with from into onto over under about as
is are was were be been being am do does did doing done have has had having can could should would will
shall may might must i me my mine we us our you your it its they them their this that these those there
here what which who whom whose when where how please just also too very really any some each every all
both either neither no not only own same than again further once more most other such s t d ll m re ve
now let lets make sure get got go going want need needs like see show tell give list find look know seem
seems seemed ok okay thing things stuff host hosts node nodes machine machines server servers vm vms box
boxes homelab lab everything everywhere whole entire cluster right away quickly much many one
""".split())

# Phrases first, so that "graphics card" or "time zone" count as one idea.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\bgraphics\s+cards?\b", " gpu "),
    (r"\btime\s*zones?\b", " timezone "),
    (r"\btime\s+servers?\b", " ntp "),
    (r"\bmessage\s+of\s+the\s+day\b", " motd "),
    (r"\bkernel\s+param(eter)?s?\b", " sysctl "),
    (r"\boperating\s+system\b", " os "),
    (r"\bnetwork\s+(cards?|interfaces?|adapters?)\b", " nic "),
    (r"\bfree\s+space\b", " disk "),
    # Pacing words are slots (serial), not topics: "one at a time" is not about time zones.
    (r"\b\w+\s+at\s+a\s+time\b|\bone\s+by\s+one\b", " "),
    (r"\bset\s+up\b", " setup "),
    (r"\bup\s+to\s+date\b", " current "),
    (r"\bwhat(?:'s|\s+is|\s+are)\b", " facts "),
))

# Words people use for the same thing, folded onto one term.
_SYNONYM_GROUPS: dict[str, tuple[str, ...]] = {
    "gpu": ("gpu", "gpus", "vram", "nvidia", "cuda"),
    "slow": ("slow", "slowly", "sluggish", "laggy", "lagging", "lag", "unresponsive", "hanging"),
    "baseline": ("baseline", "setting", "settings", "config", "configuration", "standard", "standards",
                 "defaults"),
    "facts": ("facts", "fact", "inventory", "hardware", "specs", "spec", "info", "information", "details",
              "snapshot"),
    "memory": ("memory", "ram"),
    "journal": ("journal", "journald", "journalctl", "logs", "log", "logging"),
    "diagnose": ("diagnose", "diagnostics", "diagnostic", "troubleshoot", "troubleshooting", "investigate",
                 "debug", "why"),
    "reachable": ("reachable", "up", "online", "alive", "responding", "responsive", "ping", "reach"),
    "run": ("run", "runs", "running"),
    "ntp": ("ntp", "timesyncd"),
    "sysctl": ("sysctl", "sysctls"),
    "speed": ("speed", "speeds", "fast", "bandwidth"),
    "nic": ("nic", "nics", "interface", "interfaces", "ethernet"),
    "disk": ("disk", "disks", "drive", "drives", "storage", "ssd", "nvme"),
    "os": ("os", "distro", "distribution", "release"),
    "cpu": ("cpu", "cpus", "processor", "processors", "cores"),
    "address": ("address", "addresses", "ip", "ips"),
}


def _stem(word: str) -> str:
    """A deliberately tiny stemmer: one plural/verb suffix, then a final e, so forms meet."""
    for suffix in ("ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


_SYNONYMS: dict[str, str] = {}
for _canon, _words in _SYNONYM_GROUPS.items():
    for _w in _words:
        _SYNONYMS[_w] = _canon
        _SYNONYMS.setdefault(_stem(_w), _canon)


def _name_pattern(name: str) -> re.Pattern[str]:
    # Host names contain hyphens: "still-fawn" must not match inside "k3s-vm-still-fawn".
    return re.compile(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])")


def terms(text: str, names: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(term, word as written) for each meaningful word; inventory names are slots, never topic words."""
    text = text.lower()
    for name in sorted(names, key=len, reverse=True):
        text = _name_pattern(name).sub(" ", text)
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    out = []
    for word in re.split(r"[^a-z0-9]+", text):
        if len(word) < 2 or word[0].isdigit() or word in _STOPWORDS:
            continue
        out.append((_SYNONYMS.get(word) or _SYNONYMS.get(_stem(word)) or _stem(word), word))
    return out


# ---------------------------------------------------------------------------
# Scoring: BM25 over weighted fields (BM25F), one document per catalog entry.

_FIELD_WEIGHTS = {"examples": 3.0, "id": 2.0, "tags": 2.0, "description": 1.0}
_K1, _B = 1.2, 0.75
#: The best entry must beat the runner-up by this factor, or the request is ambiguous.
MARGIN = 1.15
#: Fields written to say what an entry is for; a match only elsewhere is a passing mention.
_STRONG_FIELDS = frozenset({"examples", "id", "tags"})
# A description's disclaimers ("It does not install packages") name what the
# entry does NOT do; indexing them would draw exactly those requests to it.
_DISCLAIMER = re.compile(r"\b(does not|do not|doesn't|don't|changes nothing)\b", re.I)


def _fields(entry: dict[str, Any]) -> dict[str, str]:
    sentences = re.split(r"(?<=[.!?])\s+", entry.get("description") or "")
    return {
        "id": entry["id"].replace("_", " "),
        "tags": " ".join(entry.get("tags") or []).replace("-", " "),
        "description": " ".join(s for s in sentences if not _DISCLAIMER.search(s)),
        "examples": " ".join(entry.get("examples") or []),
    }


@dataclass
class _Doc:
    id: str
    tf: dict[str, float] = field(default_factory=dict)
    where: dict[str, set[str]] = field(default_factory=dict)  # term -> fields it occurs in
    length: float = 0.0


@dataclass(frozen=True)
class Scored:
    """An entry's score for a request, and the request's words that earned it."""

    id: str
    score: float
    words: tuple[str, ...]
    fields: tuple[str, ...]
    terms: int = 0

    @property
    def in_passing(self) -> bool:
        """One word of the description and nothing else: "install" in "restarted where it is installed"."""
        return self.terms < 2 and not _STRONG_FIELDS & set(self.fields)


class Index:
    """The catalog, ready to score requests against."""

    def __init__(self, catalog: list[dict[str, Any]], names: tuple[str, ...] = ()):
        self.names = names
        self.docs: list[_Doc] = []
        for entry in catalog:
            doc = _Doc(entry["id"])
            for fname, text in _fields(entry).items():
                weight = _FIELD_WEIGHTS[fname]
                for term, _ in terms(text, names):
                    doc.tf[term] = doc.tf.get(term, 0.0) + weight
                    doc.where.setdefault(term, set()).add(fname)
                    doc.length += weight
            self.docs.append(doc)
        self.avg_length = (sum(d.length for d in self.docs) / len(self.docs)) if self.docs else 1.0
        n = len(self.docs)
        df: dict[str, int] = {}
        for doc in self.docs:
            for term in doc.tf:
                df[term] = df.get(term, 0) + 1
        self.idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items()}

    def score(self, text: str) -> list[Scored]:
        """Every entry, best first (ties by id, so the order never depends on chance)."""
        query: dict[str, list[str]] = {}
        for term, word in terms(text, self.names):
            query.setdefault(term, [])
            if word not in query[term]:
                query[term].append(word)
        out = []
        for doc in self.docs:
            total, words, fields, matched = 0.0, [], set(), 0
            norm = _K1 * (1 - _B + _B * doc.length / (self.avg_length or 1.0))
            for term, written in query.items():
                tf = doc.tf.get(term)
                if not tf:
                    continue
                total += self.idf[term] * tf * (_K1 + 1) / (tf + norm)
                words.extend(written)
                fields |= doc.where[term]
                matched += 1
            out.append(Scored(doc.id, round(total, 4), tuple(words),
                              tuple(f for f in _FIELD_WEIGHTS if f in fields), matched))
        return sorted(out, key=lambda s: (-s.score, s.id))


@dataclass(frozen=True)
class Decision:
    """Which entry a piece of the request picks, if any, and how sure."""

    ranked: list[Scored]

    @property
    def best(self) -> Scored | None:
        return self.ranked[0] if self.ranked else None

    @property
    def runner_up(self) -> Scored | None:
        return self.ranked[1] if len(self.ranked) > 1 else None

    @property
    def confident(self) -> bool:
        best, second = self.best, self.runner_up
        if best is None or best.score <= 0 or best.in_passing:
            return False
        return second is None or second.score <= 0 or best.score >= MARGIN * second.score

    def closest(self) -> list[str]:
        return [s.id for s in self.ranked[:3]]


# ---------------------------------------------------------------------------
# Safety rules, checked on every clause before anything is scored.

_DESTRUCTIVE = [re.compile(p) for p in (
    r"\b(delete|destroy|wipe|erase|purge|nuke|obliterate|decommission)\b",
    r"\brm\s+-\w*[rf]\w*",
    r"\b(re)?format(ting)?\s+(\S+\s+){0,3}?(disks?|drives?|partitions?|ssds?|nvme|volumes?|filesystems?|pools?)\b",
    r"\breinstall(ing)?\b",
    r"\bfactory[- ]reset\b",
    r"\bdd\s+if=",
    r"\b(shut\s*down|shutdown|power\s*off|poweroff|turn\s+off|halt)\b",
    r"\bremove\s+(all|every|everything)\b",
    r"\bdrop\s+(the\s+|all\s+)?(databases?|tables?)\b",
)]
_PHYSICAL = [re.compile(p) for p in (
    r"\b(plug|unplug|re-?cable|cabling|reseat|rack|unrack)\w*\b",
    # The verb must be near the part: "install the nvidia drivers on the GPU hosts" is software.
    r"\b(replace|swap|install|fit|add|upgrade|buy|order|move)\b(\s+\S+){0,4}?\s+(switch(es)?|routers?|nics?|"
    r"network\s+cards?|gpus?|graphics\s+cards?|disks?|drives?|ssds?|nvme|hdds?|ram|dimms?|psus?|fans?|cables?|"
    r"cards?|hardware|ups)\b",
    r"\bcables?\b",
)]
_SECURITY = [re.compile(p) for p in (
    r"\bpass(word|phrase)s?\b",
    r"\bkeys?\b",
    r"\bauthorized_keys\b",
    r"\b(api|access|auth)[- ]?tokens?\b|\btokens?\b",
    r"\bsecrets?\b",
    r"\bcert(ificate)?s?\b|\btls\b|\bssl\b|\blet'?s\s*encrypt\b",
    r"\bsudo(ers)?\b",
    r"\b(2fa|mfa|totp)\b",
    r"\b(create|add|remove)\s+(a\s+|an\s+|the\s+|new\s+)*(user|account)s?\b",
)]
_CHANGE_VERB = (r"\b(set|change|add|remove|point|configure|update|move|enable|disable|create|edit|reserve|extend"
                r"|shrink|assign|give|make|switch|renumber|fix)\b")
# Reading addresses is a fact; changing DNS, DHCP or addressing is network work.
_ADDRESSING = r"\b(dns|dhcp|static\s+ip|ip\s+address(es)?|subnet|gateway|lease|reservation)\b"
_NETWORK = [re.compile(p) for p in (
    r"\brouters?\b",
    r"\bfirewalls?\b|\bopnsense\b|\bpfsense\b|\biptables\b|\bnftables\b|\bufw\b",
    r"\bvlans?\b",
    r"\bport[- ]?forward\w*",
    r"\bopen\s+(a\s+|the\s+)?ports?\b",
    r"\bswitch\s*ports?\b",
    r"\b(the|a|an|new|core|network|managed|unmanaged|poe|gigabit|\S*gbe|\d+-port)\s+(\S+\s+)?switch(es)?\b",
    r"\b(wifi|wi-fi|access\s+points?|wlan)\b",
    rf"{_CHANGE_VERB}.*?{_ADDRESSING}|{_ADDRESSING}(?=.*{_CHANGE_VERB})",
)]

MANUAL_NETWORK = "manual: infrastructure-level networking"
MANUAL_SECURITY = "manual: security-sensitive"
MANUAL_PHYSICAL = "manual: physical work"

_MANUAL_REASONS = {
    MANUAL_PHYSICAL: "hands-on work on the hardware; a person does it, and the plan only lists it",
    MANUAL_SECURITY: "passwords, keys, certificates and accounts are security-sensitive; a person changes them",
    MANUAL_NETWORK: "routers, switches, firewalls, VLANs and the DNS/DHCP service are changed by a person; "
                    "no catalog playbook manages them",
}


def _first(patterns: list[re.Pattern[str]], text: str) -> re.Match[str] | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return found
    return None


def safety(clause: str) -> tuple[str, str] | None:
    """("destructive", words) or (manual rule, words) when a rule catches the clause; else None."""
    text = clause.lower()
    for kind, patterns in (("destructive", _DESTRUCTIVE), (MANUAL_PHYSICAL, _PHYSICAL),
                           (MANUAL_SECURITY, _SECURITY), (MANUAL_NETWORK, _NETWORK)):
        found = _first(patterns, text)
        if found:
            return kind, found.group(0).strip()
    return None


# Clauses: sentences, "then"/"also" sequences, and "and" before another instruction.
_VERBS = ("apply|gather|check|set|replace|open|rotate|delete|show|make|plug|install|update|deploy|upgrade|reboot"
          "|restart|wipe|change|add|remove|cap|collect|read|tell|list|find|bring|renew|reset|shut|create|enable"
          "|disable|configure|move|swap|run|give|put|scale|format|destroy|erase")
_SPLIT = re.compile(rf"\s*(?:[;!?]+|\.(?:\s+|$))\s*|,?\s+(?:and\s+then|then|and\s+also|also|after\s+that|afterwards)"
                    rf"\s+|,\s+(?:and\s+)?(?=(?:please\s+)?(?:{_VERBS})\b)|,\s+and\s+|\s+and\s+(?=(?:please\s+)?"
                    rf"(?:{_VERBS})\b)", re.I)


def clauses(intent: str) -> list[str]:
    return [c.strip(" ,") for c in _SPLIT.split(intent) if c and c.strip(" ,")]


# ---------------------------------------------------------------------------
# Slots: hosts, groups and the values an entry's variables take.

_ALL = re.compile(r"\b(every|all)\s+(of\s+)?(the\s+|my\s+|our\s+)?(hosts?|machines?|nodes?|servers?|vms?|boxes)\b"
                  r"|\beverywhere\b|\ball\s+of\s+them\b|\b(whole|entire)\s+(homelab|lab|fleet)\b", re.I)
_EXCEPT = re.compile(r"\b(except(\s+for)?|excluding|but\s+not|other\s+than|apart\s+from|besides|not\s+on|skip(ping)?"
                     r"|leave\s+out|leaving\s+out)\b", re.I)


@dataclass(frozen=True)
class Targets:
    """The hosts and groups a piece of the request names."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]
    says_all: bool

    @property
    def named(self) -> bool:
        return bool(self.include or self.exclude)

    @property
    def limit(self) -> str:
        if not self.named:
            return "all"
        return ",".join((self.include or ("all",)) + tuple(f"!{n}" for n in self.exclude))


def targets(text: str, hosts: list[str], groups: dict[str, list[str]]) -> Targets:
    """Host and group names in ``text``, longest first; names after "except" are left out."""
    lowered = text.lower()
    found: list[tuple[int, str]] = []
    for name in sorted(set(hosts) | set(groups), key=len, reverse=True):
        pattern = _name_pattern(name)
        for match in pattern.finditer(lowered):
            found.append((match.start(), name))
        lowered = pattern.sub(lambda m: " " * len(m.group(0)), lowered)
    found.sort()
    cut = _EXCEPT.search(text)
    include = [n for pos, n in found if cut is None or pos < cut.start()]
    exclude = [n for pos, n in found if cut is not None and pos > cut.start()]
    return Targets(tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude)), bool(_ALL.search(text)))


_NEAR_MISS_MIN_CHARS = 6
_WORD = re.compile(r"(?<![\w.-])[a-z][a-z0-9]*(?:[-.][a-z0-9]+)*(?![\w-])")


def near_misses(text: str, names: list[str], known: list[str]) -> list[tuple[str, list[str]]]:
    """Words in ``text`` that are almost, but not, a host or group name ("k3s-vm-stil-fawn"), each with the
    names it is close to. ``known`` (every inventory, service and catalog name) is taken out first.

    Planning such a request would quietly widen it to every host, so the planner refuses it instead. Only
    near misses count: a word that is no name at all may be plain English ("on schedule").
    """
    lowered = text.lower()
    for name in sorted(known, key=len, reverse=True):
        lowered = _name_pattern(name).sub(lambda m: " " * len(m.group(0)), lowered)
    found: dict[str, list[str]] = {}
    # Short words and names are left alone: at five letters a one-letter slip is an English word as often
    # as a typo ("infer" for the group infra, "promo" for proxmox).
    long_names = [n for n in names if len(n) >= _NEAR_MISS_MIN_CHARS]
    for match in _WORD.finditer(lowered):
        word = match.group(0)
        if len(word) >= _NEAR_MISS_MIN_CHARS and word not in found:
            # A word that extends or shortens a name is an inflection ("gpus" for the group gpu), not a typo.
            close = [n for n in difflib.get_close_matches(word, long_names, n=3, cutoff=0.8)
                     if not (word.startswith(n) or n.startswith(word))]
            if close:
                found[word] = close
    return list(found.items())


_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_NUM = r"(\d+|" + "|".join(_NUMBER_WORDS) + r")"
_SPEED = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*-?\s*(gbe|gbit/s|gbits?|gbps|gb/s|gigabits?(?:\s+ethernet)?|gigs?"
                    r"|g|mbe|mbit/s|mbits?|mbps|mb/s|megabits?)(?![a-z])", re.I)


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word.lower()]


def speed_mbps(text: str) -> int | None:
    """A link speed with its unit ("2.5GbE", "2.5 gig", "10 gigabit", "1000 Mbps") in Mbps."""
    found = _SPEED.search(text)
    if not found:
        return None
    value, unit = float(found.group(1)), found.group(2).lower()
    return round(value if unit.startswith("m") else value * 1000)


def serial(text: str) -> int | None:
    """How many hosts at once: "one at a time", "serially", "two at a time", "in batches of 3"."""
    if re.search(r"\b(one\s+by\s+one|serially|sequentially|in\s+sequence)\b", text, re.I):
        return 1
    found = (re.search(rf"\b{_NUM}\s+(?:(?:hosts?|nodes?|machines?)\s+)?at\s+a\s+time\b", text, re.I)
             or re.search(rf"\bbatch(?:es)?\s+of\s+{_NUM}\b", text, re.I))
    return _number(found.group(1)) if found else None


def replicas(text: str) -> int | None:
    found = (re.search(rf"\b{_NUM}\s+replicas?\b", text, re.I)
             or re.search(rf"\breplicas?\s*(?:[:=]|of|to)?\s*{_NUM}\b", text, re.I))
    return _number(found.group(1)) if found else None


def gpu_min_free_mib(text: str) -> int | None:
    """ "at least 8 GB free" → 8192 (MiB); GB and GiB are both read as GiB, as people mean them for VRAM."""
    found = re.search(r"(?:\b(?:at\s+least|minimum\s+of|min(?:imum)?)\s+)?\b(\d+(?:\.\d+)?)\s*(gib|gb|g|mib|mb|m)\b"
                      r"(?:\s+of)?(?:\s+(?:gpu\s+|video\s+)?(?:memory|vram|ram))?\s+(?:free|available|unused)",
                      text, re.I)
    if not found:
        return None
    value, unit = float(found.group(1)), found.group(2).lower()
    return round(value * 1024) if unit.startswith("g") else round(value)


def timezone(text: str) -> str | None:
    found = re.search(r"\b((?:Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)"
                      r"/[A-Za-z_+\-]+(?:/[A-Za-z_]+)?)\b", text)
    if found:
        return found.group(1)
    return "Etc/UTC" if re.search(r"\bUTC\b", text) else None


def journal_size(text: str) -> str | None:
    found = re.search(r"\b(?:journal|journald|logs?)\b.*?\b(\d+)\s*([KMGT])(?:i?B)?\b", text, re.I)
    return f"{found.group(1)}{found.group(2).upper()}" if found else None


def journal_retention(text: str) -> str | None:
    found = re.search(r"\b(?:keep|retain|retention|for)\b.*?\b(\d+)\s*(day|week|month|year)s?\b", text, re.I)
    if not found or not re.search(r"\b(journal|journald|logs?)\b", text, re.I):
        return None
    return f"{found.group(1)}{found.group(2).lower()}{'s' if found.group(1) != '1' else ''}"


def sysctls(text: str, default: Any) -> dict[str, Any] | None:
    """ "vm.swappiness to 1" → the declared default with that key changed (the variable replaces the whole map)."""
    found = re.findall(r"\b([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)\s*(?:to|=|:)\s*(\d+)\b", text)
    if not found:
        return None
    merged = dict(default) if isinstance(default, dict) else {}
    merged.update({k: int(v) for k, v in found})
    return merged


@dataclass(frozen=True)
class Slots:
    """What the request says, for the variables an entry may declare."""

    text: str
    services: tuple[str, ...]
    single_host: str | None


def fill(entry: dict[str, Any], slots: Slots) -> dict[str, Any]:
    """Values for the variables ``entry`` declares, only where the request gives one."""
    declared = entry.get("variables") or {}
    text = slots.text
    readers: dict[str, Any] = {
        "target_speed_mbps": lambda: speed_mbps(text),
        "serial": lambda: serial(text),
        "replicas": lambda: replicas(text),
        "service_name": lambda: slots.services[0] if slots.services else None,
        "app_name": lambda: slots.services[0] if slots.services else None,
        "gpu_min_free_mib": lambda: gpu_min_free_mib(text),
        "target_host": lambda: slots.single_host,
        "baseline_timezone": lambda: timezone(text),
        "baseline_journald_system_max_use": lambda: journal_size(text),
        "baseline_journald_max_retention": lambda: journal_retention(text),
        "baseline_sysctls": lambda: sysctls(text, (declared.get("baseline_sysctls") or {}).get("default")),
    }
    out = {}
    for name in declared:
        reader = readers.get(name)
        value = reader() if reader else None
        if value is not None:
            out[name] = value
    return out


# ---------------------------------------------------------------------------


def _names_in(text: str, names: list[str]) -> tuple[str, ...]:
    lowered = text.lower()
    found = []
    for name in sorted(names, key=len, reverse=True):
        pattern = _name_pattern(name)
        match = pattern.search(lowered)
        if match:
            found.append((match.start(), name))
            lowered = pattern.sub(" ", lowered)
    return tuple(n for _, n in sorted(found))


class OfflinePlanner:
    """Deterministic keyword planner; the default when no model is configured."""

    name = "offline"
    can_repair = False

    def draft(self, intent: str, pack: Any, repair: list[str] | None = None) -> Drafted:
        return Drafted(self._draft(intent, pack), planner=self.name)

    def _draft(self, intent: str, pack: Any) -> Draft:
        hosts = [h["name"] for h in pack.hosts]
        groups = dict(pack.groups)
        services = [s["name"] for s in pack.services if s.get("name")]
        catalog = {e["id"]: e for e in pack.catalog}
        index = Index(pack.catalog, tuple(dict.fromkeys([*hosts, *groups, *services])))
        if not intent.strip():
            return Draft(refusal=Refusal(reason="the request is empty", closest=sorted(catalog)[:3]),
                         explanation="Nothing to plan: the request has no words.")

        manual: list[ManualItem] = []
        rest: list[str] = []
        for clause in clauses(intent):
            caught = safety(clause)
            if caught is None:
                rest.append(clause)
            elif caught[0] == "destructive":
                ranked = index.score(intent)
                return Draft(
                    refusal=Refusal(reason=f"destructive: {caught[1]!r} destroys hosts, data or availability; "
                                           "no catalog playbook does that, and the planner never plans it",
                                    closest=[s.id for s in ranked[:3]]),
                    explanation=f"Refused the whole request because of {caught[1]!r}; a person does such work by "
                                "hand, deliberately. Ask again without it for the rest.")
            else:
                rule = caught[0]
                title = clause[:1].upper() + clause[1:]
                if not any(m.title == title for m in manual):
                    manual.append(ManualItem(title=title, reason=f"{_MANUAL_REASONS[rule]} (matched {caught[1]!r})",
                                             rule=rule))

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
        decisions = [(c, index.score(c)) for c in rest]
        picked: dict[str, list[str]] = {}
        for clause, ranked in decisions:
            decision = Decision(ranked)
            if decision.confident and decision.best is not None:
                picked.setdefault(decision.best.id, []).append(clause)
        rest_text = ". ".join(rest)
        overall = Decision(index.score(rest_text)) if rest else Decision([])
        if len(picked) < 2:
            if overall.confident and overall.best is not None:
                picked = {overall.best.id: rest}
            elif picked:
                picked = {next(iter(picked)): rest}

        steps: list[DraftStep] = []
        questions: list[OpenQuestion] = []
        chosen_scores: list[str] = []
        for entry_id, own in picked.items():
            entry = catalog[entry_id]
            text = ". ".join(own)
            mine = targets(text, hosts, groups)
            if not mine.named and not mine.says_all:
                mine = targets(rest_text, hosts, groups)
            if not mine.named and not mine.says_all and whole.named:
                mine = whole  # "replace the NIC in pumped-piglet, then gather facts on it"
            declares_service = any(v in (entry.get("variables") or {}) for v in ("service_name", "app_name"))
            named_services = _names_in(text, services) or _names_in(intent, services)
            include = mine.include
            if declares_service and named_services and len(include) > 1:
                include = tuple(n for n in include if n not in named_services) or include
            mine = Targets(include, mine.exclude, mine.says_all)
            left_out = set(mentioned_hosts(" ".join(mine.exclude), hosts, groups))
            resolved = [h for h in mentioned_hosts(" ".join(include), hosts, groups) if h not in left_out]
            # target_host is for one machine named as such, not a group that happens to hold one.
            single = resolved[0] if len(resolved) == 1 and include == (resolved[0],) else None
            values = fill(entry, Slots(text, named_services, single))
            scored = next(s for s in index.score(text) if s.id == entry_id)
            where = " and ".join(scored.fields) or "entry"
            why_targets = (f"targets {mine.limit} (named in the request)" if mine.named else
                           "targets every host (the request says so)" if mine.says_all else
                           "targets every host (no host was named)")
            rationale = (f"the words {', '.join(repr(w) for w in scored.words)} match its {where}; {why_targets}"
                         + (f"; values from the request: {', '.join(f'{k}={v}' for k, v in values.items())}"
                            if values else ""))
            steps.append(DraftStep(playbook=entry_id, limit=mine.limit, vars=values, rationale=rationale))
            chosen_scores.append(f"{entry_id} (score {scored.score:.2f})")
            if entry.get("risk") == "change" and not mine.named and not mine.says_all:
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
            return Draft(steps=steps, manual=manual, questions=questions, explanation=explanation)
        leftover = [w for _, w in terms(rest_text, index.names)]
        if manual:
            explanation = "This is work for a person, listed as a checklist; the tool runs none of it."
            if leftover:
                explanation += f" The rest of the request matched no catalog entry well enough ({scores})."
            return Draft(manual=manual, explanation=explanation)
        best, second = overall.best, overall.runner_up
        if best is None or best.score <= 0:
            reason = "no catalog playbook matches this request (outside the catalog)"
        elif second is not None and second.score > 0 and best.score < MARGIN * second.score:
            reason = (f"the request matches {best.id} ({best.score:.2f}) and {second.id} ({second.score:.2f}) about "
                      "equally; say which, or name the step with --playbook")
        else:
            reason = (f"no catalog playbook matches this request well enough (outside the catalog; {best.id} "
                      f"mentions only {', '.join(repr(w) for w in best.words)} in passing)")
        return Draft(refusal=Refusal(reason=reason, closest=overall.closest() or [s.id for s in ranked[:3]]),
                     explanation=f"Offline planner: refused. Scores: {scores}.")
