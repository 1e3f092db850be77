"""``homelab inventory``: check the inventory people keep by hand."""

from __future__ import annotations

import click

from planner.commands._options import format_option, print_json
from planner.paths import project_root


@click.group()
def inventory() -> None:
    """Check the inventory people keep by hand."""


@inventory.command()
@click.option("--path", "inv_path", type=click.Path(file_okay=False), default=None,
              help="Inventory directory (default: inventory/ of the project).")
@format_option("text", "json")
def validate(inv_path: str | None, fmt: str) -> None:
    """Check inventory YAML, hosts, groups and documented fields.

    Reports every problem as file:line:col and exits 2; writes nothing.

    \b
    Examples:
      homelab inventory validate
      homelab inventory validate --path tests/fixtures/inventory/valid/minimal
    """
    from pathlib import Path

    from planner.inventory_check import validate_inventory

    root = Path(inv_path) if inv_path else project_root() / "inventory"
    inv = validate_inventory(root)
    hosts = sorted(inv.hosts)
    groups = sorted(g for g in inv.groups if g not in ("all", "ungrouped"))
    if fmt == "json":
        print_json({"valid": True, "hosts": hosts, "groups": groups})
        return
    click.echo(f"inventory OK: {len(hosts)} hosts in {len(groups)} groups ({', '.join(groups)})")
