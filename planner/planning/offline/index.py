"""Scoring: BM25 over weighted fields (BM25F), one document per catalog entry.

An entry's fields are its id, tags, its own offline words (from its meta
file), description and example requests; examples weigh most, because they
are written in the words people use. A score alone never picks an entry:

- **topic**: the request must share at least one word with the entry that is
  not generic (a verb that says how, a question word), in a field written to
  say what the entry is for (id, tags, words, examples). "check the weather"
  shares only "check" with gather_facts and is refused.
- **moment**: an entry whose meta file lists ``requires`` words is chosen only
  when the request shares one of them: the check after an upgrade reads the
  same NICs as gather_facts, and "show me the NICs" says no "after".
- **kind**: a request that only asks for a change is not served by an entry
  whose risk and examples only look, and the other way round, so "apply the
  latest kernel patches" is no request to read the kernel version.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from planner.planning import extractors
from planner.planning.offline.vocabulary import CHANGE, READ, Vocabulary, vocabulary

_FIELD_WEIGHTS = {"examples": 3.0, "id": 2.0, "tags": 2.0, "words": 2.0, "description": 1.0}
_K1, _B = 1.2, 0.75
#: The best entry must beat the runner-up by this factor, or the request is ambiguous.
MARGIN = 1.15
#: Fields written to say what an entry is for; a match only elsewhere is a passing mention.
STRONG_FIELDS = frozenset({"examples", "id", "tags", "words"})
# A description's disclaimers ("It does not install packages") name what the
# entry does NOT do; indexing them would draw exactly those requests to it.
_DISCLAIMER = re.compile(r"\b(does not|do not|doesn't|don't|changes nothing)\b", re.I)
# Values in any unit or form, whichever variable they would fill (key=value pairs keep their keys: those are topics).
_VALUE_READERS = (extractors.timezone, extractors.size, extractors.speed_mbps, extractors.duration, extractors.when)


def offline_hints(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's ``offline:`` block from its meta file (empty when it has none)."""
    return entry.get("offline") or {}


def without_values(text: str) -> str:
    """``text`` without the values a variable would take: "Europe/Berlin" in an example says what a
    variable holds, not what the entry is for, so "the weather in Berlin" must not match it."""
    spans = sorted((f.start, f.end) for reader in _VALUE_READERS for f in reader(text))
    out, at = [], 0
    for start, end in spans:
        if start >= at:
            out.append(text[at:start])
            at = end
    return " ".join(out + [text[at:]])


def _fields(entry: dict[str, Any]) -> dict[str, str]:
    sentences = re.split(r"(?<=[.!?])\s+", entry.get("description") or "")
    return {
        "id": entry["id"].replace("_", " "),
        "tags": " ".join(entry.get("tags") or []).replace("-", " "),
        "words": " ".join(offline_hints(entry).get("words") or []),
        "description": " ".join(s for s in sentences if not _DISCLAIMER.search(s)),
        "examples": " ".join(without_values(e) for e in entry.get("examples") or []),
    }


@dataclass
class _Doc:
    id: str
    answers: frozenset[str]
    requires: frozenset[str] = frozenset()  # terms one of which a request must have (empty: none needed)
    tf: dict[str, float] = field(default_factory=dict)
    where: dict[str, set[str]] = field(default_factory=dict)  # term -> fields it occurs in
    length: float = 0.0


@dataclass(frozen=True)
class Scored:
    """An entry's score for a request, the request's words that earned it, and whether it may be chosen."""

    id: str
    score: float
    words: tuple[str, ...]
    fields: tuple[str, ...]
    topical: tuple[str, ...] = ()  # the non-generic words matched where the entry says what it is for
    fits: bool = True  # the entry answers what the request asks for (a change, a look)

    @property
    def eligible(self) -> bool:
        """Whether this entry may be chosen at all: a topic word in common, and the right kind."""
        return self.score > 0 and bool(self.topical) and self.fits


class Index:
    """The catalog, ready to score requests against."""

    def __init__(self, catalog: list[dict[str, Any]], names: tuple[str, ...] = ()):
        self.names = names
        phrases: dict[str, str] = {}
        for entry in catalog:
            phrases.update(offline_hints(entry).get("phrases") or {})
        self.vocab: Vocabulary = vocabulary().with_phrases(phrases)
        self.docs: list[_Doc] = []
        for entry in catalog:
            # An entry answers requests of its own kind, and of the kinds its examples ask.
            answers = {READ if entry.get("risk") == "read" else CHANGE}
            for example in entry.get("examples") or []:
                answers |= self.vocab.asks(example)
            requires = frozenset(t for w in offline_hints(entry).get("requires") or [] for t, _ in self.vocab.terms(w))
            doc = _Doc(entry["id"], frozenset(answers), requires)
            for fname, text in _fields(entry).items():
                weight = _FIELD_WEIGHTS[fname]
                for term, _ in self.vocab.terms(text, names):
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

    def terms(self, text: str) -> list[tuple[str, str]]:
        """``text`` as this index folds it (the catalog's phrases included, inventory names left out)."""
        return self.vocab.terms(text, self.names)

    def score(self, text: str) -> list[Scored]:
        """Every entry, best first (ties by id, so the order never depends on chance)."""
        query: dict[str, list[str]] = {}
        for term, word in self.terms(text):
            query.setdefault(term, [])
            if word not in query[term]:
                query[term].append(word)
        asks = self.vocab.asks(text)
        out = []
        for doc in self.docs:
            total, words, fields = 0.0, [], set()
            topical: list[str] = []
            norm = _K1 * (1 - _B + _B * doc.length / (self.avg_length or 1.0))
            for term, written in query.items():
                tf = doc.tf.get(term)
                if not tf:
                    continue
                total += self.idf[term] * tf * (_K1 + 1) / (tf + norm)
                words.extend(written)
                fields |= doc.where[term]
                if doc.where[term] & STRONG_FIELDS:
                    topical.extend(w for w in written if not self.vocab.is_generic(w))
            if doc.requires and not doc.requires & query.keys():
                topical = []  # the request never says the moment this entry is for: its words are no topic
            out.append(Scored(doc.id, round(total, 4), tuple(words), tuple(f for f in _FIELD_WEIGHTS if f in fields),
                              tuple(topical), fits=not asks or bool(asks & doc.answers)))
        return sorted(out, key=lambda s: (-s.score, s.id))

    def asks(self, text: str) -> frozenset[str]:
        """What ``text`` asks for ({"read"}, {"change"}, both or neither)."""
        return self.vocab.asks(text)


@dataclass(frozen=True)
class Decision:
    """Which entry a piece of the request picks, if any, and how sure."""

    ranked: list[Scored]

    @property
    def candidates(self) -> list[Scored]:
        """The entries that may be chosen, best first."""
        return [s for s in self.ranked if s.eligible]

    @property
    def best(self) -> Scored | None:
        """The best entry that may be chosen."""
        return next(iter(self.candidates), None)

    @property
    def runner_up(self) -> Scored | None:
        """The next entry that may be chosen."""
        return self.candidates[1] if len(self.candidates) > 1 else None

    @property
    def confident(self) -> bool:
        """Whether the best entry clearly beats the next one that might have been chosen."""
        best, second = self.best, self.runner_up
        if best is None:
            return False
        return second is None or best.score >= MARGIN * second.score

    def closest(self) -> list[str]:
        """The three best-scoring entries, eligible or not: what to offer in a refusal."""
        return [s.id for s in self.ranked[:3]]
