"""``homelab facts``: read the hosts and write what they are into the inventory."""

from __future__ import annotations

import click

from planner.commands._options import console, format_option, inventory_option, print_json


@click.command()
@click.option("--limit", "-l", "limit", default="all", show_default=True, metavar="PATTERN",
              help="Which hosts to read (an Ansible host pattern).")
@inventory_option()
@format_option("text", "json")
def facts(limit: str, inventory: str | None, fmt: str) -> None:
    """Gather facts from the hosts and write them back into the inventory.

    Each host's findings go under a machine-owned `discovered:` key in its
    host_vars file (host_vars/<host>/discovered.yml when the host keeps a
    directory). Only what changed is rewritten; comments, order and the
    person's own keys are left byte for byte. Hosts that cannot be reached
    keep their last facts, marked stale since the first failure. The docs
    made from facts are regenerated; pending plans stay applyable (the
    discovered blocks are not among a plan's inputs).

    \b
    Exit codes: 0 every host read, 1 some hosts unreachable or failed,
    2 bad input, 4 another apply holds the inventory.

    \b
    Examples:
      homelab facts
      homelab facts -l k3s --format json
    """
    from rich.markup import escape

    from planner.commands.docs import keeping_docs_current
    from planner.errors import HostsFailedError
    from planner.plans.digests import display_path
    from planner.plans.stepcheck import resolve_hosts
    from planner.workspace import Workspace

    ws = Workspace.find(inventory)
    hosts = resolve_hosts(ws.inventory, limit)
    err = console(stderr=True)
    err.print(f"Gathering facts from {len(hosts)} host(s)…")
    # The docs made from facts (INFRASTRUCTURE.md, SERVICES.md) follow what was written.
    with keeping_docs_current(ws, err) as recorder:
        result = recorder.gather(hosts, notice=err.print)
        if fmt == "json":
            root = ws.root.resolve()
            print_json({"written": {h: display_path(p, root) for h, p in result.written.items()},
                        "unchanged": result.unchanged,
                        "stale": result.stale, "skipped": result.skipped})
        else:
            for host, path in result.written.items():
                err.print(f"  [green]updated[/green]   {host}: {display_path(path, ws.root.resolve())}")
            for host in result.unchanged:
                err.print(f"  unchanged {host}")
            for host, since in result.stale.items():
                err.print(f"  [red]stale[/red]     {host}: could not be read; keeping its facts, stale since {since}")
            for host, why in result.skipped.items():
                err.print(f"  [red]skipped[/red]   {host}: {escape(why)}")
        if result.stale or result.skipped:
            raise HostsFailedError(f"{len(result.stale) + len(result.skipped)} host(s) could not be read or written",
                                   "see the lines above; `homelab lab status` or ssh shows whether a host is up")
