"""The review as markdown for a pull-request comment: a section per host, collapsible diffs.

GitHub refuses comments over 65,536 characters, so the text is split into
parts under 65,000 characters at host boundaries (a single huge host is cut
at diff boundaries).
"""

from __future__ import annotations

from planner.plans.planfile import Plan
from planner.render import hosts_of, interesting, totals, unified

LIMIT = 65_000


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}diff\n{text}{fence}\n"


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
    if plan.manual:
        lines += ["### Manual checklist (never executed by the tool)", ""]
        lines += [f"- [ ] **{m.title}** — {m.reason}" for m in plan.manual] + [""]
    return "\n".join(lines) + "\n"


def _host_section(plan: Plan, host: str) -> list[str]:
    """The host's section as chunks (heading first, then one chunk per task)."""
    chunks = []
    rows = []
    for step in plan.review.steps:
        summary = step.hosts.get(host)
        if summary:
            rows.append(f"`{step.playbook}`: {summary.changed} changed, {summary.unknown} unknown, "
                        f"{summary.failed} failed, {summary.ok} ok"
                        + (", **unreachable**" if summary.unreachable else ""))
    chunks.append(f"### {host}\n\n" + "\n".join(f"- {r}" for r in rows) + "\n\n")
    for step in plan.review.steps:
        for task in step.tasks:
            if task.host != host or not interesting(task):
                continue
            title = f"{task.status}: {task.task}" + (f" ({task.role})" if task.role else "")
            body = ""
            if task.unknown_reason:
                body += f"_Unknown:_ {task.unknown_reason}\n\n"
            if task.msg and task.status in ("failed", "unreachable"):
                body += f"_Message:_ {task.msg}\n\n"
            for diff in task.diffs:
                body += _fence(unified(diff))
            if task.diffs:
                chunks.append(f"<details><summary>{title}</summary>\n\n{body}\n</details>\n\n")
            else:
                chunks.append(f"- {title}\n" + (f"  {body.strip()}\n" if body else "") + "\n")
    return chunks


def render(plan: Plan) -> list[str]:
    """The review as one or more markdown parts, each under 65,000 characters."""
    parts: list[str] = []
    current = _header(plan)
    for host in hosts_of(plan):
        for chunk in _host_section(plan, host):
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
