"""Planning the splices that turn a document into the new one.

The change arrives as a nested :class:`_Patch` (only these keys change) ending
in a full value or :data:`_DELETE`. :class:`_Editor` walks it down the composed
document, compares each node with what it should become, and records a splice
(start, end, new text) only where they differ. A splice that would touch an
anchor used elsewhere, a ``!vault`` value the key path does not name, or a
merged key is refused with the place and what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.yamlio import Location
from planner.yamlio.compare import _Reader
from planner.yamlio.reading import _Alias, _hk
from planner.yamlio.text import _DOC_END, _STD, Layout, YamlEditError, flow_text, key_text


class _Patch:
    """Change only these keys of a mapping; the others stay."""

    def __init__(self, changes: dict[Any, Any]):
        self.changes = changes


_DELETE = object()


def _materialize(value: Any) -> Any:
    if isinstance(value, _Patch):
        return {k: _materialize(v) for k, v in value.changes.items() if v is not _DELETE}
    return value


def _full(changes: dict[Any, tuple[Any, Any]]) -> dict:
    return {key: _materialize(value) for key, value in changes.values() if value is not _DELETE}


def _dotted(where: tuple) -> str:
    return ".".join(str(k) for k in where) or "the top level"


class _Editor(_Reader):
    """One document and the splices that turn it into the new text."""

    def __init__(self, text: str, display: str, unsafe: bool):
        super().__init__(text, display, unsafe)
        self.path: tuple = ()
        self.replaceable: set[int] = set()  # the vault node the key path names, if it names one
        self.edits: list[tuple[int, int, str]] = []
        self.layout = Layout(*self._detect_indent(), unsafe=unsafe)

    def set(self, path: tuple, value: Any) -> None:
        """Plan the splices that make ``path`` hold ``value`` (or drop it, for ``_DELETE``)."""
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
        lines = self.layout.render(value, 0)[1]
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
                    if index == len(node.value) and isinstance(index, int) and not isinstance(index, bool):
                        return self._append_item(node, _materialize(child), slot, guard, where)
                    if not isinstance(index, int) or not -len(node.value) <= index < len(node.value):
                        raise YamlEditError(f"{_dotted(where)} has no item {index!r}", self._loc(node))
                    if child is _DELETE:
                        return self._delete_item(node, index % len(node.value), slot, guard, where)
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
            for index, (child, item) in enumerate(zip(node.value, value, strict=True)):
                self._diff(child, item, child_slot, guard, where + (index,))
            return None
        return self._replace(node, value, slot, guard, where)

    def _append_item(self, seq: Any, value: Any, slot: tuple, guard: tuple, where: tuple) -> None:
        """A new last item of a block list, laid out as the items above it (a blank line between them
        where the list has one); the items already there keep their bytes."""
        if seq.flow_style or not seq.value:
            return self._replace(seq, [*self._plain_items(seq), value], slot, guard, where)
        last = len(seq.value) - 1
        dash = self._dash_end(seq, last) - 1
        column = dash - self._bol(dash)
        lines = self.layout.render([value], column)[1]
        gap = ""
        if last and not self.text[self._eol(self._item_end(seq, last - 1)):self._bol(dash)].strip("\r\n"):
            gap = self.nl if self.text.count("\n", self._eol(self._item_end(seq, last - 1)), dash) > 1 else ""
        pos = self._eol(self._item_end(seq, last))
        if pos == len(self.text) and self._needs_its_break(seq.value[last]):
            raise YamlEditError(f"{_dotted(where)}: cannot add an item after a block scalar that ends the file "
                                "without a final newline", self._loc(seq), "add a final newline to the file")
        self._emit(pos, pos, gap + "".join(self.nl + line for line in lines), guard)
        return None

    def _delete_item(self, seq: Any, index: int, slot: tuple, guard: tuple, where: tuple) -> None:
        """Remove one item of a block list: its lines, and the blank lines just above it; comments stay."""
        if seq.flow_style or len(seq.value) == 1:
            return self._replace(seq, [v for i, v in enumerate(self._plain_items(seq)) if i != index], slot, guard,
                                 where)
        dash = self._dash_end(seq, index) - 1
        line = self._bol(dash)
        if self.text[line:dash].strip():
            raise YamlEditError(f"{_dotted(where)}: item {index} does not start its own line", self._loc(seq),
                                "set the whole list")
        end = self._eol(self._item_end(seq, index))
        end += self._break_at(end)
        if index:
            floor = self._eol(self._item_end(seq, index - 1))
            while line > floor and not self.text[self._bol(line - 1):line].strip():
                line = self._bol(line - 1)  # the blank lines that set this item apart go with it
            line = max(line, floor + self._break_at(floor))
        else:
            ceiling = self._bol(self._dash_end(seq, 1) - 1)
            while end < ceiling and not self.text[end:self._eol(end)].strip():
                end = self._eol(end) + self._break_at(self._eol(end))  # the first item's gap below it goes too
        self._emit(line, end, "", guard)
        return None

    def _plain_items(self, seq: Any) -> list:
        from planner.yamlio.reading import _load_plain

        return list(_load_plain(self.text[self._start(seq):self._end(seq)], self.display) or [])

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
                lines.extend(self.layout.render_pair(key, value, column))
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
            head, lines = self.layout.render(value, 0)
            new = head if head is not None else self.nl.join(lines)
            return self._emit(self._start(node), self._eol(self._end(node)), new, guard)
        if slot[0] == "seq":
            column = self._column(node)
            head, lines = self.layout.render(value, column)
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
        head, lines = self.layout.render_value(value, self._column(key))
        if self._is_empty(node):
            start, end, keep = head_pos, self._eol(head_pos), self._comment_after(head_pos)
        elif self._is_block(node):
            start, end, keep = head_pos, self._eol(self._end(node)), self._comment_after(head_pos)
        elif not lines:
            assert head is not None  # a value with no lines below is all head
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

    def result(self) -> str | None:
        """The text with every planned splice made; None when nothing changes."""
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
