"""``homelab history``: read the session logs."""

from __future__ import annotations

import datetime as dt

import click

from planner.commands._options import console, format_option, print_json


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


@click.command()
@click.option("--host", metavar="HOST", help="Only entries that concern this host.")
@click.option("--since", metavar="YYYY-MM-DD", callback=_date, help="Only entries from this day on.")
@format_option("text", "json")
def history(host: str | None, since: dt.date | None, fmt: str) -> None:
    """Show what happened: plans, decisions, refusals and applies, from docs/sessions/.

    \b
    Exit codes: 0 shown (even when nothing matched), 2 bad input.

    \b
    Examples:
      homelab history --since 2026-11-01
      homelab history --host k3s-vm-still-fawn --format json
    """
    from dataclasses import asdict

    from rich.markup import escape  # logged text is never markup

    from planner.knowledge.sessions import read
    from planner.paths import project_root

    entries = read(project_root(), since=since, host=host)
    if fmt == "json":
        print_json([asdict(e) for e in entries])
        return
    out = console()
    if not entries:
        out.print("No session entries" + (f" for {host}" if host else "") + (f" since {since}" if since else "") + ".")
    for e in entries:
        plan = f" plan {e.plan}" if e.plan else ""
        out.print(f"[bold]{e.time}[/bold] {e.kind}{plan}: {escape(e.summary)}")
        if e.intent:
            out.print(f"    intent: {escape(e.intent)}")
        if e.decision:
            out.print(f"    decision: {escape(e.decision)}")
        if e.outcome:
            out.print("    outcome: " + ", ".join(f"{h} {o}" for h, o in sorted(e.outcome.items())))
