"""Renderings of a plan and its review: terminal, JSON, markdown, HTML."""

from __future__ import annotations

import difflib

from planner.plans.planfile import Diff, Plan, TaskResult


def unified(diff: Diff) -> str:
    """A diff as unified-diff text (Ansible's prepared text as is)."""
    if diff.prepared:
        return diff.prepared if diff.prepared.endswith("\n") else diff.prepared + "\n"
    before = (diff.before or "").splitlines(keepends=True)
    after = (diff.after or "").splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, fromfile=diff.before_header or "before",
                                 tofile=diff.after_header or "after")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def table_cell(value: object, code: bool = False) -> str:
    """Text safe inside a markdown table cell: one line, '|' escaped, and '<' escaped so that text from a
    host can neither open an HTML comment (a hand-written-section marker) nor inject HTML.
    With ``code`` the caller wraps it in backticks, where markdown shows '<' as it is and would show
    '&lt;' literally: then '<' stays. Empty and None read as a dash."""
    if value is None or value == "" or value == []:
        return "—"
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if code else text.replace("<", "&lt;")


def interesting(task: TaskResult) -> bool:
    """Results a reviewer must see: changes, unknowns, failures."""
    return task.status in ("changed", "unknown", "failed", "unreachable")


def totals(plan: Plan) -> dict[str, int]:
    """Counts over the whole review."""
    out = {"ok": 0, "changed": 0, "skipped": 0, "failed": 0, "unknown": 0, "unreachable": 0}
    for step in plan.review.steps:
        for summary in step.hosts.values():
            for key in ("ok", "changed", "skipped", "failed", "unknown"):
                out[key] += getattr(summary, key)
            out["unreachable"] += int(summary.unreachable)
    return out


def findings(plan: Plan) -> list[TaskResult]:
    """What read-only steps reported (their report tasks' output)."""
    return [t for step in plan.review.steps for t in step.tasks if t.report is not None]
