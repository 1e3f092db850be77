"""``homelab schedule`` (list, cancel) and the two ends of ``homelab apply --at``: scheduling and the fired job."""

from __future__ import annotations

import datetime as dt

import click

from planner.commands._options import console, format_option, print_json
from planner.errors import ExitCode, HomelabError


@click.group(invoke_without_command=True)
@format_option("text", "json")
@click.pass_context
def schedule(ctx: click.Context, fmt: str) -> None:
    """List scheduled applies: plan, when, backend and state.

    A state is waiting, missed (not fired 10 minutes after its time), running,
    ran (with the apply's outcome, or why it was refused) or cancelled. Each
    run's output is in the log it names.

    \b
    Exit codes: 0 listed or cancelled, 2 unknown id, 3 the backend failed,
    4 refused (already fired, already cancelled).

    \b
    Examples:
      homelab apply 7f3a --at "fri 22:00"   # schedule one
      homelab schedule                      # list them
      homelab schedule cancel 7f3a          # take it back before it fires
    """
    if ctx.invoked_subcommand is not None:
        return
    from planner.paths import project_root, state_dir
    from planner.schedule.store import list_all
    from planner.schedule.when import shown

    records = list_all(state_dir(project_root()))
    if fmt == "json":
        print_json([{**r.model_dump(mode="json"), "shown_state": r.shown_state()} for r in records])
        return
    out = console()
    if not records:
        out.print('No scheduled applies. Schedule one with homelab apply ID --at "fri 22:00".')
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("plan", "when", "backend", "state", "intent", box=None, pad_edge=False)
    for r in records:
        table.add_row(r.plan, shown(dt.datetime.fromisoformat(r.run_at)), f"{r.backend} {r.job}",
                      escape(r.shown_state()), escape(r.intent))
    out.print(table)


@schedule.command()
@click.argument("plan_id", metavar="ID")
def cancel(plan_id: str) -> None:
    """Cancel a scheduled apply before it fires (atrm, or stop its timer).

    \b
    Examples:
      homelab schedule cancel 7f3a
    """
    from planner.commands.docs import keeping_docs_current
    from planner.paths import project_root, state_dir
    from planner.plans import planfile
    from planner.schedule.runs import cancel as cancel_run
    from planner.workspace import Workspace

    root = project_root()
    state = state_dir(root)
    record = cancel_run(state, plan_id)
    err = console(stderr=True)
    err.print(f"Cancelled the scheduled apply of plan {record.plan} ({record.backend} job {record.job}).")
    # The session log says so too, through the recorder, so the docs made from the log stay current.
    plan = planfile.load(state, record.plan, verify=False)
    with keeping_docs_current(Workspace.find(str(root / plan.inputs.inventory)), err) as recorder:
        recorder.log_event("schedule", f"Scheduled apply of plan {record.plan} at {record.run_at} cancelled "
                           f"({record.backend} job {record.job}).", plan, decision="cancelled by the person")


def schedule_apply(recorder, plan, yes: bool, fmt: str, err, when_text: str, run_at: dt.datetime,
                   scheduler: str | None) -> None:
    """``homelab apply ID --at WHEN``: the same refusals and approval as an apply, then the job left to a backend."""
    from planner.commands.apply import applyable_steps, ask_approval
    from planner.schedule import backends
    from planner.schedule.runs import schedule_plan
    from planner.schedule.when import shown

    if not applyable_steps(recorder, plan, err):
        raise HomelabError(f"plan {plan.id} has nothing to schedule: every step is read-only and ran during review",
                           "homelab show " + plan.id + " has its findings")
    backend = backends.choose(scheduler)  # before the question: a yes must not be asked for nothing
    when = shown(run_at)
    decision = ask_approval(recorder, plan, yes, err, f"Apply plan {plan.id} at {when}?",
                            f'homelab apply {plan.id} --at "{when_text}" --yes')
    record = schedule_plan(recorder.ws, plan, when_text, run_at, backend, decision)
    recorder.log_event("approval", f"Plan {plan.id} approved for a scheduled apply at {when} ({backend} job "
                       f"{record.job}).", plan, decision=f"{decision}, scheduled for {when}")
    if fmt == "json":
        print_json(record.model_dump(mode="json"))
    err.print(f"Scheduled plan {plan.id} for {when} ({backend} job {record.job}); it rechecks the hosts first. "
              f"Output: {record.log}. Cancel: homelab schedule cancel {plan.id}")


def run_scheduled(state, plan_id: str, inventory: str | None, fmt: str) -> None:
    """``homelab apply ID --scheduled``, as the fired job runs it: the recorded approval, a recheck, the apply."""
    from planner.commands.apply import apply_now
    from planner.commands.docs import keeping_docs_current
    from planner.paths import project_root
    from planner.plans import planfile
    from planner.schedule.runs import begin_run, finish_run
    from planner.workspace import Workspace

    record = begin_run(state, plan_id)
    err = console(stderr=True)
    err.print(f"{planfile.now()} scheduled run of plan {record.plan} ({record.when!r}) fired")
    outcome = "error"
    try:
        plan = planfile.load(state, record.plan)
        ws = Workspace.find(inventory or str(project_root() / plan.inputs.inventory))
        label = f"scheduled run for {record.when!r}, {record.approval} at {record.created_at}"
        with keeping_docs_current(ws, err, diffs=True) as recorder:
            apply_now(recorder, plan, True, fmt, err, True, scheduled=label)
        outcome = _last_status(state, record.plan) or "nothing to apply"
    except HomelabError as problem:
        outcome = ("refused: " if problem.exit_code == ExitCode.REFUSED else "error: ") + problem.message
        raise
    except SystemExit:
        outcome = _last_status(state, record.plan) or "error"
        raise
    finally:
        finish_run(state, record.plan, outcome)
        err.print(f"{planfile.now()} scheduled run of plan {record.plan} ended: {outcome}")


def _last_status(state, plan_id: str) -> str | None:
    """The status of the plan's last apply, as its plan file records it."""
    from planner.plans import planfile

    applies = planfile.load(state, plan_id, verify=False).applies
    return applies[-1].status if applies else None
