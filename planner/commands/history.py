"""``homelab history``: read the session logs; with ``--host``, that host's thread (diagnoses, fixes, approvals)."""

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
@click.option("--host", metavar="HOST",
              help="The host's thread: its session entries with what was diagnosed and fixed there (knowledge base).")
@click.option("--since", metavar="YYYY-MM-DD", callback=_date, help="Only entries from this day on.")
@format_option("text", "json")
def history(host: str | None, since: dt.date | None, fmt: str) -> None:
    """Show what happened: plans, decisions, refusals and applies, from docs/sessions/.

    With --host, the thread of that host, oldest first: the session entries that
    concern it, and from docs/knowledge-base.yml what each diagnosis found, each
    fix did and how it went, with who approved it (a person, or the policy rule).

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

    if host is not None:
        _thread(host, since, fmt)
        return
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


def _thread(host: str, since: dt.date | None, fmt: str) -> None:
    """``--host``: the session entries and knowledge-base occurrences of one host, in time order."""
    from rich.markup import escape  # logged and host-reported text is never markup

    from planner.knowledge.thread import thread
    from planner.paths import project_root

    items = thread(project_root(), host, since)
    if fmt == "json":
        print_json([i.as_dict() for i in items])
        return
    out = console()
    if not items:
        out.print(f"Nothing recorded for {host}" + (f" since {since}" if since else "") + ".")
    for i in items:
        plan = f" plan {i.plan}" if i.plan else ""
        what = f"{i.symptom}: {i.summary}" if i.symptom else i.summary
        out.print(f"[bold]{i.time}[/bold] {i.kind}{plan}: {escape(what)}")
        if i.intent:
            out.print(f"    intent: {escape(i.intent)}")
        if i.decision and i.kind != "approval":
            out.print(f"    decision: {escape(i.decision)}")
        if i.outcome:
            out.print("    outcome: " + escape(", ".join(f"{h} {o}" for h, o in sorted(i.outcome.items()))))
        if i.approved_by:
            out.print(f"    approved: {escape(i.approved_by)}")
        elif i.kind == "approval" and i.decision:
            out.print(f"    approved: {escape(i.decision)}")
        if i.issue:
            out.print(f"    known issue: {escape(i.issue)} (docs/knowledge-base.yml)")
