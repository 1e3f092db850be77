"""Comparing composed nodes with plain values, the way Ansible reads YAML.

A write that changes nothing must leave the text as it was, so every old node
is compared with its new value as Ansible would read it (YAML 1.1: ``yes`` is a
boolean, ``0755`` is octal, ``n`` is a string). Merge keys (``<<``) and
duplicated keys are resolved as Ansible resolves them: the last explicit key
wins and overrides a merged one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.yamlio.reading import _Alias, _construct_unsafe, _hk, _load_plain, _same_value, _unshare
from planner.yamlio.spans import _Document
from planner.yamlio.text import _STD, _TEMPLATE, Tagged


class _Unusual(Exception):
    """A node the quick plain reading leaves to the real constructor."""


class _Reader(_Document):
    """A composed document whose nodes can be read as plain values and compared with new ones."""

    def __init__(self, text: str, display: str, unsafe: bool):
        super().__init__(text, display)
        self.unsafe = unsafe
        self._indexes: dict[int, Any] = {}
        # what reading one scalar can raise: a bad `!!int x`, a tag with no meaning here
        self._unreadable = (self.r.MarkedYAMLError, _Unusual, ValueError, TypeError, KeyError)

    def _scalar(self, node: Any) -> Any:
        """A scalar as Ansible reads it; _Unusual for tags it has no meaning for here."""
        constructor = self.yaml.constructor
        if node.tag == "!unsafe":
            return _construct_unsafe(constructor, node)
        build = constructor.yaml_constructors.get(node.tag) if node.tag.startswith(_STD) else None
        if build is None:
            raise _Unusual
        return build(constructor, node)

    def _is_map(self, node: Any) -> bool:
        # `!unsafe` on a collection only marks what is inside; it stays a mapping
        return isinstance(node, self.r.MappingNode) and node.tag in (_STD + "map", "!unsafe")

    def _is_seq(self, node: Any) -> bool:
        return isinstance(node, self.r.SequenceNode) and node.tag in (_STD + "seq", "!unsafe")

    def _key_of(self, key: Any) -> Any:
        node = key.target if isinstance(key, _Alias) else key
        if isinstance(node, self.r.ScalarNode):
            try:
                return _hk(self._scalar(node))
            except self._unreadable:
                pass
        return ("node", id(node))

    def plain(self) -> Any:
        """The document as plain data, as a fresh load of the text would give it (aliases not shared)."""
        try:
            return self._plain(self.root) if self.root is not None else None
        except _Unusual:
            return _unshare(_load_plain(self.text, self.display))

    def _plain(self, node: Any) -> Any:
        if isinstance(node, _Alias):
            node = node.target
        if isinstance(node, self.r.ScalarNode):
            if node.tag.startswith(_STD) or node.tag == "!unsafe":
                return self._scalar(node)
            return Tagged(node.tag, node.value)
        if self._is_seq(node):
            return [self._plain(child) for child in node.value]
        if not self._is_map(node):
            raise _Unusual  # !!set, !!omap, ...: left to the constructor
        result = {}
        for key, value in self._index(node)[3].values():
            key = key.target if isinstance(key, _Alias) else key
            if not isinstance(key, self.r.ScalarNode):
                raise _Unusual
            result[self._scalar(key)] = self._plain(value)
        return result

    def _is_merge(self, key: Any) -> bool:
        return isinstance(key, self.r.ScalarNode) and key.tag == _STD + "merge"

    def _index(self, node: Any) -> Any:
        """Explicit keys (last wins, as in Ansible), duplicated keys, and keys that only come from ``<<``."""
        cached = self._indexes.get(id(node))
        if cached is not None:
            return cached
        explicit: dict[Any, tuple[Any, Any]] = {}
        dups: set[Any] = set()
        merged: dict[Any, Any] = {}
        for key, value in node.value:
            if self._is_merge(key):
                target = value.target if isinstance(value, _Alias) else value
                sources = target.value if isinstance(target, self.r.SequenceNode) else [target]
                for src in sources:
                    src = src.target if isinstance(src, _Alias) else src
                    if isinstance(src, self.r.MappingNode):
                        for hk, pair in self._index(src)[3].items():
                            merged.setdefault(hk, pair)
                continue
            hk = self._key_of(key)
            if hk in explicit:
                dups.add(hk)
            explicit[hk] = (key, value)
        effective = {**merged, **explicit}
        shadowed = {hk for hk in merged if hk in explicit}
        merged = {hk: v for hk, v in merged.items() if hk not in explicit}
        result = (explicit, dups, merged, effective, shadowed)
        self._indexes[id(node)] = result
        return result

    def _same(self, node: Any, value: Any) -> bool:
        """Would Ansible read ``node`` as ``value``? (``!vault`` never passes for anything but itself.)"""
        if isinstance(node, _Alias):
            node = node.target
        tag = node.tag
        if isinstance(node, self.r.ScalarNode):
            if not tag.startswith(_STD) and tag != "!unsafe":
                return isinstance(value, Tagged) and value.tag == tag and str(value) == node.value
            if (self.unsafe and tag == _STD + "str" and isinstance(value, str) and not isinstance(value, Tagged)
                    and _TEMPLATE.search(value)):
                return False  # the same text, but Ansible would template this one
            try:
                return _same_value(self._scalar(node), value)
            except self._unreadable:
                return False
        if self._is_seq(node):
            return (isinstance(value, (list, tuple)) and len(value) == len(node.value)
                    and all(self._same(n, v) for n, v in zip(node.value, value, strict=True)))
        if not self._is_map(node) or not isinstance(value, Mapping):
            return False
        effective = self._index(node)[3]
        if len(effective) != len(value):
            return False
        for key, child in value.items():
            found = effective.get(_hk(key))
            if found is None or not self._same(found[1], child):
                return False
        return True
