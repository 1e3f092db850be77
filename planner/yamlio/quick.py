"""The data :func:`planner.yamlio.load` gives, read by libyaml where it can be sure: for readers that need no positions.

:func:`planner.yamlio.load` reads hand-kept files in ruamel's round-trip mode so that every value keeps its
line and column; that pure-Python reader costs milliseconds a file, and a 1,000-host inventory is 1,000 files.
Readers that only want the values (docs, drift, plan validation, context packs, staleness digests) get the same
data here from libyaml's C parser, resolved the way ruamel resolves it (YAML 1.2: ``yes`` and ``0777``'s leading
zero mean nothing special; ruamel's own table of implicit types decides). Wherever the answer could differ from
ruamel's, :class:`_Unsure` sends the file to :func:`planner.yamlio.load` itself: a syntax error (so its message
and position are ruamel's), duplicate keys (refused there), merge keys, timestamps, numbers spelled with
underscores or in another base, tags other than a local scalar tag such as ``!vault``, directives, characters
ruamel's reader refuses, text that is not UTF-8. The size and alias bounds of :mod:`planner.yamlio.limits` are
checked first, on the same bytes.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_STD = "tag:yaml.org,2002:"
# The resolver marks the tags it gives with "=": a tag written in the text (`!!str 12`) never has it, and ruamel
# reads those its own way (a TaggedScalar, `!!bool 'yes'` as true), so they are left to it.
_IMPLICIT = "=" + _STD
_STR, _SEQ, _MAP = _IMPLICIT + "str", _IMPLICIT + "seq", _IMPLICIT + "map"
# Numbers whose value a plain int() or float() of the text gives exactly as ruamel's constructor does; any other
# spelling ruamel takes for a number (0o17, 0x1F, 1_000, 0777 read as decimal, .5) is left to it.
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOATS = {".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"), "+.inf": float("inf"),
                   "+.Inf": float("inf"), "+.INF": float("inf"), "-.inf": float("-inf"), "-.Inf": float("-inf"),
                   "-.INF": float("-inf"), ".nan": float("nan"), ".NaN": float("nan"), ".NAN": float("nan")}
# What ruamel's reader refuses (YAML's printable set); libyaml is laxer about some of it.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Unsure(Exception):
    """The quick reading cannot promise ruamel's answer for this text."""


@functools.cache
def _resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """ruamel's YAML 1.2 implicit resolvers (its own table, so both readers type a plain scalar alike)."""
    from ruamel.yaml.resolver import implicit_resolvers

    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for versions, tag, regexp, first in implicit_resolvers:
        if (1, 2) in versions:
            for ch in first:
                # ruamel compiles its patterns lazily; the same pattern and flags, compiled here
                table.setdefault(ch, []).append((tag, re.compile(regexp.pattern, regexp.flags)))
    return table


@functools.cache
def _loader() -> Any:
    """libyaml's parser and composer with a resolver that answers as ruamel's; None without libyaml."""
    import yaml

    parser = getattr(getattr(yaml, "_yaml", None), "CParser", None)
    if parser is None:
        return None
    table = _resolvers()

    class Loader(parser):  # type: ignore[misc,valid-type]
        # The composer (C) asks the resolver for every node whose tag was not written; there are no path resolvers.
        def descend_resolver(self, parent: Any, index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if kind is yaml.ScalarNode:
                if implicit[0]:
                    for tag, regexp in table.get(value[:1], ()):
                        if regexp.match(value):
                            return "=" + str(tag)
                return _STR
            return _SEQ if kind is yaml.SequenceNode else _MAP

    return Loader


def read(data: bytes, display: str) -> Any:
    """``data`` (a file's bytes) as :func:`planner.yamlio.load` would give it, in plain types; :class:`_Unsure` where
    it cannot be sure. The caller has checked the bounds of :mod:`planner.yamlio.limits`."""
    loader = _loader()
    if loader is None:
        raise _Unsure
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unsure from None
    text = text.removeprefix("\ufeff")
    if text.startswith("%") or "\n%" in text or _NOT_PRINTABLE.search(text):
        raise _Unsure  # a directive can change the YAML version or the tags; odd characters: ruamel's error
    import yaml

    parsing = loader(text)
    try:
        node = parsing.get_single_node()
    except (yaml.YAMLError, ValueError):
        raise _Unsure from None
    finally:
        parsing.dispose()
    if node is None:
        return None
    try:
        return _Builder().build(node)
    except RecursionError:
        raise _Unsure from None


class _Builder:
    """Plain data from composed nodes; an alias is the very object its anchor built (as ruamel shares it)."""

    def __init__(self) -> None:
        self.built: dict[int, Any] = {}

    def build(self, node: Any) -> Any:
        done = self.built.get(id(node), self)
        if done is not self:
            return done
        tag = node.tag
        if tag == _MAP:
            result: Any = {}
            self.built[id(node)] = result
            for key_node, value_node in node.value:
                if key_node.tag == _IMPLICIT + "merge":
                    raise _Unsure  # `<<`: ruamel merges into the round-trip mapping its own way
                key = self.build(key_node)
                if isinstance(key, (dict, list)) or key in result:
                    raise _Unsure  # a complex key, or a duplicate key that ruamel refuses with its position
                result[key] = self.build(value_node)
            return result
        if tag == _SEQ:
            items: list[Any] = []
            self.built[id(node)] = items
            items.extend(self.build(child) for child in node.value)
            return items
        value = self._scalar(node)
        self.built[id(node)] = value
        return value

    @staticmethod
    def _scalar(node: Any) -> Any:
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            raise _Unsure  # a collection under a written tag: !!set, !!omap, !unsafe {...}
        tag, text = node.tag, node.value
        if tag == _STR:
            return text
        if tag == _IMPLICIT + "null":
            return None
        if tag == _IMPLICIT + "bool":
            return text in ("true", "True", "TRUE")
        if tag == _IMPLICIT + "int" and _DECIMAL.match(text):
            return int(text)
        if tag == _IMPLICIT + "float":
            if text in _SPECIAL_FLOATS:
                return _SPECIAL_FLOATS[text]
            if _FLOAT.match(text):
                return float(text)
        if tag.startswith("!") and not tag.startswith("!!"):
            # A local tag (`!vault`, `!unsafe`) on a scalar: ruamel keeps it as a TaggedScalar, and so does this.
            from ruamel.yaml.comments import TaggedScalar

            return TaggedScalar(value=text, style=node.style, tag=tag)
        raise _Unsure
