"""Surgical write-back into YAML files people keep by hand (inventory, host_vars).

A round-trip load and dump is not safe enough for these files: ruamel drops a
comment written above ``---``, and it hangs a comment that precedes a key on the
previous entry's last value, so assigning to that entry moves the comment. So
nothing here dumps a document. The text is composed to nodes, which know where
they sit in it; the old nodes are compared with the new value the way Ansible
reads YAML (1.1: ``yes`` is a boolean, ``0755`` is octal, ``n`` is a string);
and only the spans that differ are rewritten. Every byte outside those spans
stays as it was, so a write that changes nothing returns the text unchanged.

New values are written explicitly typed (strings always quoted, floats always
with a dot) so that YAML 1.1 and 1.2 readers agree on them. Before the new text
is handed back it is read again and compared with what was meant; a splice that
would change any other value raises instead of writing. Reading and comparing
live in :mod:`planner.yamlio.reading`, the file on disk in :mod:`planner.yamlio.files`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from planner.yamlio import Location
from planner.yamlio.reading import (
    _Alias,
    _construct_unsafe,
    _hk,
    _load_plain,
    _marked,
    _refuse_vault_file,
    _ruamel,
    _same_value,
    _unshare,
)
from planner.yamlio.text import (
    _DOC_END,
    _NEEDS_ESCAPES,
    _STD,
    _TEMPLATE,
    Tagged,
    YamlEditError,
    flow_text,
    key_text,
    scalar_text,
)

__all__ = ["Tagged", "YamlEditError", "delete_text", "edit_text"]


class _Patch:
    """Change only these keys of a mapping; the others stay."""

    def __init__(self, changes: dict[Any, Any]):
        self.changes = changes


_DELETE = object()


class _Unusual(Exception):
    """A node the quick plain reading leaves to the real constructor."""


def edit_text(text: str, path: tuple[str | int, ...], value: Any, *, unsafe: bool = False) -> str:
    """Set the value at ``path`` (a key path; missing mappings are created) and return the new text.

    Only the lines of what changed are rewritten; when nothing changes in
    meaning the text comes back unchanged. With ``unsafe`` new strings are
    written as ``!unsafe '...'`` so Ansible never templates them (text that
    reads as a number, boolean, date or null is only quoted: it cannot hold a
    template, and ``!unsafe`` would make Ansible read its type). ``path=()``
    sets the whole top-level mapping. Raises :class:`YamlEditError` when the
    change cannot be made safely (it would change an aliased anchor, the file
    holds several documents, the top level is not a mapping, ...).

    >>> edit_text("a: 1  # one\\nb: yes\\n", ("b",), False)
    'a: 1  # one\\nb: false\\n'
    """
    return _edit(text, path, value, unsafe=unsafe, display="<text>")


def delete_text(text: str, path: tuple[str | int, ...]) -> str:
    """Remove the key at ``path`` (its lines go; comments around it stay); no-op when it is absent."""
    if not path:
        raise YamlEditError("an empty key path names the whole document; it cannot be deleted")
    return _edit(text, path, _DELETE, unsafe=False, display="<text>")


def _edit(text: str, path: tuple, value: Any, *, unsafe: bool, display: str) -> str:
    for key in path:
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise YamlEditError(f"key path {path!r}: each step must be a string or an integer")
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    editor = _Editor(body, display, unsafe)
    editor.set(path, value)
    new = editor.result()
    if new is None:
        return text
    _verify(editor, new, path, value)
    return bom + new


def _verify(editor: _Editor, new: str, path: tuple, value: Any) -> None:
    """Read the new text back: it must mean exactly the old document with the one change."""
    display = editor.display
    expected = editor.plain()
    if not isinstance(expected, dict):
        expected = {}
    node = expected
    for key in path[:-1]:
        child = node.get(key) if isinstance(node, dict) else node[key]
        if child is None:
            child = node[key] = {}
        node = child
    if not path:
        expected = _unshare(value)
    elif value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = _unshare(value)
    got = _load_plain(new, display)
    if not _same_value(got if got is not None else {}, expected):
        raise YamlEditError("the edit would change other values in the file; nothing was written",
                            Location(display, 1, 1), "this is a bug in the YAML writer: please report it with the file")


def _materialize(value: Any) -> Any:
    if isinstance(value, _Patch):
        return {k: _materialize(v) for k, v in value.changes.items() if v is not _DELETE}
    return value


def _full(changes: dict[Any, tuple[Any, Any]]) -> dict:
    return {key: _materialize(value) for key, value in changes.values() if value is not _DELETE}


def _dotted(where: tuple) -> str:
    return ".".join(str(k) for k in where) or "the top level"


class _Editor:
    """One document: where its nodes are, and the splices that turn it into the new text."""

    def __init__(self, text: str, display: str, unsafe: bool):
        _refuse_vault_file(text, display)
        self.text, self.display, self.unsafe = text, display, unsafe
        first_break = text.find("\n")
        self.nl = "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"
        self.r = _ruamel()
        yaml = self.r.YAML(typ="safe", pure=True)
        yaml.Composer, yaml.Resolver = self.r.Composer, self.r.Resolver
        yaml.span_aliases, yaml.span_vaults = [], []
        try:
            docs = list(yaml.compose_all(text))
        except self.r.MarkedYAMLError as err:
            problem = " ".join(str(p).strip() for p in (err.context, err.problem) if p) or "invalid YAML"
            raise YamlEditError(problem.replace("\n", " "), _marked(err, display)) from None
        if len(docs) > 1:
            raise YamlEditError(f"the file holds {len(docs)} YAML documents; only a single one can be edited",
                                self._loc(docs[1]), "split it into one file per document")
        self.root = docs[0] if docs else None
        self.yaml = yaml
        self.uses: dict[int, list[_Alias]] = {}
        for ref in yaml.span_aliases:
            self.uses.setdefault(id(ref.target), []).append(ref)
        self.vaults = yaml.span_vaults
        self.path: tuple = ()
        self.replaceable: set[int] = set()  # the vault node the key path names, if it names one
        self.edits: list[tuple[int, int, str]] = []
        self._indexes: dict[int, Any] = {}
        # what reading one scalar can raise: a bad `!!int x`, a tag with no meaning here
        self._unreadable = (self.r.MarkedYAMLError, _Unusual, ValueError, TypeError, KeyError)
        self._step, self._seq_offset = self._detect_indent()

    # --- positions -------------------------------------------------------

    def _loc(self, node: Any) -> Location:
        if isinstance(node, _Alias):
            return Location(self.display, node.line + 1, node.column + 1)
        return Location(self.display, node.start_mark.line + 1, node.start_mark.column + 1)

    def _eol(self, pos: int) -> int:
        j = self.text.find("\n", pos)
        if j < 0:
            return len(self.text)
        return j - 1 if j > pos and self.text[j - 1] == "\r" else j

    def _bol(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def _break_at(self, pos: int) -> int:
        """Length of the line break at ``pos`` (0 at the end of the text)."""
        return 2 if self.text.startswith("\r\n", pos) else 1 if self.text.startswith("\n", pos) else 0

    def _next_token(self, pos: int) -> int:
        text, n = self.text, len(self.text)
        while pos < n:
            ch = text[pos]
            if ch in " \t\r\n":
                pos += 1
            elif ch == "#":
                pos = self._eol(pos)
            else:
                break
        return pos

    def _comment_after(self, pos: int) -> str:
        rest = self.text[pos:self._eol(pos)]
        return rest if rest.strip().startswith("#") else ""

    def _start(self, node: Any) -> int:
        return node.start if isinstance(node, _Alias) else node.start_mark.index

    def _is_empty(self, node: Any) -> bool:
        # An absent value: its marks point at the next token, not after the ':'.
        return isinstance(node, self.r.ScalarNode) and node.start_mark.index == node.end_mark.index

    def _is_block(self, node: Any) -> bool:
        return (isinstance(node, (self.r.MappingNode, self.r.SequenceNode)) and not node.flow_style
                and bool(node.value))

    def _colon_end(self, key: Any) -> int:
        pos = self._next_token(self._end(key))
        if not self.text.startswith(":", pos):
            raise YamlEditError("this key's form (explicit '? ' key) is not supported by the writer", self._loc(key))
        return pos + 1

    def _dash_end(self, seq: Any, i: int) -> int:
        pos = self._start(seq) if i == 0 else self._item_end(seq, i - 1)
        while pos < len(self.text):
            pos = self._next_token(pos)
            if self.text.startswith("-", pos):
                return pos + 1
            while pos < len(self.text) and self.text[pos] not in " \t\r\n":
                pos += 1  # an anchor or tag before the first dash
        raise YamlEditError("cannot find where this list item starts", self._loc(seq.value[i]))

    def _pair_end(self, key: Any, value: Any) -> int:
        return self._colon_end(key) if self._is_empty(value) else self._end(value)

    def _item_end(self, seq: Any, i: int) -> int:
        item = seq.value[i]
        return self._dash_end(seq, i) if self._is_empty(item) else self._end(item)

    def _end(self, node: Any) -> int:
        """Where the node's own text ends (ruamel's end marks of block nodes run past comments)."""
        if isinstance(node, _Alias):
            return node.end
        if isinstance(node, self.r.ScalarNode):
            end = node.end_mark.index
            chomp = self._chomp(node)
            if chomp == "+":
                # kept trailing lines are part of the value: stop before the last break only
                if self.text[end - 1:end] == "\n":
                    end -= 2 if self.text[end - 2:end] == "\r\n" else 1
            elif chomp is not None:
                while end > node.start_mark.index and self.text[end - 1] in " \t\r\n":
                    end -= 1
            return end
        if node.flow_style or not node.value:
            return node.end_mark.index
        if isinstance(node, self.r.MappingNode):
            return self._pair_end(*node.value[-1])
        return self._item_end(node, len(node.value) - 1)

    def _chomp(self, node: Any) -> str | None:
        """A block scalar's chomping indicator ('' for clip); None for any other node."""
        if not isinstance(node, self.r.ScalarNode) or node.style not in ("|", ">"):
            return None
        start = node.start_mark.index
        indicator = re.search(r"[|>]([-+0-9]*)\s*$", self.text[start:self._eol(start)].split(" #")[0])
        return "".join(c for c in indicator.group(1) if c in "+-") if indicator else ""

    def _needs_its_break(self, node: Any) -> bool:
        """Whether the node's text ends in a block scalar that reads its final line break as content.

        At the very end of a file without a final newline such a value has no
        break; adding a line after it, or taking the break before it away,
        would change the value.
        """
        while self._is_block(node):
            node = node.value[-1][1] if isinstance(node, self.r.MappingNode) else node.value[-1]
        return self._chomp(node) in ("", "+")

    def _detect_indent(self) -> tuple[int, int]:
        """The file's mapping indent step and where its sequence dashes sit under a key."""
        step = offset = None
        stack, seen = [self.root], 0
        while stack and seen < 5000 and (step is None or offset is None):
            node = stack.pop()
            seen += 1
            if not self._is_block(node):
                continue
            if isinstance(node, self.r.SequenceNode):
                stack.extend(reversed(node.value))
                continue
            for key, value in node.value:
                if not self._is_block(value) or isinstance(key, _Alias) or value.anchor or value.tag[:1] == "!":
                    continue
                if isinstance(value, self.r.MappingNode) and step is None:
                    step = value.start_mark.column - key.start_mark.column
                elif isinstance(value, self.r.SequenceNode) and offset is None:
                    offset = value.start_mark.column - key.start_mark.column
            stack.extend(reversed([v for _, v in node.value]))
        step = step if step and step > 0 else 2
        return step, offset if offset is not None and offset >= 0 else 2

    # --- reading values ----------------------------------------------------

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
                    and all(self._same(n, v) for n, v in zip(node.value, value)))
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

    # --- the edit ------------------------------------------------------------

    def set(self, path: tuple, value: Any) -> None:
        self.path = path
        if not path and not isinstance(value, Mapping):
            raise YamlEditError("the top level of the file must stay a mapping", Location(self.display, 1, 1))
        change = value
        for key in reversed(path):
            change = _Patch({key: change})
        root = self.root
        if root is None or (isinstance(root, self.r.ScalarNode) and root.tag == _STD + "null"):
            self._fill_empty(root, _materialize(change))
            return
        if not self._is_map(root):
            raise YamlEditError("the top level is not a mapping, so there is no key to set", self._loc(root))
        self._diff(root, change, ("root",), (), ())

    def _fill_empty(self, root: Any, value: dict) -> None:
        if not value:
            return
        lines = self._render(value, 0)[1]
        if root is not None and not self._is_empty(root):  # `~` or `null` standing for the empty mapping
            if root.start_mark.column != 0:
                raise YamlEditError("the top level is a null written after '---'; write the file's keys on their "
                                    "own lines", self._loc(root))
            self._emit(root.start_mark.index, root.end_mark.index, self.nl.join(lines), ())
            return
        doc_end = _DOC_END.search(self.text)
        pos = doc_end.start() if doc_end else len(self.text)
        lead = self.nl if pos and self.text[pos - 1] != "\n" else ""
        self._emit(pos, pos, lead + "".join(line + self.nl for line in lines), ())

    def _guarded(self, node: Any, guard: tuple) -> tuple:
        return guard + (node,) if id(node) in self.uses else guard

    def _diff(self, node: Any, value: Any, slot: tuple, guard: tuple, where: tuple) -> None:
        """Splice ``node`` into ``value`` (a full value, or a _Patch of some keys)."""
        r = self.r
        if isinstance(value, _Patch):
            if isinstance(node, _Alias):
                if self._holds(node.target, value):
                    return None
                raise YamlEditError(f"{_dotted(where)} is the alias *{node.name}: setting a key inside it would "
                                    f"change &{node.name} and every other place that uses it", self._loc(node),
                                    "give this entry its own mapping, or change the anchored one on purpose")
            guard = self._guarded(node, guard)
            if self._is_map(node):
                changes = {_hk(k): (k, v) for k, v in value.changes.items()}
                return self._apply_mapping(node, changes, slot, guard, where)
            if self._is_seq(node):
                for index, child in value.changes.items():
                    if not isinstance(index, int) or not -len(node.value) <= index < len(node.value):
                        raise YamlEditError(f"{_dotted(where)} has no item {index!r}", self._loc(node))
                    if child is _DELETE:
                        raise YamlEditError(f"{_dotted(where)}: remove list items by setting the whole list",
                                            self._loc(node))
                    index %= len(node.value)
                    if self._is_empty(node.value[index]):
                        return self._replace(node, self._with_item(node, index, child), slot, guard, where)
                    child_slot = ("flow",) if node.flow_style else ("seq",)
                    self._diff(node.value[index], child, child_slot, guard, where + (index,))
                return None
            if isinstance(node, r.ScalarNode) and node.tag == _STD + "null":
                return self._replace(node, _materialize(value), slot, guard, where)
            raise YamlEditError(f"{_dotted(where)} is not a mapping, so it has no key to set", self._loc(node))
        if self._same(node, value):
            return None
        if where == self.path:
            self.replaceable.add(id(node))
        if isinstance(node, _Alias):
            return self._replace(node, value, slot, guard, where)  # only this reference changes
        guard = self._guarded(node, guard)
        if self._is_map(node) and isinstance(value, Mapping) and value:
            explicit, _, merged, _, _ = self._index(node)
            given = {_hk(k): (k, v) for k, v in value.items()}
            for hk in merged:
                if hk not in given:
                    raise YamlEditError(f"{_dotted(where + (hk[-1],))} comes from a merge (<<:) and cannot be "
                                        "removed here", self._loc(node),
                                        "change the anchored mapping, or drop the merge")
            changes = {hk: (hk[-1], _DELETE) for hk in explicit if hk not in given}
            changes.update(given)
            return self._apply_mapping(node, changes, slot, guard, where)
        if (self._is_seq(node) and isinstance(value, (list, tuple))
                and value and len(value) == len(node.value)
                and not any(self._is_empty(n) for n in node.value)):
            child_slot = ("flow",) if node.flow_style else ("seq",)
            for index, (child, item) in enumerate(zip(node.value, value)):
                self._diff(child, item, child_slot, guard, where + (index,))
            return None
        return self._replace(node, value, slot, guard, where)

    def _holds(self, node: Any, patch: _Patch) -> bool:
        """Whether ``node`` already reads as ``patch`` would make it."""
        if isinstance(node, _Alias):
            node = node.target
        if not self._is_map(node):
            return False
        effective = self._index(node)[3]
        for key, value in patch.changes.items():
            pair = effective.get(_hk(key))
            if value is _DELETE:
                if pair is not None:
                    return False
            elif pair is None or not (self._holds(pair[1], value) if isinstance(value, _Patch)
                                      else self._same(pair[1], value)):
                return False
        return True

    def _with_item(self, seq: Any, index: int, value: Any) -> list:
        """The whole list with one item set (an empty item has no span of its own to replace)."""
        items = []
        for i, child in enumerate(seq.value):
            if i == index:
                items.append(_materialize(value))
                continue
            target = child.target if isinstance(child, _Alias) else child
            if not isinstance(target, self.r.ScalarNode) or not target.tag.startswith(_STD):
                raise YamlEditError("only a list of plain values can have an empty item set", self._loc(seq),
                                    "set the whole list")
            items.append(self._scalar(target))
        return items

    def _apply_mapping(self, node: Any, changes: dict[Any, tuple[Any, Any]], slot: tuple, guard: tuple,
                       where: tuple) -> None:
        """``changes`` maps each key (see _hk) to (key, new value, a _Patch, or _DELETE)."""
        explicit, dups, merged, _, shadowed = self._index(node)
        for key, _ in node.value:
            start = self._start(key)
            if self.text[self._bol(start):start].rstrip().endswith("?"):
                raise YamlEditError(f"{_dotted(where)}: the writer does not change mappings with explicit '? ' "
                                    "keys", self._loc(key), "write the key as a plain 'key: value' line")
        if not node.value:  # `{}`: write the new mapping out in block style
            return self._replace(node, _full(changes), slot, guard, where)
        deletes, inserts, structural = [], [], False
        for hk, (key, value) in changes.items():
            step = where + (key,)
            if hk in dups:
                raise YamlEditError(f"{_dotted(step)} is written more than once in this mapping",
                                    self._loc(explicit[hk][0]), "remove the duplicate; Ansible keeps only the last")
            if hk in explicit:
                if value is _DELETE and hk in shadowed:
                    raise YamlEditError(f"{_dotted(step)} is also set by a merge (<<:); removing it here would bring "
                                        "back the merged value", self._loc(explicit[hk][0]),
                                        "set it to the value it should have instead")
                if value is _DELETE:
                    deletes.append(explicit[hk])
                    if step == self.path:
                        self.replaceable.add(id(explicit[hk][1]))
                elif node.flow_style and self._is_empty(explicit[hk][1]):
                    structural = structural or isinstance(value, _Patch) or not self._same(explicit[hk][1], value)
            elif value is _DELETE:
                if hk in merged:
                    raise YamlEditError(f"{_dotted(step)} comes from a merge (<<:) and cannot be removed here",
                                        self._loc(node), "change the anchored mapping, or drop the merge")
            elif hk in merged and isinstance(value, _Patch):
                raise YamlEditError(f"{_dotted(step)} comes from a merge (<<:); setting a key inside it would hide "
                                    "the rest of the merged value", self._loc(node),
                                    f"set the whole of {_dotted(step)} instead")
            elif not (hk in merged and self._same(merged[hk][1], value)):
                inserts.append((key, _materialize(value)))  # an explicit key overrides a merged one
        if node.flow_style and (structural or deletes or inserts and any(self._is_empty(v) for _, v in node.value)):
            return self._emit(self._start(node), self._end(node), self._flow_with(node, changes), guard)
        removed = {id(k) for k, _ in deletes}
        kept = [pair for pair in node.value if id(pair[0]) not in removed]
        if not kept:
            return self._replace(node, _full(changes), slot, guard, where)
        for hk, (key, value) in changes.items():
            if hk in explicit and value is not _DELETE:
                knode, vnode = explicit[hk]
                self._diff(vnode, value, ("flow",) if node.flow_style else ("map", knode), guard, where + (key,))
        for knode, vnode in deletes:
            self._delete_pair(node, knode, vnode, guard)
        if inserts and node.flow_style:
            self._flow_insert(node, inserts, guard)
        elif inserts:
            column = self._column(node.value[0][0])
            lines = []
            for key, value in inserts:
                lines.extend(self._render_pair(key, value, column))
            last_key, last_value = kept[-1]
            pos = self._eol(self._pair_end(last_key, last_value))
            if pos < len(self.text) or not self._needs_its_break(last_value):
                self._emit(pos, pos, "".join(self.nl + line for line in lines), guard)
            elif not self.text[self._bol(self._start(last_key)):self._start(last_key)].strip():
                pos = self._bol(self._start(last_key))  # before the last key: its value keeps its bytes
                self._emit(pos, pos, "".join(line + self.nl for line in lines), guard)
            else:
                raise YamlEditError(f"{_dotted(where)}: cannot add a key after a block scalar that ends the file "
                                    "without a final newline", self._loc(last_key), "add a final newline to the file")
        return None

    def _flow_insert(self, node: Any, inserts: list[tuple[Any, Any]], guard: tuple) -> None:
        """Add entries to a flow mapping the way it is written: one per line when it spans lines."""
        entries = [f"{key_text(k)}: {flow_text(v, self.unsafe)}" for k, v in inserts]
        key, value = node.value[-1]
        end = self._pair_end(key, value)
        after = self._next_token(end)
        if "\n" not in self.text[end:node.end_mark.index]:
            self._emit(end, end, "".join(", " + entry for entry in entries), guard)
            return
        pad = " " * self._column(key)
        if self.text.startswith(",", after):  # a trailing comma after every entry: keep that habit
            pos = self._eol(after + 1)
            self._emit(pos, pos, "".join(f"{self.nl}{pad}{entry}," for entry in entries), guard)
            return
        self._emit(end, end, ",", guard)
        pos = self._eol(end)
        self._emit(pos, pos, ",".join(f"{self.nl}{pad}{entry}" for entry in entries), guard)

    def _column(self, node: Any) -> int:
        return node.column if isinstance(node, _Alias) else node.start_mark.column

    def _delete_pair(self, mapping: Any, key: Any, value: Any, guard: tuple) -> None:
        start = self._start(key)
        line = self._bol(start)
        end = self._eol(self._pair_end(key, value))
        if self.text[line:start].strip():
            # the first key on a "- " line: the next key moves up to take its place
            later = [k for k, _ in mapping.value if self._start(k) > start]
            self._emit(start, self._start(later[0]), "", guard)
        elif self._break_at(end):
            self._emit(line, end + self._break_at(end), "", guard)
        else:  # the last line of a file without a final newline: keep it without one
            earlier = [v for k, v in mapping.value if self._start(k) < start]
            back = 2 if self.text[max(line - 2, 0):line] == "\r\n" else 1 if line else 0
            if earlier and self._needs_its_break(earlier[-1]):
                back = 0  # the value above ends in a block scalar that owns that break
            self._emit(line - back, end, "", guard)

    def _flow_with(self, node: Any, changes: dict[Any, tuple[Any, Any]]) -> str:
        """The flow mapping with ``changes`` made; the entries left alone keep their text."""
        pending = dict(changes)
        parts = []
        for key, value in node.value:
            key_src = self.text[self._start(key):self._end(key)]
            value_src = "" if self._is_empty(value) else self.text[self._start(value):self._end(value)]
            change = None if self._is_merge(key) else pending.pop(self._key_of(key), None)
            new = None if change is None else change[1]
            if new is _DELETE:
                continue
            if change is None or (not isinstance(new, _Patch) and self._same(value, new)):
                parts.append(f"{key_src}: {value_src}".rstrip())
            elif isinstance(new, _Patch) and self._is_map(value) and value.value:
                parts.append(f"{key_src}: {self._flow_with(value, {_hk(k): (k, v) for k, v in new.changes.items()})}")
            elif isinstance(new, _Patch) and not (isinstance(value, self.r.ScalarNode) and value.tag == _STD + "null"):
                raise YamlEditError(f"{key_src} is not a mapping, so it has no key to set", self._loc(value))
            else:
                parts.append(f"{key_src}: {flow_text(_materialize(new), self.unsafe)}")
        for key, new in pending.values():
            if new is not _DELETE:
                parts.append(f"{key_text(key)}: {flow_text(_materialize(new), self.unsafe)}")
        return "{" + ", ".join(parts) + "}"

    def _replace(self, node: Any, value: Any, slot: tuple, guard: tuple, where: tuple) -> None:
        """Write ``value`` where ``node`` was: only its span when it fits on the line, else its lines."""
        text = self.text
        if slot[0] == "flow":
            return self._emit(self._start(node), self._end(node), flow_text(value, self.unsafe), guard)
        if slot[0] == "root":
            head, lines = self._render(value, 0)
            new = head if head is not None else self.nl.join(lines)
            return self._emit(self._start(node), self._eol(self._end(node)), new, guard)
        if slot[0] == "seq":
            column = self._column(node)
            head, lines = self._render(value, column)
            if self._is_block(node):
                end, keep = self._eol(self._end(node)), ""
            else:
                end0 = self._end(node)
                end = self._eol(end0) if lines else end0
                keep = text[end0:end]
            first = head if head is not None else lines.pop(0)[column:]
            return self._emit(self._start(node), end, first + keep + "".join(self.nl + x for x in lines), guard)
        key = slot[1]
        head_pos = self._colon_end(key)
        head, lines = self._render_value(value, self._column(key))
        if self._is_empty(node):
            start, end, keep = head_pos, self._eol(head_pos), self._comment_after(head_pos)
        elif self._is_block(node):
            start, end, keep = head_pos, self._eol(self._end(node)), self._comment_after(head_pos)
        elif not lines:
            return self._emit(self._start(node), self._end(node), head, guard)
        else:
            end0 = self._end(node)
            start, end, keep = head_pos, self._eol(end0), text[end0:self._eol(end0)]
        new = (f" {head}" if head is not None else "") + keep + "".join(self.nl + x for x in lines)
        return self._emit(start, end, new, guard)

    def _emit(self, start: int, end: int, new: str, guard: tuple) -> None:
        if guard:
            node = guard[-1]
            use = self.uses[id(node)][0]
            raise YamlEditError(f"this change is inside the anchor &{node.anchor}, which is also used at line "
                                f"{use.line + 1} (*{use.name}); it would change that place too", self._loc(node),
                                "set the value where the alias is used, or change the anchored value on purpose")
        for vault in self.vaults:
            if start <= vault.start_mark.index < end and id(vault) not in self.replaceable:
                raise YamlEditError(f"this change would overwrite the !vault value at line {vault.start_mark.line + 1}",
                                    self._loc(vault), "set (or delete) that key itself to replace it")
        for refs in self.uses.values():
            target = refs[0].target
            if start <= self._start(target) < end and any(not start <= ref.start < end for ref in refs):
                raise YamlEditError(f"this change would remove the anchor &{target.anchor}, which is used at line "
                                    f"{refs[0].line + 1} (*{refs[0].name})", self._loc(target))
        self.edits.append((start, end, new))

    # --- rendering -----------------------------------------------------------

    def _render_value(self, value: Any, key_column: int) -> tuple[str | None, list[str]]:
        """A value under a key at ``key_column``: what follows ``key:``, and the lines below it."""
        is_list = isinstance(value, (list, tuple)) and value
        return self._render(value, key_column + (self._seq_offset if is_list else self._step))

    def _render_pair(self, key: Any, value: Any, column: int) -> list[str]:
        head, lines = self._render_value(value, column)
        return [" " * column + key_text(key) + ":" + (f" {head}" if head is not None else ""), *lines]

    def _render(self, value: Any, column: int) -> tuple[str | None, list[str]]:
        """``(head, lines)``: head is written after ``key:`` or ``- ``; lines (indented) follow."""
        pad = " " * column
        if isinstance(value, Mapping):
            if not value:
                return "{}", []
            lines = []
            for key, child in value.items():
                lines.extend(self._render_pair(key, child, column))
            return None, lines
        if isinstance(value, (list, tuple)):
            if not value:
                return "[]", []
            lines = []
            for item in value:
                head, sub = self._render(item, column + 2)
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

    def result(self) -> str | None:
        if not self.edits:
            return None
        edits = sorted(self.edits, key=lambda e: (e[0], e[1] > e[0]))
        out, pos = [], 0
        for start, end, new in edits:
            if start < pos:
                raise YamlEditError("overlapping changes in one write; nothing was written",
                                    Location(self.display, 1, 1), "set the values one at a time")
            out.append(self.text[pos:start])
            out.append(new)
            pos = end
        out.append(self.text[pos:])
        return "".join(out)
