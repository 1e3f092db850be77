"""How the writer spells new values in YAML, and how Ansible will read them back.

Values are written explicitly typed (strings always quoted, floats always with
a dot) so YAML 1.1 readers (Ansible, PyYAML) and 1.2 readers agree on them.
``implicit_tag`` answers what a plain scalar means to Ansible: the writer uses
it to compare old values with new ones, and to keep ``!unsafe`` off strings
that Ansible would re-read as numbers, booleans, dates or null.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Self

from planner.yamlio import Location

_STD = "tag:yaml.org,2002:"
_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
# Words some YAML reader takes for a boolean or null; a key spelled so is quoted.
_SPECIAL_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_TEMPLATE = re.compile(r"{{|{%|{#")
#: A lone surrogate: Python lets a str hold one (a non-UTF-8 byte from os.listdir), no YAML reader takes it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# What a one-line single-quoted scalar cannot hold: line breaks fold, and
# non-printable characters are refused by readers.
_NEEDS_ESCAPES = re.compile("[^\t\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\0": "\\0", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n",
            "\v": "\\v", "\f": "\\f", "\r": "\\r", "\x1b": "\\e", "\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P"}
_DOC_END = re.compile(r"^\.\.\.[ \t]*(#.*)?$", re.MULTILINE)

# PyYAML's implicit resolvers, which Ansible uses: YAML 1.1, but unlike ruamel's
# 1.1 table ``y``/``n`` stay strings and ``1e3`` (no dot) is a string.
_YAML11_RESOLVERS = [
    ("bool", r"""^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$""",
     "yYnNtTfFoO"),
    ("float", r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                  |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                  |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", "-+0123456789."),
    ("int", r"""^(?:[-+]?0b[0-1_]+
                |[-+]?0[0-7_]+
                |[-+]?(?:0|[1-9][0-9_]*)
                |[-+]?0x[0-9a-fA-F_]+
                |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$""", "-+0123456789"),
    ("merge", r"^(?:<<)$", "<"),
    ("null", r"^(?: ~ |null|Null|NULL | )$", ["~", "n", "N", ""]),
    ("timestamp", r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
                      |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
                       (?:[Tt]|[ \t]+)[0-9][0-9]?
                       :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
                       (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", "0123456789"),
    ("value", r"^(?:=)$", "="),
]


_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
for _name, _pattern, _first in _YAML11_RESOLVERS:
    for _ch in _first:
        _RESOLVERS.setdefault(_ch, []).append((_STD + _name, re.compile(_pattern, re.VERBOSE)))


def implicit_tag(text: str) -> str:
    """The tag a plain (unquoted) scalar with this text resolves to, as Ansible reads it."""
    for tag, pattern in _RESOLVERS.get(text[:1], ()):
        if pattern.match(text):
            return tag
    return _STD + "str"


class YamlEditError(Exception):
    """A file cannot be edited safely; ``location`` (1-based) says where, when known."""

    def __init__(self, problem: str, location: Location | None = None, hint: str | None = None):
        super().__init__(f"{location}: {problem}" if location else problem)
        self.problem = problem
        self.location = location
        self.hint = hint


class Tagged(str):
    """A scalar under a tag Ansible gives meaning to (``!vault``): its text, never its meaning.

    Equal only to a ``Tagged`` with the same tag and text, so a vault value read
    with :func:`load_fast` and handed back unchanged leaves the file alone, and
    no plain string ever passes for it.
    """

    tag: str

    def __new__(cls, tag: str, text: str) -> Self:
        obj = super().__new__(cls, text)
        obj.tag = tag
        return obj

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tagged):
            return self.tag == other.tag and str.__eq__(self, other)
        return False if isinstance(other, str) else NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"Tagged({self.tag!r}, {str.__repr__(self)})"


def quote(s: str) -> str:
    # Python lets a str hold a lone surrogate (a non-UTF-8 byte from os.listdir, say); ruamel would
    # write it as "\udcff" and read it back, but Ansible's YAML parser refuses the whole file.
    bad = LONE_SURROGATE.search(s)
    if bad:
        raise YamlEditError(f"cannot write {s[:60]!r}: it holds a lone surrogate (\\u{ord(bad.group()):04x}), "
                            "which YAML readers such as Ansible's refuse")
    if _NEEDS_ESCAPES.search(s) or any(ch in s for ch in "\x85\u2028\u2029"):
        out = []
        for ch in s:
            if ch in _ESCAPES:
                out.append(_ESCAPES[ch])
            elif _NEEDS_ESCAPES.match(ch):
                code = ord(ch)
                out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                           else f"\\U{code:08x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    return "'" + s.replace("'", "''") + "'"


def float_text(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:  # YAML 1.1 reads 1e-05 as a string
        text = f"{mantissa}.0e{exponent}"
    return text


def scalar_text(value: Any, unsafe: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Tagged):
        return f"{value.tag} {quote(value)}"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, str):
        # Text that reads as a number, boolean, date or null cannot hold a
        # template, and Ansible would read `!unsafe '123'` as the int 123.
        if unsafe and implicit_tag(value) == _STD + "str":
            return f"!unsafe {quote(value)}"
        return quote(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise YamlEditError(f"cannot write a value of type {type(value).__name__} ({value!r:.60})")


def key_text(key: Any) -> str:
    if isinstance(key, str) and not isinstance(key, Tagged):
        if _SIMPLE_KEY.match(key) and key.lower() not in _SPECIAL_WORDS:
            return key
        return quote(key)
    if key is None or isinstance(key, (bool, int, float)):
        return scalar_text(key, False)
    raise YamlEditError(f"cannot write a mapping key of type {type(key).__name__} ({key!r:.60})")


def flow_text(value: Any, unsafe: bool) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key_text(k)}: {flow_text(v, unsafe)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow_text(v, unsafe) for v in value) + "]"
    return scalar_text(value, unsafe)


@dataclass(frozen=True)
class Layout:
    """How new block-style lines are laid out in one file: its indent step, dash offset and ``!unsafe`` rule."""

    step: int  # a mapping's keys sit this far right of its parent key
    seq_offset: int  # a list's dashes sit this far right of its parent key
    unsafe: bool

    def render_value(self, value: Any, key_column: int) -> tuple[str | None, list[str]]:
        """A value under a key at ``key_column``: what follows ``key:``, and the lines below it."""
        is_list = isinstance(value, (list, tuple)) and value
        return self.render(value, key_column + (self.seq_offset if is_list else self.step))

    def render_pair(self, key: Any, value: Any, column: int) -> list[str]:
        """The lines of ``key: value`` with the key at ``column``."""
        head, lines = self.render_value(value, column)
        return [" " * column + key_text(key) + ":" + (f" {head}" if head is not None else ""), *lines]

    def render(self, value: Any, column: int) -> tuple[str | None, list[str]]:
        """``(head, lines)``: head is written after ``key:`` or ``- ``; lines (indented) follow."""
        pad = " " * column
        if isinstance(value, Mapping):
            if not value:
                return "{}", []
            lines = []
            for key, child in value.items():
                lines.extend(self.render_pair(key, child, column))
            return None, lines
        if isinstance(value, (list, tuple)):
            if not value:
                return "[]", []
            lines = []
            for item in value:
                head, sub = self.render(item, column + 2)
                first = head if head is not None else sub.pop(0)[column + 2:]
                lines.append(f"{pad}- {first}")
                lines.extend(sub)
            return None, lines
        if (isinstance(value, Tagged) and value[:1].strip() and not value.endswith("\n\n")
                and not _NEEDS_ESCAPES.search(value.replace("\n", "")) and not re.search("[\u2028\u2029]", value)):
            # a vault value moved to a new key: written the way ansible-vault writes it
            body = value.removesuffix("\n")
            chomp = "" if value.endswith("\n") else "-"
            return f"{value.tag} |{chomp}", [pad + line if line else "" for line in body.split("\n")]
        return scalar_text(value, self.unsafe), []
