"""Which hosts a request is about: the names it gives, the ones it leaves out, and names it almost gives.

Both planners' drafts are held to this reading (:mod:`planner.planning.rules`
refuses a step that targets a host the request does not name), and the
offline planner builds its limits from it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


def name_pattern(name: str) -> re.Pattern[str]:
    """A host or group name as a whole word: "still-fawn" must not match inside "k3s-vm-still-fawn"."""
    return re.compile(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])")


def names_in(text: str, names: list[str]) -> tuple[str, ...]:
    """The ``names`` that ``text`` contains, in the order written, longest name first where they overlap."""
    lowered = text.lower()
    found = []
    for name in sorted(names, key=len, reverse=True):
        pattern = name_pattern(name)
        match = pattern.search(lowered)
        if match:
            found.append((match.start(), name))
            lowered = pattern.sub(" ", lowered)
    return tuple(n for _, n in sorted(found))


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
        """Whether any host or group is named, to include or to leave out."""
        return bool(self.include or self.exclude)

    @property
    def limit(self) -> str:
        """The Ansible limit: the names included, then ``!name`` for each left out; ``all`` when none."""
        if not self.named:
            return "all"
        return ",".join((self.include or ("all",)) + tuple(f"!{n}" for n in self.exclude))


def targets(text: str, hosts: list[str], groups: dict[str, list[str]]) -> Targets:
    """Host and group names in ``text``, longest first; names after "except" are left out."""
    lowered = text.lower()
    found: list[tuple[int, str]] = []
    for name in sorted(set(hosts) | set(groups), key=len, reverse=True):
        pattern = name_pattern(name)
        for match in pattern.finditer(lowered):
            found.append((match.start(), name))
        lowered = pattern.sub(lambda m: " " * len(m.group(0)), lowered)
    found.sort()
    cut = _EXCEPT.search(text)
    include = [n for pos, n in found if cut is None or pos < cut.start()]
    exclude = [n for pos, n in found if cut is not None and pos > cut.start()]
    return Targets(tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude)), bool(_ALL.search(text)))


def resolve(names: tuple[str, ...], hosts: list[str], groups: dict[str, list[str]]) -> set[str]:
    """The hosts behind host and group names (``all`` is every host)."""
    out: set[str] = set()
    for name in names:
        out |= set(hosts) if name == "all" else set(groups.get(name, [name] if name in hosts else []))
    return out


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
        lowered = name_pattern(name).sub(lambda m: " " * len(m.group(0)), lowered)
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
