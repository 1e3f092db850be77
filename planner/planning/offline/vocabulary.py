"""Normalisation: the same pipeline turns a request and a catalog entry into terms.

The words themselves (stopwords, synonyms, phrases, the generic verbs and
question words, the words that ask for a change or a look) are data, in
``vocabulary.yml`` beside this module, loaded once. A catalog entry adds its
own phrases in its meta file; they join the general ones for every text, so
a request and every entry are always folded the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.yml")
READ, CHANGE = "read", "change"


class _Pattern(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str
    to: str

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value


class VocabularyFile(BaseModel):
    """``vocabulary.yml``: word lists are space-separated strings, the rest maps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stopwords: str
    generic: str
    asks_change: str
    asks_read: str
    asks_read_opening: str
    synonyms: dict[str, list[str]]
    phrases: dict[str, str]
    patterns: list[_Pattern] = []


def stem(word: str) -> str:
    """A deliberately tiny stemmer: one plural/verb suffix, then a final e, so forms meet."""
    for suffix in ("ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A plain phrase as a pattern: words apart by any space, each may take a plural s, an apostrophe is optional."""
    words = [re.escape(w).replace("'", "'?") + "s?" for w in phrase.lower().split()]
    return re.compile(r"\b" + r"\s+".join(words) + r"\b")


def _words(text: str) -> set[str]:
    return set(text.split())


def _with_stems(words: set[str]) -> frozenset[str]:
    return frozenset(words | {stem(w) for w in words})


_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Vocabulary:
    """The loaded vocabulary, ready to fold text into terms."""

    stopwords: frozenset[str]
    generic: frozenset[str]
    asks_change: frozenset[str]
    asks_read: frozenset[str]
    asks_read_opening: frozenset[str]
    synonyms: dict[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...] = ()
    phrases: tuple[tuple[re.Pattern[str], str], ...] = ()

    @classmethod
    def from_file(cls, data: VocabularyFile) -> Vocabulary:
        """The vocabulary of a validated ``vocabulary.yml``."""
        synonyms: dict[str, str] = {}
        for canon, words in data.synonyms.items():
            for w in words:
                synonyms[w] = canon
                synonyms.setdefault(stem(w), canon)
        patterns = tuple((re.compile(p.match), f" {p.to} ") for p in data.patterns)
        vocab = cls(frozenset(_words(data.stopwords)), _with_stems(_words(data.generic)),
                    _with_stems(_words(data.asks_change)), frozenset(_words(data.asks_read)),
                    frozenset(_words(data.asks_read_opening)), synonyms, patterns)
        return vocab.with_phrases(data.phrases)

    def with_phrases(self, phrases: dict[str, str]) -> Vocabulary:
        """This vocabulary and ``phrases`` (a catalog entry's own); the longest phrase folds first."""
        merged = dict((p.pattern, (p, r)) for p, r in self.phrases)
        for phrase, term in phrases.items():
            pattern = phrase_pattern(phrase)
            merged.setdefault(pattern.pattern, (pattern, f" {term.lower()} "))
        ordered = sorted(merged.values(), key=lambda f: (-len(f[0].pattern), f[0].pattern))
        return dataclasses.replace(self, phrases=tuple(ordered))

    def term(self, word: str) -> str:
        """The term a word folds onto."""
        return self.synonyms.get(word) or self.synonyms.get(stem(word)) or stem(word)

    def is_generic(self, word: str) -> bool:
        """Whether ``word`` (as written) only says how or asks, never what about."""
        return word in self.generic or stem(word) in self.generic

    def terms(self, text: str, names: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """(term, word as written) for each meaningful word; inventory names are slots, never topic words."""
        from planner.planning.targets import name_pattern

        text = text.lower().replace("\u2019", "'")
        for name in sorted(names, key=len, reverse=True):
            text = name_pattern(name).sub(" ", text)
        # Patterns first: they clear pacing words ("one at a time") before a phrase can read them.
        for pattern, replacement in self.patterns + self.phrases:
            text = pattern.sub(replacement, text)
        out = []
        for word in _SPLIT.split(text):
            if len(word) < 2 or word[0].isdigit() or word in self.stopwords:
                continue
            out.append((self.term(word), word))
        return out

    def asks(self, text: str) -> frozenset[str]:
        """What ``text`` asks for: {"change"}, {"read"}, both, or neither (nothing tells)."""
        lowered = text.lower().replace("\u2019", "'")
        words = [w for w in _SPLIT.split(lowered) if w]
        kinds = set()
        if any(w in self.asks_change or stem(w) in self.asks_change for w in words):
            kinds.add(CHANGE)
        if (any(w in self.asks_read for w in words) or (words and words[0] in self.asks_read_opening)
                or lowered.rstrip().endswith("?")):
            kinds.add(READ)
        return frozenset(kinds)


@functools.cache
def vocabulary() -> Vocabulary:
    """The general vocabulary, read once from ``vocabulary.yml``."""
    from planner import yamlio

    data = VocabularyFile.model_validate(yamlio.plain(yamlio.load(VOCABULARY_FILE, VOCABULARY_FILE.name)))
    return Vocabulary.from_file(data)
