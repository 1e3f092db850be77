"""``homelab docs``: the markdown docs regenerated from inventory, facts, catalog, knowledge base and sessions."""

from __future__ import annotations

import sys

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
    from planner.knowledge.loop import regenerate
    from planner.workspace import Workspace

    ws = Workspace.find(inventory)
    update = regenerate(ws, write=not check)
    for path in update.changed:
        sys.stderr.write(update.diffs.get(path, ""))
    changed = update.changed
    generated = docsgen.DOCS
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


def keeping_docs_current(ws, err, diffs: bool = False):
    """The command's knowledge recorder (:func:`planner.knowledge.loop.recording`): every session-log
    entry and fact it writes regenerates the docs made from them, shown here on stderr."""
    from planner.knowledge.loop import recording

    return recording(ws, on_docs=lambda update: show_docs_update(err, update, diffs),
                     on_findings=lambda found: show_findings(err, found))


def show_docs_update(err, update, diffs: bool = False) -> None:
    """Which docs a write regenerated (with their diffs when asked), or a warning that it could not."""
    from rich.markup import escape

    if update.problem is not None:
        err.print(f"[yellow]Warning:[/yellow] the docs were not regenerated: {escape(update.problem.message)}")
        for detail in update.problem.details:
            err.print(f"  {escape(detail)}")
        err.print(f"Hint:  {escape(update.problem.hint or 'fix it')}, then run `homelab docs`; "
                  "what this command did stands.")
        return
    for path in update.changed:
        if diffs:
            sys.stderr.write(update.diffs.get(path, ""))
        err.print(f"  doc updated: {path}")
    if diffs and not update.changed:
        err.print("  docs unchanged")


def show_findings(err, found) -> None:
    """What a plan's read step wrote into the inventory's discovered blocks."""
    from rich.markup import escape

    if found.result is None:
        err.print(f"[yellow]Facts from {found.playbook} not written:[/yellow] {escape(found.problem or '')}")
        return
    for host in found.result.written:
        if host not in found.result.stale:  # a host marked stale is written too, and said so below
            err.print(f"  facts updated by {found.playbook}: {host}")
    for host, since in found.result.stale.items():
        err.print(f"  [yellow]facts not read[/yellow] by {found.playbook}: {host} (stale since {since})")
    for host, why in found.result.skipped.items():
        err.print(f"  [yellow]facts not written[/yellow]: {host}: {escape(why)}")
    for line in found.learned:
        err.print(f"  knowledge base: {escape(line)}")
    if found.learn_problem is not None:
        err.print(f"[yellow]knowledge base: not written:[/yellow] {escape(found.learn_problem)}")
