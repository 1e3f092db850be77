"""``homelab rca``: an incident review from a diagnosis and its fix; ``homelab rca validate FILE``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from planner.commands._options import console, format_option, inventory_option, print_json
from planner.errors import HomelabError


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="PLAN_ID | validate FILE")
@click.option("--since", metavar="YYYY-MM-DD", help="Every diagnosis from this day on that found something.")
@click.option("--host", metavar="HOST", help="With --since: only what was found on this host.")
@inventory_option()
@format_option("text", "json")
def rca(args: tuple[str, ...], since: str | None, host: str | None, inventory: str | None, fmt: str) -> None:
    """Write an incident review (RCA) from a diagnosis plan, the fix applied after it and the session log.

    The review goes to docs/rca/YYYY-MM-DD-<symptom>-<host>.md (the day of the
    first evidence; -2, -3 … when that name is taken), status draft: Summary,
    Impact, Timeline, Detection, Root cause, Resolution, Prevention,
    Follow-ups. Every claim names its evidence (plan id, a host's reported
    value, a finding with its evidence, a session-log line); what the data does
    not say is asked ("> To confirm: …"). Answer those, then validate it:
    `homelab rca validate FILE` marks it validated (by git's user.name, else
    $USER), records its known issue in docs/knowledge-base.yml and regenerates
    TROUBLESHOOTING.md and PROCEDURES.md. docs/rca/README.md has the format.

    \b
    Exit codes: 0 written (or validated); 2 bad input: an unknown plan, a plan
    with no read step or no findings, a date unreadable or in the future,
    nothing found since it, a review with a missing or empty section (nothing
    written); 4 refused: the review was validated already (file untouched).

    \b
    Examples:
      homelab rca 1a2b3c4d
      homelab rca --since 2026-12-01 --host k3s-vm-still-fawn
      homelab rca validate docs/rca/2026-12-06-cpu-runaway-k3s-vm-still-fawn.md
    """
    from planner.workspace import Workspace

    if args and args[0] == "validate":
        if len(args) != 2 or since or host:
            raise HomelabError("validate takes one FILE and no --since or --host",
                               "homelab rca validate docs/rca/FILE.md")
        _validate(Workspace.find(inventory), Path(args[1]), fmt)
        return
    if len(args) > 1 or (args and since) or not (args or since):
        raise HomelabError("give one plan id, or --since DATE", "homelab rca PLAN_ID, or homelab rca --since "
                           "YYYY-MM-DD [--host HOST]; homelab plans lists the plans")
    if host and not since:
        raise HomelabError("--host goes with --since", "homelab rca --since YYYY-MM-DD --host HOST")
    _write(Workspace.find(inventory), args[0] if args else None, since, host, fmt)


def _write(ws, plan: str | None, since: str | None, host: str | None, fmt: str) -> None:
    from planner.knowledge.rca import document, evidence

    if plan is not None:
        found = evidence.from_plan(ws.root, ws.state, plan)
    else:
        day = evidence.parse_since(since or "", dt.datetime.now(dt.UTC).date())
        found = evidence.since(ws.root, ws.state, day, host)
    path = document.write(ws.root, found)
    shown = path.relative_to(ws.root).as_posix()
    questions = path.read_text(encoding="utf-8").count(document.TO_CONFIRM)
    if fmt == "json":
        print_json({"path": shown, "status": "draft", "plans": found.plans, "hosts": found.hosts,
                    "questions": questions})
        return
    console().print(shown)
    console(stderr=True).print(f"Draft written: {len(found.findings)} finding(s) from {len(found.plans)} plan(s); "
                               f"{questions} question(s) to answer, then `homelab rca validate {shown}`.")


def _validate(ws, path: Path, fmt: str) -> None:
    from planner.knowledge.rca.validate import validate

    done = validate(ws, path)
    if fmt == "json":
        print_json({"path": str(path), "status": "validated", "issue": done.issue, "validated_by": done.validated_by,
                    "validated_at": done.validated_at, "docs": done.docs, "docs_problem": done.docs_problem})
        return
    console().print(f"validated {path}")
    err = console(stderr=True)
    err.print(f"Recorded as known issue {done.issue} in docs/knowledge-base.yml.", markup=False)
    for doc in done.docs:
        err.print(f"updated   {doc}", markup=False)
    if done.docs_problem:
        err.print(f"Warning: the docs were not regenerated: {done.docs_problem}", markup=False)
    if done.questions:
        err.print(f"Note: {done.questions} '> To confirm:' question(s) are still in the review.", markup=False)
