"""``homelab plans`` and ``homelab show``: the saved plans."""

from __future__ import annotations

from typing import Any

import click

from planner.commands._options import console, format_option, print_json
from planner.commands._plans import emit, review_format_options


@click.command()
@format_option("table", "json")
def plans(fmt: str) -> None:
    """List saved plans, oldest first.

    \b
    Example:
      homelab plans --format json
    """
    from planner.paths import project_root, state_dir
    from planner.plans import planfile

    root = project_root()
    unreadable: list = []
    found = planfile.list_plans(state_dir(root), unreadable)
    # A damaged plan file is named on stderr (stdout stays valid JSON/table), never silently left out.
    for path, why in unreadable:
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        click.echo(f"Warning: {shown} is not a readable plan file ({why}); it is not listed. "
                   "Remove it, or make the plan again.", err=True)
    rows: list[dict[str, Any]] = [
        {"id": p.id, "created_at": p.created_at, "status": p.status, "intent": p.intent, "planner": p.planner,
         "steps": [s.playbook for s in p.steps], "hosts": len({h for s in p.steps for h in s.hosts}),
         "parent": p.parent} for p in found]
    if fmt == "json":
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title="Plans", title_justify="left")
    for col in ("id", "created", "status", "steps", "hosts", "parent", "intent"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["id"], r["created_at"], r["status"], ", ".join(r["steps"]), str(r["hosts"]),
                      r["parent"] or "-", r["intent"])
    console().print(table)


@click.command()
@click.argument("plan_ref", metavar="ID|latest", default="latest")
@click.option("--host", "hosts", multiple=True, metavar="HOST",
              help="Only this host's full review, every task one by one (repeat for several hosts).")
@review_format_options
def show(plan_ref: str, hosts: tuple[str, ...], fmt: str, output: str | None) -> None:
    """Show a saved plan and its review in any format.

    The review is grouped: a task with the same outcome on several hosts is shown
    once, with the hosts it applies to. --host gives one host's full review.

    \b
    Examples:
      homelab show latest
      homelab show 7f3a --host maas
      homelab show 7f3a --format markdown -o review.md
      homelab show 7f3a --format html -o review.html
    """
    from planner.paths import project_root, state_dir
    from planner.plans import planfile

    plan = planfile.load(state_dir(project_root()), plan_ref)
    if hosts:
        plan = _only(plan, hosts)
    for path in emit(plan, fmt, output, per_host=bool(hosts)):
        console(stderr=True).print(f"Wrote {path}")


def _only(plan, hosts: tuple[str, ...]):
    """The plan cut down to ``hosts``; a host the plan does not touch is bad input (exit 2)."""
    from planner.errors import HomelabError, did_you_mean
    from planner.render.grouping import for_hosts, ordered_hosts

    known = ordered_hosts(plan)
    for host in hosts:
        if host not in known:
            raise HomelabError(f"plan {plan.id} does not touch host {host!r}" + did_you_mean(host, known),
                               f"its hosts are: {', '.join(known) or 'none'}")
    return for_hosts(plan, list(hosts))
