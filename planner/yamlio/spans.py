"""Span geometry of a composed YAML document: where each node's text starts and ends.

The writer rewrites only the spans that change, so it has to know exactly
where a node's own text lies. ruamel's marks are close but not exact: the end
mark of a block collection runs past trailing comments, an absent value points
at the next token, and a block scalar's chomping decides whether its final
line break is part of the value. :class:`_Document` composes the text once and
answers those questions; comparing values is in :mod:`planner.yamlio.compare`,
planning the splices in :mod:`planner.yamlio.patch`.
"""

from __future__ import annotations

import re
from typing import Any

from planner.yamlio import Location
from planner.yamlio.compose import Composed, compose
from planner.yamlio.reading import _Alias, _marked, _refuse_vault_file, _ruamel
from planner.yamlio.text import YamlEditError


class _Document:
    """One composed document: its nodes, its anchors and vault values, and where each node's text lies."""

    def __init__(self, text: str, display: str):
        _refuse_vault_file(text, display)
        self.text, self.display = text, display
        first_break = text.find("\n")
        self.nl = "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"
        self.r = _ruamel()
        yaml = self.r.YAML(typ="safe", pure=True)
        yaml.Composer, yaml.Resolver = self.r.Composer, self.r.Resolver
        self.yaml = yaml
        # libyaml's events make the nodes where it reads the text as ruamel would; ruamel composes the rest
        composed = compose(text, yaml.resolver)
        if composed is None:
            composed = self._compose(text, display)
        self.root: Any = composed.root
        self.uses: dict[int, list[_Alias]] = {}
        for ref in composed.aliases:
            self.uses.setdefault(id(ref.target), []).append(ref)
        self.vaults = composed.vaults

    def _compose(self, text: str, display: str) -> Composed:
        """ruamel's composition of the text, with its errors."""
        yaml = self.yaml
        yaml.span_aliases, yaml.span_vaults = [], []
        try:
            docs = list(yaml.compose_all(text))
        except self.r.MarkedYAMLError as err:
            problem = " ".join(str(p).strip() for p in (err.context, err.problem) if p) or "invalid YAML"
            raise YamlEditError(problem.replace("\n", " "), _marked(err, display)) from None
        if len(docs) > 1:
            raise YamlEditError(f"the file holds {len(docs)} YAML documents; only a single one can be edited",
                                self._loc(docs[1]), "split it into one file per document")
        return Composed(docs[0] if docs else None, yaml.span_aliases, yaml.span_vaults)

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

    def _column(self, node: Any) -> int:
        return node.column if isinstance(node, _Alias) else node.start_mark.column
