"""``homelab inventory``: check the inventory people keep by hand."""

from __future__ import annotations

import click

from planner.commands._options import format_option, inventory_option, print_json


@click.group()
def inventory() -> None:
    """Check the inventory people keep by hand."""


@inventory.command()
@inventory_option()
# The old name, kept so scripts that use it go on working; hidden from --help, and it says what to use instead.
@click.option("--path", "old_path", metavar="DIR", hidden=True, help="Deprecated: use -i/--inventory.")
@format_option("text", "json")
def validate(inventory: str | None, old_path: str | None, fmt: str) -> None:
    """Check inventory YAML, hosts, groups and documented fields.

    Reports every problem as file:line:col and exits 2; writes nothing.

    \b
    Examples:
      homelab inventory validate
      homelab inventory validate -i tests/fixtures/inventory/valid/documented
      HOMELAB_INVENTORY=.homelab/lab/inventory homelab inventory validate
    """
    from planner.errors import InventoryError
    from planner.inventory.hosts import require_valid
    from planner.inventory.validate import check_inventory
    from planner.workspace import chosen_inventory

    if old_path is not None:
        if inventory is not None and inventory != old_path:
            raise click.UsageError("--path is the old name of -i/--inventory; give only -i")
        click.echo("Warning: --path is deprecated; use -i/--inventory (or $HOMELAB_INVENTORY).", err=True)
        inventory = old_path
    # The same rule as every other command: -i, then $HOMELAB_INVENTORY, then the project's inventory/.
    root = chosen_inventory(inventory)
    try:
        inv = check_inventory(root)
    except InventoryError as err:  # no inventory directory at all: nothing could be read
        if fmt == "json":
            print_json({"valid": False, "problems": [{"file": str(root), "line": None, "col": None,
                                                      "message": err.message}]})
        raise
    if inv.problems and fmt == "json":
        # Scripts read stdout: an invalid inventory is a document too; Error/Hint still go to stderr (exit 2).
        print_json({"valid": False, "problems": [{"file": p.location.path, "line": p.location.line,
                                                  "col": p.location.col, "message": p.message}
                                                 for p in inv.problems]})
    inv = require_valid(inv)
    hosts = sorted(inv.hosts)
    groups = sorted(g for g in inv.groups if g not in ("all", "ungrouped"))
    if fmt == "json":
        print_json({"valid": True, "hosts": hosts, "groups": groups, "not_checked": inv.encrypted})
        return
    click.echo(f"inventory OK: {len(hosts)} hosts in {len(groups)} groups ({', '.join(groups)})")
    if inv.encrypted:
        # Honest about what "OK" covers: the tool never decrypts, so these files' contents were not checked.
        click.echo(f"not checked (encrypted with ansible-vault): {', '.join(inv.encrypted)}")
