"""The quick path for a top-level block the tool owns (``discovered:``): found by libyaml, cut or replaced whole.

The surgical writer (:mod:`planner.yamlio.edit`) composes the file in pure Python to rewrite only the spans
that change, milliseconds a file; ``homelab facts`` rewrites one block in each of 1,000 host_vars files, and
the plan digests cut that block out of each of them. The block is the tool's own, so it can be replaced (or
cut) whole: libyaml's events say where its lines lie, the text around them is kept byte for byte, and the
result is read back and must mean exactly what was meant. Whatever this path cannot be sure of (no such block
yet, anchors or aliases in it, a block scalar at its end, a merge key, several documents, a flow-style top level,
a reading that does not agree) raises :class:`Unsure`, and the caller takes the surgical writer instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planner.yamlio.reading import _NO_QUICK_READ, _quick_plain, _same_value, _unshare
from planner.yamlio.text import Layout, YamlEditError


class Unsure(Exception):
    """The quick path cannot promise the surgical writer's guarantees for this text."""


@dataclass
class _Block:
    start: int  # where the key's line starts
    end: int  # after the line break that ends the value's last line
    events: list[Any]  # the whole document's events
    first: int  # index of the key's event
    last: int  # index of the value's last event


def _events(text: str) -> list[Any]:
    import yaml

    try:
        return list(yaml.parse(text, Loader=yaml.CSafeLoader))
    except (yaml.YAMLError, ValueError, AttributeError):  # AttributeError: PyYAML without libyaml
        raise Unsure from None


def _node_end(events: list[Any], i: int) -> int:
    """Index of the last event of the node that starts at ``events[i]``."""
    import yaml

    depth = 0
    while True:
        event = events[i]
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if depth == 0:
            return i
        i += 1


def find(text: str, key: str) -> _Block | None:
    """Where the top-level ``key:`` and its block-mapping value lie; None when the file has no such key."""
    import yaml

    events = _events(text)
    if (len(events) < 5 or not isinstance(events[2], yaml.MappingStartEvent) or events[2].flow_style
            or events[2].anchor or events[2].tag):
        raise Unsure  # not one block mapping at the top (empty, a scalar, flow style, tagged)
    found: list[tuple[int, int]] = []
    i = 3
    while not isinstance(events[i], yaml.MappingEndEvent):
        name = events[i]
        if not isinstance(name, yaml.ScalarEvent) or name.anchor or name.tag:
            raise Unsure  # a complex, aliased or tagged key
        if name.value == "<<" and name.implicit[0]:
            raise Unsure  # a merge key: the block may come from elsewhere
        last = _node_end(events, i + 1)
        if name.value == key:
            found.append((i, last))
        i = last + 1
    if not isinstance(events[i + 1], yaml.DocumentEndEvent) or not isinstance(events[i + 2], yaml.StreamEndEvent):
        raise Unsure  # several documents
    if not found:
        return None
    if len(found) > 1:
        raise Unsure  # a duplicate key: the surgical writer names it
    first, last = found[0]
    value = events[first + 1]
    if events[first].start_mark.column or not isinstance(value, yaml.MappingStartEvent) or value.flow_style:
        raise Unsure  # an indented top level, or a value that is not a block mapping
    for event in events[first + 1:last + 1]:
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) or (
                getattr(event, "tag", None) not in (None, "!unsafe")):
            raise Unsure  # an anchor could be used elsewhere; other tags are the surgical writer's business
    inner = last - 1  # the value's last event that is not the end of a block collection
    while isinstance(events[inner], yaml.CollectionEndEvent) and not events[inner].start_mark.index < \
            events[inner].end_mark.index:
        inner -= 1
    tail = events[inner]
    if isinstance(tail, yaml.ScalarEvent) and tail.style in ("|", ">"):
        raise Unsure  # a block scalar's final line breaks belong to it
    end = tail.end_mark.index
    eol = text.find("\n", end)
    eol = len(text) if eol < 0 else eol + 1
    if text[end:eol].strip() and not text[end:eol].strip().startswith("#"):
        raise Unsure  # something else on the value's last line
    return _Block(events[first].start_mark.index, eol, events, first, last)


def _signature(event: Any) -> tuple[Any, ...]:
    return (type(event).__name__, getattr(event, "value", None), getattr(event, "tag", None),
            getattr(event, "anchor", None), getattr(event, "implicit", None), getattr(event, "style", None),
            getattr(event, "flow_style", None))


def cut(text: str, key: str) -> str:
    """``text`` without the top-level ``key:`` block's lines (unchanged when there is none).

    The rest must read as the very same events as before, less the block's: nothing else was cut.
    """
    block = find(text, key)
    if block is None:
        return text
    rest = text[:block.start] + text[block.end:]
    kept = block.events[:block.first] + block.events[block.last + 1:]
    if list(map(_signature, _events(rest))) != list(map(_signature, kept)):
        raise Unsure
    return rest


def _layout(block: _Block, unsafe: bool) -> Layout:
    """The old block's own indent step and dash offset (it was laid out by the writer with the file's)."""
    import yaml

    events = block.events
    step = events[block.first + 2].start_mark.column  # the block's first key; its own key is at column 0
    offset = None
    for i in range(block.first + 2, block.last):
        event, value = events[i - 1], events[i]
        if (isinstance(value, yaml.SequenceStartEvent) and not value.flow_style and isinstance(event, yaml.ScalarEvent)
                and event.start_mark.line < value.start_mark.line):
            offset = value.start_mark.column - event.start_mark.column
            break
    if offset is None or step <= 0 or offset < 0:
        raise Unsure
    return Layout(step, offset, unsafe=unsafe)


def update(text: str, key: str, make: Callable[[Any], Any], *, unsafe: bool) -> str:
    """``text`` with the top-level ``key:`` block set to ``make(its value now)``, the block rewritten whole.

    Unchanged in meaning: the very text comes back (the caller writes nothing). The new text must read as the
    old document with only that key's value changed.
    """
    block = find(text, key)
    if block is None:
        raise Unsure  # a first write: the surgical writer places the new key
    old = _quick_plain(text, "<text>")
    if old is _NO_QUICK_READ or not isinstance(old, dict) or key not in old:
        raise Unsure
    value = make(old[key])
    if _same_value(old[key], value):
        return text
    try:
        lines = _layout(block, unsafe).render_pair(key, value, 0)
    except YamlEditError:
        raise Unsure from None  # the surgical writer raises it with the file's name
    first_break = text.find("\n")
    nl = "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"
    new = text[:block.start] + nl.join(lines) + nl + text[block.end:]
    expected = _unshare(old)
    expected[key] = _unshare(value)
    got = _quick_plain(new, "<text>")
    if got is _NO_QUICK_READ or not _same_value(got, expected):
        raise Unsure
    return new
