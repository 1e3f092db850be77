"""The review as one self-contained HTML page (inline CSS, no scripts, no external files).

Grouped like the terminal (see ``render.grouping``): a collapsible block per
task outcome with the hosts it applies to, each host's own full review a click
away (nested ``<details>``, no scripts).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from planner.plans.planfile import Plan
from planner.render import grouping, totals, unified


def _classes(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        cls = ("meta" if line.startswith(("---", "+++")) else "add" if line.startswith("+")
               else "del" if line.startswith("-") else "hunk" if line.startswith("@@") else "ctx")
        out.append((cls, line + "\n"))
    return out


def _steps(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for step in plan.review.steps:
        among = grouping.step_hosts(plan, step)
        out.append({"summary": grouping.summary(plan, step).line(), "error": step.error, "groups": [
            {"group": g, "on": grouping.on_hosts(g.hosts, among), "diff_lines": [_classes(d) for d in g.diffs]}
            for g in grouping.groups(step, among)]})
    return out


def _hosts(plan: Plan) -> list[dict[str, Any]]:
    """Each host's full review: every task, ok and skipped included."""
    out = []
    for host in grouping.ordered_hosts(plan):
        tasks = [{**t.model_dump(), "report_text": grouping.report_text(t.report),
                  "diff_lines": [_classes(unified(d)) for d in t.diffs]}
                 for step in plan.review.steps for t in step.tasks if t.host == host]
        out.append({"name": host, "tasks": tasks})
    return out


def render(plan: Plan) -> str:
    """The HTML page (autoescaped: every value from hosts is text, never markup)."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=False)
    template = env.from_string((files("planner") / "templates" / "review.html.j2").read_text())
    rows = [{"row": r, "label": grouping.host_label(r)} for r in grouping.host_rows(plan)]
    return template.render(plan=plan, rows=rows, steps=_steps(plan), hosts=_hosts(plan), totals=totals(plan))
