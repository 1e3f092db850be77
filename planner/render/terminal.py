"""The review in a terminal (rich): per-host summary, coloured diffs, unknowns, manual items."""

from __future__ import annotations

from planner.plans.planfile import Plan
from planner.render import findings, hosts_of, interesting, totals, unified

_STYLE = {"changed": "yellow", "unknown": "magenta", "failed": "red", "unreachable": "red", "ok": "green"}


def _diff_text(text: str):
    from rich.text import Text

    out = Text()
    for line in text.splitlines():
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        out.append(line + "\n", style=style)
    return out


def render(plan: Plan, console) -> None:
    """Print the plan and its review on ``console``."""
    # Text from people, models and hosts is never rich markup: '[/red]' in a task message would raise.
    from rich.markup import escape as esc
    from rich.table import Table

    t = totals(plan)
    console.print(f"[bold]Plan {plan.id}[/bold]  {esc(plan.intent)}")
    console.print(f"planner: {plan.planner}   created: {plan.created_at}   inventory: {esc(plan.inputs.inventory)}"
                  + (f"   model: {esc(plan.model)}" if plan.model else "")
                  + (f"   revises: {plan.parent} (excluded {', '.join(plan.excluded)})" if plan.parent else ""))
    if plan.usage and (plan.usage.prompt_tokens or plan.usage.cost_usd is not None):
        cost = f", ${plan.usage.cost_usd:.4f}" if plan.usage.cost_usd is not None else ", cost unknown"
        console.print(f"drafting: {plan.usage.prompt_tokens or 0} + {plan.usage.completion_tokens or 0} tokens{cost}, "
                      f"{plan.usage.attempts} attempt(s)")
    if plan.explanation:
        console.print(plan.explanation, markup=False, highlight=False)
    if plan.refusal:
        console.print(f"[red]Refused:[/red] {esc(plan.refusal.reason)}", highlight=False)
        if plan.refusal.closest:
            console.print(f"  closest catalog entries: {esc(', '.join(plan.refusal.closest))}")
    for q in plan.questions:
        console.print(f"[bold]?[/bold] {esc(q.question)} [dim]Assumed:[/dim] {esc(q.assumption)}", highlight=False)
    steps = Table(title="Steps", title_justify="left")
    for col in ("#", "playbook", "risk", "limit", "hosts", "vars"):
        steps.add_column(col, overflow="fold")
    for i, s in enumerate(plan.steps):
        steps.add_row(str(i + 1), s.playbook, s.risk, esc(s.limit), str(len(s.hosts)),
                      esc(", ".join(f"{k}={v!r}" for k, v in s.vars.items())) or "-")
    if plan.steps:
        console.print(steps)
        for i, s in enumerate(plan.steps):
            if s.rationale:
                console.print(f"  step {i + 1}: {s.rationale}", markup=False, highlight=False)
    if plan.review.skipped:
        console.print("[yellow]No check run: made with --no-check; it cannot be applied.[/yellow]")
    else:
        hosts = Table(title="Check-mode review", title_justify="left")
        for col in ("host", "changed", "unknown", "failed", "ok", "skipped", "reachable"):
            hosts.add_column(col, justify="left" if col == "host" else "right")
        for host in hosts_of(plan):
            sums = [s.hosts[host] for s in plan.review.steps if host in s.hosts]
            hosts.add_row(esc(host), *(str(sum(getattr(x, k) for x in sums)) for k in ("changed", "unknown", "failed",
                                                                                 "ok", "skipped")),
                          "[red]no[/red]" if any(x.unreachable for x in sums) else "yes")
        console.print(hosts)
        for step in plan.review.steps:
            if step.error:
                console.print(f"[red]The run of {step.playbook} did not finish ({step.status}, rc {step.rc}):[/red]")
                console.print(step.error, markup=False, highlight=False)
            for task in step.tasks:
                if not interesting(task):
                    continue
                style = _STYLE.get(task.status, "")
                console.print(f"[{style}]{task.status:>9}[/{style}]  {esc(task.host)}  {esc(task.task)}"
                              + (f"  [dim]({esc(task.role)})[/dim]" if task.role else ""))
                if task.unknown_reason:
                    console.print(f"           [magenta]{esc(task.unknown_reason)}[/magenta]")
                if task.msg and task.status in ("failed", "unreachable"):
                    console.print(f"           [red]{esc(task.msg)}[/red]")
                for diff in task.diffs:
                    console.print(_diff_text(unified(diff)), end="")
        console.print(f"[bold]Total:[/bold] [yellow]{t['changed']} changed[/yellow], [magenta]{t['unknown']} unknown"
                      f"[/magenta] (check mode could not see), [red]{t['failed']} failed, {t['unreachable']} "
                      f"unreachable[/red], {t['ok']} ok")
    found = findings(plan)
    if found:
        import json

        console.print("[bold]Findings[/bold] (read-only steps ran for real):")
        for task in found:
            text = task.report if isinstance(task.report, str) else json.dumps(task.report, indent=2, sort_keys=True)
            console.print(f"[bold]{esc(task.host)}[/bold]  {esc(task.task)}")
            console.print(text, markup=False, highlight=False)
    if plan.manual:
        console.print("[bold]Manual checklist[/bold] (for you; never executed by the tool):")
        for m in plan.manual:
            console.print(f"  \\[ ] {esc(m.title)} — {esc(m.reason)}")
    for record in plan.applies:
        console.print(f"[bold]Applied[/bold] {record.started_at}: {record.status}")
        for host, outcome in record.hosts.items():
            style = _STYLE.get(outcome.outcome, "")
            shown = f"[{style}]{outcome.outcome}[/{style}]" if style else outcome.outcome
            console.print(f"  {esc(host)}: {shown}")
