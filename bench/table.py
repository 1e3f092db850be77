"""The one table `make bench` prints: a row per measurement, with its goal and whether it was met.

Every bench script exposes ``rows(...) -> list[Row]``; bench/run.py gathers them into one markdown table.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = ("Measure", "Hosts", "Result", "Goal", "Met")


@dataclass(frozen=True)
class Row:
    """One measured figure. ``met`` is None where the row has no goal (a figure reported for the record)."""

    measure: str
    hosts: str
    result: str
    goal: str = "—"
    met: bool | None = None


def render(rows: list[Row]) -> str:
    """The rows as a GitHub markdown table (pipes in cells escaped)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    verdict = {True: "yes", False: "**no**", None: "—"}
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cell(c) for c in (r.measure, r.hosts, r.result, r.goal, verdict[r.met])) + " |"
              for r in rows]
    return "\n".join(lines)
