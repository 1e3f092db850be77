"""Slot filling: the values of an entry's variables, read from the request by the extractors it names.

An entry's meta file says, per variable, which extractor fills it, near which
words, and whether the value is merged into the variable's default map. No
variable name appears here: an entry that names nothing gets nothing filled,
and a variable keeps its default unless the request gives a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.planning.extractors import Named, Wanted, extract
from planner.planning.offline.index import offline_hints


@dataclass(frozen=True)
class Fill:
    """How the meta file says one variable is filled."""

    variable: str
    wanted: Wanted
    merge_with_default: bool


def fills(entry: dict[str, Any]) -> list[Fill]:
    """The variables ``entry`` lets the offline planner fill, in the order its meta file names them."""
    out = []
    for name, how in (offline_hints(entry).get("variables") or {}).items():
        out.append(Fill(name, Wanted(how["extractor"], tuple(how.get("near") or ())),
                        bool(how.get("merge_with_default"))))
    return out


def uses(entry: dict[str, Any], extractor: str) -> bool:
    """Whether one of ``entry``'s variables is filled by ``extractor``."""
    return any(f.wanted.extractor == extractor for f in fills(entry))


def fill(entry: dict[str, Any], text: str, named: Named) -> dict[str, Any]:
    """Values for the variables ``entry`` declares, only where ``text`` gives one."""
    declared = entry.get("variables") or {}
    out: dict[str, Any] = {}
    for how in fills(entry):
        spec = declared.get(how.variable)
        if spec is None:
            continue  # the catalog refuses such a meta file; a hand-made pack may still have one
        value = extract(how.wanted, text, named, spec)
        if value is None:
            continue
        if how.merge_with_default and isinstance(value, dict):
            # The variable replaces the whole map, so one key given keeps the others' defaults.
            default = spec.get("default")
            value = {**(default if isinstance(default, dict) else {}), **value}
        out[how.variable] = value
    return out
