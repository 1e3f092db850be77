"""Drift as markdown: one table, shared by `homelab drift` and docs/INFRASTRUCTURE.md."""

from __future__ import annotations

from planner.knowledge.drift import DriftReport
from planner.render import table_cell


def drift_markdown(report: DriftReport) -> str:
    """A markdown table of findings (or a line saying there are none)."""
    lines = []
    if not report.findings:
        lines.append(f"No drift: {len(report.hosts_compared)} host(s) match their documentation.")
    else:
        lines += ["| host | what | documented | discovered |", "| --- | --- | --- | --- |"]
        lines += [f"| {table_cell(f.host)} | {table_cell(f.field.replace('_', ' '))} | {table_cell(f.documented)} | "
                  f"{table_cell(f.discovered)} |" for f in report.findings]
    if report.not_discovered:
        lines += ["", f"Not gathered yet: {', '.join(report.not_discovered)}."]
    return "\n".join(lines) + "\n"
