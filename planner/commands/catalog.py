"""``homelab catalog``: the vetted playbooks a plan may use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from planner.commands._options import console, format_option, print_json
from planner.paths import project_root

if TYPE_CHECKING:
    from planner.catalog.entries import CatalogEntry


def entry_json(entry: CatalogEntry, full: bool = False) -> dict:
    """The JSON shape of an entry (stable; scripts rely on it)."""
    data: dict[str, Any] = {
        "id": entry.id,
        "playbook": f"playbooks/{entry.playbook.name}",
        "risk": entry.meta.risk,
        "tier": entry.meta.tier,
        "tags": list(entry.meta.tags),
        "summary": entry.summary,
    }
    if full:
        data["description"] = entry.meta.description
        data["examples"] = list(entry.meta.examples)
        data["variables"] = {name: opt.model_dump(exclude_none=True) for name, opt in entry.options.items()}
    return data


@click.group(invoke_without_command=True)
@format_option("table", "json")
@click.pass_context
def catalog(ctx: click.Context, fmt: str) -> None:
    """List the vetted playbooks a plan may use.

    \b
    Examples:
      homelab catalog
      homelab catalog --format json
      homelab catalog show gather_facts
    """
    if ctx.invoked_subcommand is not None:
        return
    from planner.catalog.entries import load_catalog

    cat = load_catalog(project_root())
    if fmt == "json":
        print_json([entry_json(e) for e in cat.entries.values()])
        return
    from rich.table import Table

    table = Table(title="Catalog", title_justify="left")
    for col in ("id", "risk", "tier", "variables", "summary"):
        table.add_column(col, overflow="fold")
    for entry in cat.entries.values():
        table.add_row(entry.id, entry.meta.risk, entry.meta.tier or "-", str(len(entry.options)), entry.summary)
    console().print(table)


@catalog.command()
@click.argument("entry_id", metavar="ID")
@format_option("text", "json")
def show(entry_id: str, fmt: str) -> None:
    """Show one playbook: what it does, examples and its variables.

    \b
    Example:
      homelab catalog show gather_facts --format json
    """
    from planner.catalog.entries import load_catalog

    entry = load_catalog(project_root()).get(entry_id)
    if fmt == "json":
        print_json(entry_json(entry, full=True))
        return
    from rich.table import Table

    out = console()
    out.print(f"[bold]{entry.id}[/bold]  risk: {entry.meta.risk}  tier: {entry.meta.tier or '-'}")
    out.print(entry.meta.description.strip())
    out.print("\n[bold]Examples[/bold]")
    for example in entry.meta.examples:
        out.print(f"  - {example}")
    table = Table(title="Variables", title_justify="left")
    for col in ("name", "type", "default", "required", "choices", "description"):
        table.add_column(col, overflow="fold")
    for name, opt in entry.options.items():
        desc = opt.description if isinstance(opt.description, str) else " ".join(opt.description)
        table.add_row(name, opt.type + (f"[{opt.elements}]" if opt.elements else ""), repr(opt.default),
                      "yes" if opt.required else "no", ", ".join(map(str, opt.choices or [])) or "-", desc)
    out.print(table)
    out.print(f"\nRun directly:  ansible-playbook -i inventory playbooks/{entry.playbook.name}")
