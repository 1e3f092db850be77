"""The quick path for a top-level block the tool owns (``discovered:``): found by libyaml, cut or replaced whole.

The surgical writer (:mod:`planner.yamlio.edit`) composes the file in pure Python to rewrite only the spans
that change, milliseconds a file; ``homelab facts`` rewrites one block in each of 1,000 host_vars files, and
the plan digests cut that block out of each of them. The block is the tool's own, so it can be replaced (or
cut) whole: libyaml's events say where its lines lie, the text around them is kept byte for byte, and the
result is read back and must mean exactly what was meant. Whatever this path cannot be sure of (no such block
yet, anchors or aliases in it, a block scalar at its end, a merge key, several documents, a flow-style top level,
a reading that does not agree) raises :class:`Unsure`, and the caller takes the surgical writer instead.

One libyaml parse of the file gives both where the block lies and its value: the block's events are built
into data here, for the plain kinds of scalar the writer itself writes (text, null, booleans, decimal numbers);
any other spelling (a timestamp, an octal or sexagesimal number, an unknown tag) is :class:`Unsure`. The new
block is read back alone, by libyaml, and must hold exactly the new value: only its lines changed, each one
after its key's indented, so the text around it reads as before (see :func:`_read_back`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planner.yamlio.quick import _DECIMAL
from planner.yamlio.reading import _same_value
from planner.yamlio.text import _STD, Layout, YamlEditError, implicit_tag


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
        # libyaml's parser itself, without yaml.parse's generator around it: a sixth less per event
        get = yaml._yaml.CParser(text).get_event
        events = []
        while (event := get()) is not None:
            events.append(event)
    except (yaml.YAMLError, ValueError, AttributeError):  # AttributeError: PyYAML without libyaml
        raise Unsure from None
    return events


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
    return _RepeatingLayout(step, offset, unsafe=unsafe)


class _RepeatingLayout(Layout):
    """:class:`Layout` remembering how it spelled a plain scalar: every host's block holds the same few
    (a unit's name, ``true``, a port), and spelling each again costs a third of the rendering. What it
    writes is read back all the same."""

    def render(self, value: Any, column: int) -> tuple[str | None, list[str]]:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:  # exact types: not Tagged, not 1 for True
            key = (kind, value, self.unsafe)
            text = _SPELLED.get(key)
            if text is None:
                text = super().render(value, column)[0]
                if len(_SPELLED) >= 4096:
                    _SPELLED.clear()
                _SPELLED[key] = text
            return text, []
        return super().render(value, column)


#: Scalars already spelled by :class:`_RepeatingLayout`, by exact type, value and ``!unsafe`` rule; bounded.
_SPELLED: dict[tuple[type, Any, bool], str | None] = {}


# The numbers whose value int() or float() of the text gives exactly as PyYAML's constructor does (decimals as
# in quick's reading); any other spelling YAML 1.1 takes for a number (0o17, 0x1F, 1_000, 0777 as octal, 1:30
# as sexagesimal) is Unsure.
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?\Z")
_SPECIAL_FLOATS = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}


def _scalar(event: Any) -> Any:
    """What libyaml's loader (:func:`planner.yamlio.reading._quick_plain`) builds from one scalar event."""
    if event.anchor:
        raise Unsure
    if event.tag is None:
        if not event.implicit[0]:
            return event.value  # quoted or a block scalar: text
    elif event.tag != "!unsafe":  # Ansible reads `!unsafe 'text'` as the plain text would read
        raise Unsure
    value = event.value
    # The same few texts come back in every host's block (a unit's name, 'true', a port): each is resolved once.
    known = _PLAIN.get(value, _PLAIN)
    if known is not _PLAIN:
        return known
    built = _plain(value)
    if len(_PLAIN) >= 4096:
        _PLAIN.clear()
    _PLAIN[value] = built
    return built


#: Plain texts already resolved by :func:`_plain`, bounded.
_PLAIN: dict[str, Any] = {}


def _plain(value: str) -> Any:
    """What a plain (or ``!unsafe``) scalar's text reads as."""
    tag = implicit_tag(value)
    if tag == _STD + "str":
        return value
    if tag == _STD + "null":
        return None
    if tag == _STD + "bool":
        return _BOOLS[value.lower()]
    if tag == _STD + "int" and _DECIMAL.match(value):
        return int(value)
    if tag == _STD + "float":
        if _FLOAT.match(value):
            return float(value)
        if value.lower() in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value.lower()]
    raise Unsure  # a timestamp, a merge key, another spelling of a number: the full reader decides


def _construct(events: list[Any], i: int) -> tuple[Any, int]:
    """The data the node starting at ``events[i]`` reads as, and the index after its last event.

    A loop over the events with a stack of the collections being filled, not a call per node: a block is
    a few hundred events, and a thousand hosts' blocks are read on every write-back.
    """
    import yaml

    scalar, mapping_start, mapping_end = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.MappingEndEvent
    sequence_start, sequence_end = yaml.SequenceStartEvent, yaml.SequenceEndEvent
    stack: list[list[Any]] = []  # [the collection being filled, the key read for its next value]
    while True:
        event = events[i]
        kind = type(event)
        i += 1
        if kind is scalar:
            # quoted or a block scalar, untagged: text, without a call
            plain_text = event.tag is None and not event.implicit[0] and not event.anchor
            value = event.value if plain_text else _scalar(event)
        elif kind is mapping_start or kind is sequence_start:
            if event.anchor or event.tag not in (None, "!unsafe"):
                raise Unsure  # an anchor could be used elsewhere; a tagged collection
            stack.append([{} if kind is mapping_start else [], _NO_KEY])
            continue
        elif (kind is mapping_end or kind is sequence_end) and stack:
            value = stack.pop()[0]
        else:
            raise Unsure  # an alias
        if not stack:
            return value, i
        top = stack[-1]
        into = top[0]
        if type(into) is list:
            into.append(value)
        elif top[1] is _NO_KEY:
            if kind is not scalar:
                raise Unsure  # a complex key
            top[1] = value  # a merge key ("<<") was Unsure in _scalar
        else:
            into[top[1]] = value  # duplicate keys: the last wins, as with PyYAML
            top[1] = _NO_KEY


_NO_KEY = object()


def _same(a: Any, b: Any) -> bool:
    """:func:`~planner.yamlio.reading._same_value`, quicker for what blocks hold (plain types, text keys)."""
    kind = type(a)
    if kind is not type(b):
        return _same_value(a, b)
    if kind is str or kind is int or kind is bool or a is None:
        return bool(a == b)
    if kind is dict:
        if len(a) != len(b) or not all(type(k) is str for k in a) or a.keys() != b.keys():
            return _same_value(a, b)  # keys of several kinds: compared as YAML keeps them apart
        return all(_same(v, b[k]) for k, v in a.items())
    if kind is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return _same_value(a, b)


def _value(events: list[Any], first: int) -> Any:
    """The value of the key at ``events[first]``, built from the events."""
    return _construct(events, first + 1)[0]


def _read_back(new_block: str, key: str, value: Any) -> None:
    """Check that ``new_block`` (the lines that replace the old block, alone) holds ``key: value``; Unsure if not.

    Read alone, the new lines must be one block mapping of that key, its value exactly ``value``, with no
    anchor or alias (an anchor could shadow one the rest of the file uses) and no block scalar at the end
    (a kept block scalar would take in the blank lines that follow it). Every line after the key's starts
    with a space, so none of them can end the block, start a document or a directive, or be taken for
    another top-level key; and the old block ended at the end of a line, the next top-level content at
    column 0 after it. The text before the block reads as before (a parser reads left to right), the
    text after it reads as before (every construct of the new lines is closed at their end, or reading them
    alone would have failed), so the whole file reads as the old one with only this key's value changed.
    """
    import yaml

    lines = new_block.splitlines()
    if any(line[:1] not in (" ", "") for line in lines[1:]):
        raise Unsure
    events = _events(new_block)
    if (len(events) < 7 or type(events[2]) is not yaml.MappingStartEvent or events[2].flow_style
            or events[2].anchor or events[2].tag or type(events[3]) is not yaml.ScalarEvent
            or events[3].tag or not events[3].implicit[0] or events[3].value != key
            or type(events[-3]) is not yaml.MappingEndEvent or type(events[-2]) is not yaml.DocumentEndEvent):
        raise Unsure
    got, after = _construct(events, 4)
    if after != len(events) - 3:
        raise Unsure  # a second key
    last = next(e for e in reversed(events) if type(e) in (yaml.ScalarEvent, yaml.AliasEvent))
    if isinstance(last, yaml.ScalarEvent) and last.style in ("|", ">"):
        raise Unsure
    if not _same(got, value):
        raise Unsure


def update(text: str, key: str, make: Callable[[Any], Any], *, unsafe: bool) -> str:
    """``text`` with the top-level ``key:`` block set to ``make(its value now)``, the block rewritten whole.

    Unchanged in meaning: the very text comes back (the caller writes nothing). The new text must read as the
    old document with only that key's value changed.
    """
    from planner.yamlio.limits import check_text

    check_text(text, "<text>")  # the size bound, before libyaml reads it
    block = find(text, key)
    if block is None:
        raise Unsure  # a first write: the surgical writer places the new key
    old = _value(block.events, block.first)
    value = make(old)
    if _same(old, value):
        return text
    try:
        lines = _layout(block, unsafe).render_pair(key, value, 0)
    except YamlEditError:
        raise Unsure from None  # the surgical writer raises it with the file's name
    first_break = text.find("\n")
    nl = "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"
    new_block = nl.join(lines) + nl
    _read_back(new_block, key, value)
    return text[:block.start] + new_block + text[block.end:]
