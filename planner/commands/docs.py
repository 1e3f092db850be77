"""``homelab docs``: the markdown docs regenerated from inventory, facts, catalog, knowledge base and sessions."""

from __future__ import annotations

import click

from planner.commands._options import console, format_option, inventory_option, print_json


@click.command()
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a doc is out of date (for CI).")
@inventory_option()
@format_option("text", "json")
def docs(check: bool, inventory: str | None, fmt: str) -> None:
    """Regenerate docs/INFRASTRUCTURE.md, SERVICES.md, PROCEDURES.md and TROUBLESHOOTING.md.

    Built from the inventory (with the facts discovery wrote into it), the
    catalog's sidecars, docs/knowledge-base.yml and the session logs. Text
    between `<!-- hand-written: NAME -->` and `<!-- end hand-written: NAME -->`
    is kept as it is; the rest of each file is rewritten. The same inputs
    always give the same bytes, and a doc that would not change is not
    touched. Changed docs are listed on stdout, their diffs go to stderr.

    \b
    Exit codes: 0 docs written (or up to date with --check), 1 a doc is out
    of date with --check, 2 bad input (inventory, catalog or knowledge base).

    \b
    Examples:
      homelab docs
      homelab docs --check          # in CI: are the committed docs current?
      homelab docs -i .homelab/lab/inventory --format json
    """
    from planner.knowledge import docsgen
    from planner.workspace import Workspace

    ws = Workspace.find(inventory)
    generated, changed = _generate(ws, write=not check)
    unchanged = [p for p in sorted(generated) if p not in changed]
    if fmt == "json":
        print_json({"check": check, "changed" if not check else "stale": changed, "unchanged": unchanged})
    elif not check:
        out = console()
        for path in changed:
            out.print(f"updated   {path}")
        if not changed:
            console(stderr=True).print(f"All {len(generated)} docs are up to date.")
    if check:
        if changed:
            raise docsgen.DocsStaleError(f"{len(changed)} doc(s) out of date: {', '.join(changed)}",
                                         "run `homelab docs` and commit the result", details=changed)
        if fmt != "json":
            console(stderr=True).print(f"All {len(generated)} docs are up to date.")


def _generate(ws, write: bool) -> tuple[dict[str, str], list[str]]:
    """Generate every doc, show each changed one's diff on stderr, and write them unless told not to."""
    import sys

    from planner.knowledge import docsgen

    generated = docsgen.generate(ws.root, ws.inventory)
    changed = docsgen.stale(ws.root, generated)
    for path in changed:
        sys.stderr.write(docsgen.diff(ws.root, path, generated[path]))
    if write:
        changed = docsgen.write(ws.root, generated)
    return generated, changed


def regenerate(ws, err) -> list[str]:
    """After an apply: rewrite the docs and tell the person which changed (their diffs go to stderr)."""
    _generated, changed = _generate(ws, write=True)
    for path in changed:
        err.print(f"  doc updated: {path}")
    if not changed:
        err.print("  docs unchanged")
    return changed
