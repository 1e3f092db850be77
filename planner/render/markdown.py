"""The review as markdown for a pull-request comment: grouped like the terminal, collapsible diffs.

Each task's outcome is shown once with the hosts it applies to (see
``render.grouping``); ``per_host`` gives one host's full review instead.
GitHub refuses comments over 65,536 characters, so the text is split into
parts under 65,000 characters at group (or task) boundaries; a single huge
diff is cut.
"""

from __future__ import annotations

from planner.plans.planfile import Plan
from planner.render import table_cell, totals, unified
from planner.render.grouping import (
    HOST_PLACEHOLDER,
    groups,
    host_label,
    host_rows,
    on_hosts,
    ordered_hosts,
    report_text,
    step_hosts,
    summary,
)

LIMIT = 65_000


def _fence(text: str, lang: str = "diff") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text}{fence}\n"


def _header(plan: Plan) -> str:
    t = totals(plan)
    lines = [f"## homelab plan `{plan.id}`", "", f"**Intent:** {plan.intent}", "",
             f"Planner: {plan.planner} · created {plan.created_at} · inventory `{plan.inputs.inventory}`"
             + (f" · revises `{plan.parent}` (excluded: {', '.join(plan.excluded)})" if plan.parent else ""), "",
             "| step | playbook | risk | limit | hosts |", "| --- | --- | --- | --- | --- |"]
    for i, s in enumerate(plan.steps):
        lines.append(f"| {i + 1} | `{s.playbook}` | {s.risk} | `{s.limit}` | {len(s.hosts)} |")
    lines += ["", f"**Check:** {t['changed']} changed · {t['unknown']} unknown · {t['failed']} failed · "
                  f"{t['unreachable']} unreachable · {t['ok']} ok", ""]
    if plan.review.skipped:
        lines += ["_No check run (made with --no-check)._", ""]
    if plan.review.documents:
        lines += [f"Report filed: `{path}`" for path in plan.review.documents] + [""]
    if plan.manual:
        lines += ["### Manual checklist (never executed by the tool)", ""]
        lines += [f"- [ ] **{m.title}** — {m.reason}" for m in plan.manual] + [""]
    return "\n".join(lines) + "\n"


def _host_table(plan: Plan) -> str:
    lines = ["| hosts | changed | unknown | failed | ok | skipped | reachable |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in host_rows(plan):
        lines.append(f"| {table_cell(host_label(row))} | {row.changed} | {row.unknown} | {row.failed} | {row.ok} | "
                     f"{row.skipped} | {'**no**' if row.unreachable else 'yes'} |")
    return "\n".join(lines) + "\n\n"


def _body(status: str, reason: str | None, msg: str | None, diffs: tuple[str, ...] | list[str],
          report: str | None) -> str:
    body = ""
    if reason:
        body += f"_Unknown:_ {reason}\n\n"
    if msg and status in ("failed", "unreachable"):
        body += f"_Message:_ {msg}\n\n"
    if report is not None:
        body += _fence(report if report.endswith("\n") else report + "\n", "text")
    for text in diffs:
        body += _fence(text)
    return body


def _chunk(title: str, body: str) -> str:
    if "```" in body:  # diffs and reports fold away; a one-line reason stays in view
        return f"<details><summary>{title}</summary>\n\n{body}\n</details>\n\n"
    return f"- {title}\n" + (f"  {body.strip()}\n" if body else "") + "\n"


def _grouped(plan: Plan) -> list[str]:
    """The review as chunks: the per-host table, then per step its summary line and its task groups."""
    chunks = [_host_table(plan)]
    for step in plan.review.steps:
        chunks.append(f"### {summary(plan, step).line()}\n\n")
        among = step_hosts(plan, step)
        for g in groups(step, among):
            variant = f" _(variant {g.variant} of {g.variants})_" if g.variants > 1 else ""
            if g.named:
                variant += f" _(`{HOST_PLACEHOLDER}`: the host's name)_"
            title = (f"{g.status}: {g.task}" + (f" ({g.role})" if g.role else "") + variant
                     + f" — **{on_hosts(g.hosts, among)}**")
            chunks.append(_chunk(title, _body(g.status, g.unknown_reason, g.msg, g.diffs, g.report)))
    return chunks


def _host_section(plan: Plan, host: str) -> list[str]:
    """One host's full review as chunks (heading first, then one chunk per task, ok and skipped included)."""
    chunks = []
    rows = []
    for step in plan.review.steps:
        s = step.hosts.get(host)
        if s:
            rows.append(f"`{step.playbook}`: {s.changed} changed, {s.unknown} unknown, {s.failed} failed, {s.ok} ok"
                        + (", **unreachable**" if s.unreachable else ""))
    chunks.append(f"### {host}\n\n" + "\n".join(f"- {r}" for r in rows) + "\n\n")
    for step in plan.review.steps:
        for task in step.tasks:
            if task.host == host:
                title = f"{task.status}: {task.task}" + (f" ({task.role})" if task.role else "")
                chunks.append(_chunk(title, _body(task.status, task.unknown_reason, task.msg,
                                                  [unified(d) for d in task.diffs], report_text(task.report))))
    return chunks


def render(plan: Plan, per_host: bool = False) -> list[str]:
    """The review as one or more markdown parts, each under 65,000 characters: grouped by identical
    outcome, or with ``per_host`` a section per host with every task (``homelab show --host``)."""
    parts: list[str] = []
    current = _header(plan)
    chunks = ([c for host in ordered_hosts(plan) for c in _host_section(plan, host)] if per_host
              else _grouped(plan) if not plan.review.skipped else [])
    for chunk in chunks:
        if len(chunk) > LIMIT - 200:
            chunk = chunk[: LIMIT - 400] + "\n\n[… cut: this diff is larger than one comment]\n</details>\n\n"
        if len(current) + len(chunk) > LIMIT - 100:
            parts.append(current)
            current = f"## homelab plan `{plan.id}` (continued)\n\n"
        current += chunk
    parts.append(current)
    if len(parts) > 1:
        parts = [p + f"\n_Part {i + 1} of {len(parts)}._\n" for i, p in enumerate(parts)]
    return parts
