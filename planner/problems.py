"""pydantic validation errors, mapped back to the place in the file a person must fix.

Every file a person keeps (inventory, catalog sidecars, the knowledge base,
the config file) is checked by a pydantic model; each caller words its
messages its own way, but the mapping is the same: clean pydantic's location
(it appends the union branch that failed), find the line and column in the
round-trip document, drop repeats (a union reports once per branch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from planner import yamlio

_BRANCH_MARKERS = ("int", "float", "str", "bool", "list", "dict")


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: where it is written, pydantic's error type and message, the value given."""

    loc: tuple[Any, ...]
    where: yamlio.Location | None
    kind: str
    msg: str
    value: Any

    @property
    def dotted(self) -> str:
        """``hardware.gpus[0].memory_gib``; ``(top level)`` for the document itself."""
        return dotted(self.loc)


def dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def field_problems(exc: ValidationError, doc: Any = None, display: str = "") -> list[FieldProblem]:
    """Each error of ``exc`` once, located in ``doc`` (a round-trip document) when one is given."""
    out: list[FieldProblem] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors():
        loc = tuple(p for p in err["loc"]
                    if not (isinstance(p, str) and ("[" in p or p in _BRANCH_MARKERS)))
        key = (loc, err["type"] if err["type"] in ("extra_forbidden", "missing") else "value")
        if key in seen:
            continue
        seen.add(key)
        where = yamlio.locate(doc, loc, display, at_key=err["type"] == "extra_forbidden") if doc is not None else None
        out.append(FieldProblem(loc, where, err["type"], err["msg"].removeprefix("Value error, "), err.get("input")))
    return out
