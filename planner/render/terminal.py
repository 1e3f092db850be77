"""The review in a terminal (rich): per-host summary, coloured diffs, unknowns, manual items."""

from __future__ import annotations

from planner.plans.planfile import Plan, StepReview
from planner.render import findings, totals, unified
from planner.render.grouping import (
    HOST_PLACEHOLDER,
    TaskGroup,
    closest,
    groups,
    host_label,
    host_rows,
    on_hosts,
    report_text,
    step_hosts,
    summary,
)

_STYLE = {"changed": "yellow", "unknown": "magenta", "failed": "red", "unreachable": "red", "ok": "green"}


def _diff_text(text: str):
    from rich.text import Text

    out = Text()
    for line in text.splitlines():
        if line.startswith("~ "):  # a later variant's marker, maybe with the one line it stands for
            marker, sep, rest = line.partition(": ")
            out.append(marker + sep, style="dim cyan")
            line = rest
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        out.append(line + "\n", style=style)
    return out


def _host_table(plan: Plan, console) -> None:
    """Per-host counts, hosts with identical counts on one row (failed and unreachable ones alone)."""
    from rich import box
    from rich.markup import escape as esc
    from rich.table import Table

    table = Table(title="Check-mode review", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for col in ("hosts", "changed", "unknown", "failed", "ok", "skipped", "reachable"):
        table.add_column(col, justify="left" if col == "hosts" else "right", overflow="fold")
    for row in host_rows(plan):
        table.add_row(esc(host_label(row)), *(str(getattr(row, k)) for k in ("changed", "unknown", "failed", "ok",
                                                                             "skipped")),
                      "[red]no[/red]" if row.unreachable else "yes")
    console.print(table)


def _group(group: TaskGroup, earlier: list[TaskGroup], among: list[str], console) -> None:
    """One task's outcome, once, with the hosts it applies to. A task with several outcomes (variants)
    gets a title line, then each variant under it, a later one as its difference from the closest earlier."""
    from rich.markup import escape as esc

    style = _STYLE.get(group.status, "")
    title = (f"[{style}]{group.status:>9}[/{style}]  {esc(group.task)}"
             + (f"  [dim]({esc(group.role)})[/dim]" if group.role else ""))
    where = f"[bold]{esc(on_hosts(group.hosts, among))}[/bold]"
    if group.variants == 1:
        console.print(f"{title}  {where}" + (f"  [dim]({HOST_PLACEHOLDER}: the host's name)[/dim]"
                                              if group.named else ""))
        _details(group.status, group.unknown_reason, group.msg, group.diffs, console)
        return
    if group.variant == 1:
        console.print(f"{title}  [dim]{group.variants} variants"
                      + (f" ({HOST_PLACEHOLDER}: the host's name)" if group.named else "") + "[/dim]")
    near = closest(earlier, group)
    console.print(f"{'':11}[dim]{group.variant}/{group.variants}[/dim] {where}"
                  + (f", [dim]as {near[0].variant} except:[/dim]" if near else ":"))
    if near is not None:
        console.print(_diff_text(near[1]), end="")
        return
    _details(group.status, group.unknown_reason, group.msg, group.diffs, console)


def _details(status: str, reason: str | None, msg: str | None, diffs, console) -> None:
    from rich.markup import escape as esc

    if reason:
        console.print(f"           [magenta]{esc(reason)}[/magenta]")
    if msg and status in ("failed", "unreachable"):
        console.print(f"           [red]{esc(msg)}[/red]")
    for text in diffs:
        console.print(_diff_text(text), end="")


def _every_task(step: StepReview, console) -> None:
    """Every result of the step one by one, ok and skipped ones included (one host's full review)."""
    from rich.markup import escape as esc

    console.print(f"[bold]{esc(step.playbook)}[/bold]")
    for task in step.tasks:
        style = _STYLE.get(task.status, "dim")
        console.print(f"[{style}]{task.status:>9}[/{style}]  {esc(task.host)}  {esc(task.task)}"
                      + (f"  [dim]({esc(task.role)})[/dim]" if task.role else ""))
        _details(task.status, task.unknown_reason, task.msg, [unified(d) for d in task.diffs], console)
        if task.report is not None:
            console.print(report_text(task.report), markup=False, highlight=False)


def render(plan: Plan, console, per_host: bool = False) -> None:
    """Print the plan and its review on ``console``: grouped by identical outcome, or with ``per_host``
    every task of every host one by one (``homelab show --host``)."""
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
    from rich import box

    steps = Table(title="Steps", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
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
        _host_table(plan, console)
        for step in plan.review.steps:
            if step.error:
                console.print(f"[red]The run of {step.playbook} did not finish ({step.status}, rc {step.rc}):[/red]")
                console.print(step.error, markup=False, highlight=False)
            if per_host:
                _every_task(step, console)
                continue
            console.print(f"[bold]{esc(summary(plan, step).line())}[/bold]")
            among = step_hosts(plan, step)
            earlier: list[TaskGroup] = []  # the variants of the current task shown so far
            for group in groups(step, among):
                earlier = earlier if group.variant > 1 else []
                if group.report is None:
                    _group(group, earlier, among, console)
                earlier.append(group)
        console.print(f"[bold]Total:[/bold] [yellow]{t['changed']} changed[/yellow], [magenta]{t['unknown']} unknown"
                      f"[/magenta] (check mode could not see), [red]{t['failed']} failed, {t['unreachable']} "
                      f"unreachable[/red], {t['ok']} ok")
    if findings(plan) and not per_host:  # per host, reports are shown with their tasks
        console.print("[bold]Findings[/bold] (read-only steps ran for real):")
        for step in plan.review.steps:
            among = step_hosts(plan, step)
            for group in groups(step, among):
                if group.report is not None:
                    console.print(f"[bold]{esc(group.task)}[/bold]  {esc(on_hosts(group.hosts, among))}")
                    console.print(group.report, markup=False, highlight=False)
    for path in plan.review.documents:
        console.print(f"[bold]Report filed:[/bold] {esc(path)}")
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
