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
would change any other value raises instead of writing.

This module is the entry point and the final check. The parts: the nodes, built
from libyaml's events, in :mod:`planner.yamlio.compose`; where a node's text lies
in :mod:`planner.yamlio.spans`; reading nodes and comparing them with
values in :mod:`planner.yamlio.compare`; planning the splices in
:mod:`planner.yamlio.patch`; spelling and laying out new values in
:mod:`planner.yamlio.text`. Reading plain data lives in
:mod:`planner.yamlio.reading`, the file on disk in :mod:`planner.yamlio.files`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planner.yamlio import Location
from planner.yamlio.patch import _DELETE, _Editor
from planner.yamlio.reading import NO_QUICK_READ, _load_plain, _quick_plain, _same_value, _unshare
from planner.yamlio.text import Tagged, YamlEditError

__all__ = ["Tagged", "YamlEditError", "delete_text", "edit_text"]


def edit_text(text: str, path: tuple[str | int, ...], value: Any, *, unsafe: bool = False) -> str:
    """Set the value at ``path`` (a key path; missing mappings are created) and return the new text.

    Only the lines of what changed are rewritten; when nothing changes in
    meaning the text comes back unchanged. With ``unsafe`` new strings are
    written as ``!unsafe '...'`` so Ansible never templates them (text that
    reads as a number, boolean, date or null is only quoted: it cannot hold a
    template, and ``!unsafe`` would make Ansible read its type). ``path=()``
    sets the whole top-level mapping; a path that ends one past a list's last
    item appends to it, laid out as the items above. Raises :class:`YamlEditError` when the
    change cannot be made safely (it would change an aliased anchor, the file
    holds several documents, the top level is not a mapping, ...).

    >>> edit_text("a: 1  # one\\nb: yes\\n", ("b",), False)
    'a: 1  # one\\nb: false\\n'
    """
    return _edit(text, path, value, unsafe=unsafe, display="<text>")


def delete_text(text: str, path: tuple[str | int, ...]) -> str:
    """Remove the key (or list item) at ``path``: its lines go, comments around it stay; a missing key is a
    no-op."""
    if not path:
        raise YamlEditError("an empty key path names the whole document; it cannot be deleted")
    return _edit(text, path, _DELETE, unsafe=False, display="<text>")


def _edit(text: str, path: tuple, value: Any, *, unsafe: bool, display: str,
          make: Callable[[Any], Any] | None = None) -> str:
    """With ``make``, the value is ``make(what path holds now)`` (None when nothing), read from the same parse
    the edit is planned on: a caller that needs the old value does not parse the text a second time."""
    for key in path:
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise YamlEditError(f"key path {path!r}: each step must be a string or an integer")
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    editor = _Editor(body, display, unsafe)
    if make is not None:
        value = make(_at(editor.plain(), path))
    editor.set(path, value)
    new = editor.result()
    if new is None:
        return text
    _verify(editor, new, path, value)
    return bom + new


def _at(data: Any, path: tuple) -> Any:
    """What ``path`` holds in plain ``data``; None where any step is missing."""
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data


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
    elif isinstance(node, list) and value is _DELETE:
        del node[path[-1]]
    elif isinstance(node, list) and path[-1] == len(node):
        node.append(_unshare(value))
    elif value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = _unshare(value)
    # libyaml reads the new text first (most of a write's time is parsing): agreeing, it settles the check;
    # anything else is decided by the reference reading, as before.
    got = _quick_plain(new, display)
    if got is not NO_QUICK_READ and _same_value(got if got is not None else {}, expected):
        return
    got = _load_plain(new, display)
    if not _same_value(got if got is not None else {}, expected):
        raise YamlEditError("the edit would change other values in the file; nothing was written",
                            Location(display, 1, 1), "this is a bug in the YAML writer: please report it with the file")
