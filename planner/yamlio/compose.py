"""The surgical writer's parse at C speed: ruamel's nodes composed from libyaml's events.

The writer (:mod:`planner.yamlio.spans` and the modules on it) works on ruamel's nodes: their tags resolved as
Ansible reads YAML (1.1), their marks saying where each lies in the text. ruamel composes them in pure Python
(its C extension is not installed), and that was four fifths of an edit's time: setting one host's value in a
1,000-host hosts.yml took half a second. libyaml, the parser Ansible reads inventories with, gives the same
events with the same marks (offsets in characters, lines, columns) about twenty times faster; the nodes are
built from them here and their tags resolved by the writer's own ruamel resolver, so the writer sees exactly
what ruamel's composer would have given it.

Where the two mark the same text differently, libyaml's mark is moved to ruamel's (an absent value in a block
mapping). Whatever this cannot be sure reads or marks alike in both returns None, and ruamel composes the text
as before, with its own error messages: no libyaml, text libyaml refuses, several documents, an alias to an
unknown anchor, a '?' that may start an explicit key, an absent key or an absent value in a flow mapping,
YAML 1.1's extra line breaks (NEL, LS, PS: libyaml reads them as breaks, ruamel's YAML 1.2 as text), a lone CR
before an absent value that ends the text, nesting deeper than :data:`MAX_DEPTH`. The writer reads its new text
back either way (:func:`planner.yamlio.edit._verify`).
"""

from __future__ import annotations

import re
from typing import Any

from planner.yamlio.block import Unsure, _events
from planner.yamlio.reading import _Alias

#: Deeper nesting is left to ruamel's composer, which the writer's recursive walks were written against.
MAX_DEPTH = 200

# Line breaks in YAML 1.1 (libyaml) that YAML 1.2 (ruamel) reads as ordinary characters.
_ODD_BREAKS = ("\x85", "\u2028", "\u2029")
# A '?' that may start an explicit key (the writer refuses to edit those keys, and the two parsers mark an
# absent value after one differently); a '?' in text or a comment costs only the quicker composition.
_EXPLICIT_KEY = re.compile(r"(?:^|[\s\[{,])\?(?:\s|$)", re.MULTILINE)


class Composed:
    """One document's root node (None for an empty stream), its aliases in the order they appear, and its
    ``!vault`` nodes in the order ruamel's composer finishes them."""

    def __init__(self, root: Any, aliases: list[_Alias], vaults: list[Any]):
        self.root, self.aliases, self.vaults = root, aliases, vaults


def compose(text: str, resolver: Any) -> Composed | None:
    """The single document in ``text`` as ruamel's nodes, tags resolved by ``resolver``; None where unsure."""
    if any(brk in text for brk in _ODD_BREAKS) or _EXPLICIT_KEY.search(text):
        return None
    try:
        events = _events(text)
    except Unsure:
        return None
    import yaml
    from ruamel.yaml.error import StreamMark
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    if len(events) == 2:  # a stream with no document: nothing but comments
        return Composed(None, [], [])
    # STREAM-START DOCUMENT-START node... DOCUMENT-END STREAM-END: one document, or ruamel names the second
    if type(events[-2]) is not yaml.DocumentEndEvent or any(type(e) is yaml.DocumentStartEvent for e in events[2:]):
        return None
    scalar, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    resolve = resolver.resolve
    resolved: dict[tuple[str, Any], Any] = {}  # an inventory repeats a few texts (true, worker, 22) many times
    anchors: dict[str, Any] = {}
    aliases: list[_Alias] = []
    vaults: list[Any] = []
    stack: list[list[Any]] = []  # [the collection being filled, its key waiting for a value (None if none)]
    root: Any = None
    for at in range(2, len(events) - 2):
        event = events[at]
        kind = type(event)
        node: Any
        if kind is scalar:
            start, end = event.start_mark, event.end_mark
            if start.index == end.index and stack and type(stack[-1][0]) is MappingNode:
                # An absent value in a block mapping: libyaml marks it where the ':' ends, ruamel at the next
                # token; an absent key, or a value in a flow mapping, each have marks of their own in each
                if stack[-1][1] is None or stack[-1][0].flow_style:
                    return None
                start = end = events[at + 1].start_mark
                if start.index == len(text) and not text.endswith(("\n", "\r")):
                    # the end of a text with no final break: libyaml counts a line more, ruamel does not
                    line_start = text.rfind("\n") + 1
                    if "\r" in text[line_start:]:
                        return None  # a lone CR breaks a line for both parsers, not for the count below
                    start = end = StreamMark(None, start.index, text.count("\n", 0, line_start),
                                             start.index - line_start)
            tag = event.tag
            if tag is None or tag == "!":
                memo = (event.value, event.implicit)
                tag = resolved.get(memo)
                if tag is None:
                    tag = resolved[memo] = resolve(ScalarNode, event.value, event.implicit)
            # ruamel's plain style is None, libyaml's ''
            node = ScalarNode(tag, event.value, start, end, style=event.style or None, anchor=event.anchor)
            if event.anchor is not None:
                anchors[event.anchor] = node
            if event.tag == "!vault":  # the event's own text: no tag is resolved to it, and node.tag builds one
                vaults.append(node)
        elif kind is alias_event:
            target = anchors.get(event.anchor)
            if target is None:
                return None  # ruamel's composer says "found undefined alias" with its position
            node = _Alias.at(target, event)
            aliases.append(node)
        elif kind is mapping_start or kind is sequence_start:
            if len(stack) >= MAX_DEPTH:
                return None
            node_kind = MappingNode if kind is mapping_start else SequenceNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolve(node_kind, None, event.implicit)
            node = node_kind(tag, [], event.start_mark, None, flow_style=event.flow_style, anchor=event.anchor)
            if event.anchor is not None:
                anchors[event.anchor] = node  # before its children, as ruamel: an alias inside may name it
            stack.append([node, None])
            continue
        else:  # the end of the collection on top
            node = stack.pop()[0]
            node.end_mark = event.end_mark
            if node.tag == "!vault":
                vaults.append(node)
        if not stack:
            root = node
            continue
        top = stack[-1]
        if type(top[0]) is SequenceNode:
            top[0].value.append(node)
        elif top[1] is None:
            top[1] = node
        else:
            top[0].value.append((top[1], node))
            top[1] = None
    return Composed(root, aliases, vaults)
