"""The review as one self-contained HTML page (inline CSS, no scripts, no external files)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from planner.plans.planfile import Plan
from planner.render import hosts_of, interesting, totals, unified


def _classes(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        cls = ("meta" if line.startswith(("---", "+++")) else "add" if line.startswith("+")
               else "del" if line.startswith("-") else "hunk" if line.startswith("@@") else "ctx")
        out.append((cls, line + "\n"))
    return out


def render(plan: Plan) -> str:
    """The HTML page (autoescaped: every value from hosts is text, never markup)."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=False)
    template = env.from_string((files("planner") / "templates" / "review.html.j2").read_text())
    hosts = []
    for host in hosts_of(plan):
        row: dict[str, Any] = {"name": host, "changed": 0, "unknown": 0, "failed": 0, "ok": 0, "skipped": 0,
                               "unreachable": False, "tasks": []}
        for step in plan.review.steps:
            summary = step.hosts.get(host)
            if summary:
                for key in ("changed", "unknown", "failed", "ok", "skipped"):
                    row[key] += getattr(summary, key)
                row["unreachable"] |= summary.unreachable
            for task in step.tasks:
                if task.host == host and interesting(task):
                    row["tasks"].append({**task.model_dump(), "diff_lines": [_classes(unified(d)) for d in task.diffs]})
        hosts.append(row)
    return template.render(plan=plan, hosts=hosts, totals=totals(plan))
