"""``homelab drift``: documented against discovered, per host and field."""

from __future__ import annotations

import sys

import click

from planner.commands._options import console, format_option, inventory_option, print_json


@click.command()
@inventory_option()
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when anything drifted (for CI).")
@format_option("text", "json", "markdown")
def drift(inventory: str | None, fail_on_drift: bool, fmt: str) -> None:
    """Compare what is documented with what discovery last found.

    Reads the inventory only (run `homelab facts` first to refresh it): link
    speeds below the documented ones, memory, GPU models, addresses, services
    documented but not running and running but not documented, hosts that
    could not be read, and hosts nobody documented.

    \b
    Exit codes: 0 compared (drift or not), 1 drift found with
    --fail-on-drift, 2 bad input.

    \b
    Examples:
      homelab drift
      homelab drift --format markdown >> "$GITHUB_STEP_SUMMARY"
      homelab drift --fail-on-drift
    """
    from rich.markup import escape  # findings quote what hosts report

    from planner.errors import HostsFailedError
    from planner.knowledge.drift import compute
    from planner.render.drift import drift_markdown
    from planner.workspace import Workspace

    ws = Workspace.find(inventory)
    report = compute(ws.inventory)
    if fmt == "json":
        print_json(report.as_dict())
    elif fmt == "markdown":
        sys.stdout.write(drift_markdown(report))
    else:
        out = console()
        if report.not_discovered:
            out.print(f"Never gathered (run `homelab facts`): {', '.join(report.not_discovered)}")
        if not report.findings:
            out.print(f"No drift on {len(report.hosts_compared)} host(s).")
        for f in report.findings:
            out.print(f"[yellow]{f.host}[/yellow] {f.field}: {escape(f.message)}")
    if fail_on_drift and report.findings:
        raise HostsFailedError(f"{len(report.findings)} drift finding(s)",
                               "fix the hosts or update their documentation in host_vars/, then `homelab facts`")
