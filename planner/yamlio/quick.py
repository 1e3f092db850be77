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
# A string whatever its text: quoted, a block scalar, or tagged `!`. The resolver tells it from a plain scalar
# that matched none of the table (_STR), because Ansible's YAML 1.1 table may still give that one a type.
_NOT_PLAIN = _STR + "#not-plain"
_MERGE = _IMPLICIT + "merge"
_STRINGS = (_STR, _NOT_PLAIN)
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


#: How many plain scalars' tags the resolver keeps (a text's tag never changes; the bound only caps memory).
_KNOWN_MAX = 65536


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
                if not implicit[0]:
                    return _NOT_PLAIN
                # The same keys and words recur in every host's file: each text is matched against the table once.
                tag = known.get(value)
                if tag is None:
                    if len(known) >= _KNOWN_MAX:
                        known.clear()
                    tag = known[value] = _plain_tag(value)
                return tag
            return _SEQ if kind is yaml.SequenceNode else _MAP

    def _plain_tag(value: str) -> str:
        for tag, regexp in table.get(value[:1], ()):
            if regexp.match(value):
                return "=" + str(tag)
        return _STR

    known: dict[str, str] = {}

    return Loader


def read(data: bytes, display: str) -> Any:
    """``data`` (a file's bytes) as :func:`planner.yamlio.load` would give it, in plain types; :class:`_Unsure` where
    it cannot be sure. The caller has checked the bounds of :mod:`planner.yamlio.limits`."""
    return read_both(data, display, None)[0]


#: What :func:`read_both` gives for the key where it cannot promise Ansible's reading.
UNSURE = object()


def read_both(data: bytes, display: str, key: str | None) -> tuple[Any, Any]:
    """:func:`read`'s data, and the value of top-level ``key`` as :func:`planner.yamlio.reading.load_fast` reads
    the file (YAML 1.1, as Ansible: ``yes`` is true, ``!unsafe`` text typed as if plain), from one parse.

    A host_vars file is read for its documentation (this module's YAML 1.2) and for its discovered block
    (Ansible's reading); parsing it once serves both. The second is :data:`UNSURE` wherever the quick reading
    cannot promise load_fast's answer (the caller then asks load_fast); None when the document has no ``key``.
    Without a ``key``, only the first is read.
    """
    node = _compose(data)
    if node is None:
        return None, UNSURE
    try:
        doc = _Builder().start(node, data)  # first, whole: the reading below only accepts what this one did
    except RecursionError:
        raise _Unsure from None
    if key is None:
        return doc, UNSURE
    try:
        ansible = _AnsibleBuilder().start(node, data)
    except (_Unsure, RecursionError, ValueError, TypeError, ArithmeticError):
        return doc, UNSURE
    except Exception as err:  # noqa: BLE001 - PyYAML's constructors raise its own errors; load_fast falls back
        import yaml

        if isinstance(err, yaml.YAMLError):
            return doc, UNSURE
        raise
    return doc, ansible.get(key) if isinstance(ansible, dict) else UNSURE


def _compose(data: bytes) -> Any:
    """The composed node of the one document in ``data``; None for an empty one."""
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
        return parsing.get_single_node()
    except (yaml.YAMLError, ValueError):
        raise _Unsure from None
    finally:
        parsing.dispose()


class _Nodes:
    """Plain data from composed nodes; an alias is the very object its anchor built (as ruamel shares it).

    What both readings of a document share (:class:`_Builder`'s YAML 1.2, :class:`_AnsibleBuilder`'s 1.1): the
    walk that remembers each built node for the aliases to it. Each reading says which keys it takes
    (:meth:`_check_key`) and how it builds a scalar (:meth:`_leaf`), and walks an alias-free document its own
    quicker way (:meth:`tree`).
    """

    def __init__(self) -> None:
        self.built: dict[int, Any] = {}

    def start(self, node: Any, data: bytes) -> Any:
        """The document's data; text with no ``*`` has no alias, so no node needs remembering."""
        return self.build(node) if b"*" in data else self.tree(node)

    def tree(self, node: Any) -> Any:
        raise NotImplementedError

    def _check_key(self, key_node: Any, key: Any, result: dict[Any, Any]) -> None:
        raise NotImplementedError

    def _leaf(self, node: Any, tag: str) -> Any:
        raise NotImplementedError

    def build(self, node: Any) -> Any:
        built = self.built
        done = built.get(id(node), built)
        if done is not built:
            return done
        tag = node.tag
        if tag == _MAP:
            result: Any = {}
            built[id(node)] = result
            build, check_key = self.build, self._check_key
            for key_node, value_node in node.value:
                key = build(key_node)
                check_key(key_node, key, result)
                result[key] = build(value_node)
            return result
        if tag == _SEQ:
            items: list[Any] = []
            built[id(node)] = items
            items.extend(map(self.build, node.value))
            return items
        value = self._leaf(node, tag)
        built[id(node)] = value
        return value


class _Builder(_Nodes):
    """:func:`read`'s data: typed as ruamel types it (YAML 1.2)."""

    def tree(self, node: Any) -> Any:
        """:meth:`build` for a document without aliases: each node is built once, nothing is remembered."""
        tag = node.tag
        if tag in _STRINGS:
            return node.value
        if tag == _MAP:
            result: Any = {}
            tree = self.tree
            for key_node, value_node in node.value:
                key_tag = key_node.tag
                if key_tag in _STRINGS:
                    key = key_node.value
                elif key_tag == _MERGE:
                    raise _Unsure  # as build
                else:
                    key = tree(key_node)
                    if isinstance(key, (dict, list)):
                        raise _Unsure
                if key in result:
                    raise _Unsure
                result[key] = tree(value_node)
            return result
        if tag == _SEQ:
            return list(map(self.tree, node.value))
        return self._scalar(node)

    def _check_key(self, key_node: Any, key: Any, result: dict[Any, Any]) -> None:
        if key_node.tag == _MERGE:
            raise _Unsure  # `<<`: ruamel merges into the round-trip mapping its own way
        if isinstance(key, (dict, list)) or key in result:
            raise _Unsure  # a complex key, or a duplicate key that ruamel refuses with its position

    def _leaf(self, node: Any, tag: str) -> Any:
        return node.value if tag in _STRINGS else self._scalar(node)  # most scalars are strings: no call

    @staticmethod
    def _scalar(node: Any) -> Any:
        tag, text = node.tag, node.value
        if not isinstance(text, str):  # a scalar node's value is its text, a collection's a list
            raise _Unsure  # a collection under a written tag: !!set, !!omap, !unsafe {...}
        if tag in _STRINGS:
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
            return _tagged_scalar()(value=text, style=node.style, tag=tag)
        raise _Unsure


@functools.cache
def _tagged_scalar() -> Any:
    """ruamel's TaggedScalar, imported once (a discovered block has one per ``!unsafe`` text)."""
    from ruamel.yaml.comments import TaggedScalar

    return TaggedScalar


class _AnsibleBuilder(_Nodes):
    """Plain data from the same composed nodes as :func:`planner.yamlio.reading.load_fast` builds it: PyYAML's
    YAML 1.1 resolver types each plain scalar, PyYAML's constructors build the value, ``!unsafe`` and other
    local tags as reading's loader takes them. Run after :class:`_Builder`: it reads only nodes that one
    accepted (no merge keys, no duplicate or complex keys, no collection under a tag)."""

    #: A plain scalar's YAML 1.1 tag by its text, shared by every file read (as the 1.2 resolver's).
    _tags: dict[str, str] = {}
    #: The tag a ``!unsafe`` scalar's text is built as (planner.yamlio.text.implicit_tag), likewise.
    _unsafe_tags: dict[str, str] = {}

    def __init__(self) -> None:
        from planner.yamlio.reading import _libyaml_loader

        loader = _libyaml_loader()
        if loader is None:
            raise _Unsure
        self.loader = loader("")  # its resolver and constructors only: nothing is parsed with it
        super().__init__()

    def tree(self, node: Any) -> Any:
        """:meth:`build` for a document without aliases."""
        tag = node.tag
        if tag == _NOT_PLAIN:
            return node.value
        if tag == _MAP:
            result: Any = {}
            tree = self.tree
            for key_node, value_node in node.value:
                key = tree(key_node)
                hash(key)  # as build
                result[key] = tree(value_node)
            return result
        if tag == _SEQ:
            return list(map(self.tree, node.value))
        if tag[0] == "=" and (self._tags.get(node.value) or self._resolve(node.value)) == _STD + "str":
            return node.value  # a plain scalar Ansible's table leaves a string (keys, names)
        return self._scalar(node, tag)

    def _check_key(self, key_node: Any, key: Any, result: dict[Any, Any]) -> None:
        hash(key)  # TypeError: PyYAML refuses the key, load_fast falls back

    def _leaf(self, node: Any, tag: str) -> Any:
        return node.value if tag == _NOT_PLAIN else self._scalar(node, tag)

    def _scalar(self, node: Any, tag: str) -> Any:
        text = node.value
        if tag[0] == "=":  # a plain scalar: Ansible's table decides
            return self._typed(node, self._tags.get(text) or self._resolve(text))
        if tag == "!unsafe":
            # As reading's loader: the text typed as if it were plain, by the table of planner.yamlio.text.
            typed = self._unsafe_tags.get(text)
            if typed is None:
                from planner.yamlio.text import implicit_tag

                if len(self._unsafe_tags) >= _KNOWN_MAX:
                    self._unsafe_tags.clear()
                typed = self._unsafe_tags[text] = implicit_tag(text)
            if self.loader.yaml_constructors.get(typed) is None:
                return str(text)
            return self._typed(node, typed)
        if tag.startswith("!") and not tag.startswith("!!"):
            from planner.yamlio.text import Tagged

            return Tagged(tag, str(text))
        raise _Unsure

    def _typed(self, node: Any, tag: str) -> Any:
        """The scalar built as PyYAML's constructor for ``tag`` builds it."""
        text = node.value
        if tag == _STD + "str":
            return text
        if tag == _STD + "int" and _DECIMAL.match(text):
            return int(text)  # what construct_yaml_int gives for a decimal without a leading zero
        construct = self.loader.yaml_constructors.get(tag)
        if construct is None or tag in (_STD + "value", _STD + "merge"):
            raise _Unsure
        return construct(self.loader, node)

    def _resolve(self, text: str) -> str:
        import yaml

        if len(self._tags) >= _KNOWN_MAX:
            self._tags.clear()
        tag: str = self.loader.resolve(yaml.ScalarNode, text, (True, False))
        self._tags[text] = tag
        return tag
