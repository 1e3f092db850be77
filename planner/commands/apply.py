"""``homelab apply``: run exactly the reviewed plan, after the person says yes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from planner.commands._options import console, inventory_option
from planner.commands._plans import emit
from planner.errors import ExitCode, HomelabError


@click.command()
@click.argument("plan_ref", metavar="[ID|latest]", default="latest")
@click.option("--yes", "-y", is_flag=True, help="Approve without asking (required without a terminal).")
@inventory_option("the one the plan was made against")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json prints the plan document with its apply record on stdout.")
@click.option("--recheck", is_flag=True,
              help="Check the hosts again first; refuse (exit 4) when they no longer match the review.")
@click.option("--at", "at", metavar="WHEN",
              help='Schedule the apply instead of running it now: "fri 22:00", "tomorrow 06:30", "2026-12-11 22:00", '
                   '"now + 5 minutes" or systemd calendar syntax. It will --recheck first.')
@click.option("--scheduler", type=click.Choice(["systemd", "at"]),
              help="With --at: the backend (default: the systemd timer where systemd answers, else at).")
@click.option("--scheduled", is_flag=True, hidden=True,
              help="Run by the job that --at leaves: applies with the approval recorded at scheduling.")
@click.option("--auto-approve-policy", "auto_approve", is_flag=True,
              help="No prompt when .homelab/policy.yml covers the plan; otherwise it asks (or takes --yes) as usual.")
@click.option("--timeout", "timeout_s", type=click.IntRange(min=1), metavar="SECONDS",
              help="Stop the apply (every change step together) after this long; the plan records it, and the "
                   "hosts' outcome is then unknown (exit 1). Default: no bound.")
def apply(plan_ref: str, yes: bool, inventory: str | None, fmt: str, recheck: bool, at: str | None,
          scheduler: str | None, scheduled: bool, auto_approve: bool, timeout_s: int | None) -> None:
    """Apply a reviewed plan.

    Refuses a plan whose inputs changed since review (naming each file), a
    plan edited by hand, and a second apply on the same inventory while one
    runs. Manual checklist items are shown, never executed. Ctrl-C (or
    SIGTERM) cancels cleanly and marks the plan interrupted; a second one
    stops the run at once. --timeout SECONDS bounds the whole apply: past
    it the run is stopped, and the apply record says so (timed_out) with
    every host's outcome unknown.

    What the hosts did that the review did not show (a change where it said
    ok, a failure, a task it never ran) is listed under "Not in the review:",
    counted in the last line and in the apply record (applies[-1].surprises,
    surprise_count). Surprises alone do not change the exit code. A late or
    scheduled apply can --recheck: a fresh check first, and nothing is changed
    when the hosts no longer match the review.

    With --auto-approve-policy a plan the approval policy covers
    (.homelab/policy.yml; `homelab policy check ID` says why or why not)
    is applied without the prompt, and the session log names the rule;
    any other plan asks as usual.

    \b
    With --at WHEN nothing runs now: after the same checks and the same
    approval, the apply is left to a systemd timer (or at) and runs then,
    rechecking the hosts first; `homelab schedule` lists scheduled runs.

    \b
    Exit codes: 0 applied (or scheduled), 1 hosts failed or outcome unknown,
    2 bad input, 3 no scheduler, 4 refused (stale, edited, locked, already
    applied, recheck differs, already scheduled), 130 interrupted (Ctrl-C,
    SIGTERM).

    \b
    Examples:
      homelab apply              # the latest plan, asks y/N
      homelab apply 7f3a --yes   # for scripts and CI
      homelab apply 7f3a --yes --recheck   # a late apply, hours after the review
      homelab apply 7f3a --yes --timeout 1800   # stop it if it runs longer than 30 minutes
      homelab apply 7f3a --at "fri 22:00"  # asks y/N now, applies on Friday night
      homelab apply 7f3a --auto-approve-policy  # no prompt where the policy pre-approved it
    """
    from planner.commands.docs import keeping_docs_current
    from planner.paths import project_root, state_dir
    from planner.plans import planfile
    from planner.workspace import Workspace

    if scheduled and (at or yes):
        raise HomelabError("--scheduled is the scheduled job's own option and takes neither --at nor --yes",
                           "schedule with homelab apply ID --at WHEN")
    if scheduler and not at:
        raise HomelabError("--scheduler goes with --at", 'homelab apply ID --at "fri 22:00" --scheduler at')
    if timeout_s is not None and (scheduled or at):
        raise HomelabError("--timeout bounds an apply that runs now; a scheduled apply runs unbounded",
                           "homelab apply ID --timeout SECONDS, without --at")
    if auto_approve and (scheduled or at):
        raise HomelabError("--auto-approve-policy applies now; a scheduled apply keeps the approval given with --at",
                           "homelab apply ID --auto-approve-policy, or homelab apply ID --at WHEN")
    run_at = None
    if at is not None:
        from planner.schedule.when import resolve

        run_at = resolve(at)  # a WHEN that cannot be read stops here, before any question
    state = state_dir(project_root())
    if scheduled:
        from planner.commands.schedule import run_scheduled

        run_scheduled(state, plan_ref, inventory, fmt)
        return
    plan = planfile.load(state, plan_ref)
    ws = Workspace.find(inventory or str(project_root() / plan.inputs.inventory))
    err = console(stderr=True)
    # Every entry this writes into the session log, and the facts read back, regenerate the docs made from them.
    with keeping_docs_current(ws, err, diffs=True) as recorder:
        if at is not None and run_at is not None:
            from planner.commands.schedule import schedule_apply

            schedule_apply(recorder, plan, yes, fmt, err, at, run_at, scheduler)
            return
        apply_now(recorder, plan, yes, fmt, err, recheck, approved=_policy_approval(ws, plan, err) if auto_approve
                  else None, timeout_s=timeout_s)


def _policy_approval(ws, plan, err) -> str | None:
    """The policy's approval of ``plan``, or None (said why) when it leaves the plan to the person's yes."""
    from rich.markup import escape

    from planner.commands.policy import checked_policy
    from planner.plans.policy import decide

    loaded, catalog, inventory = checked_policy(ws)  # an invalid policy stops here, before any question
    decision = decide(plan, loaded, catalog, inventory)
    if decision.covered:
        err.print(f"Plan {plan.id} {escape(decision.approval)}.")
        return decision.approval
    err.print(f"Not auto-approved: {escape(decision.reason or '')}; it needs your yes.")
    return None


def apply_now(recorder, plan, yes: bool, fmt: str, err, recheck: bool = False, scheduled: str | None = None,
              approved: str | None = None, timeout_s: int | None = None) -> None:
    """Apply ``plan`` after the person's yes.

    Two approvals stand in for the prompt: ``scheduled`` (the one recorded when the job was left, in a fired
    job) and ``approved`` (the approval policy's decision, logged as the approval entry's decision).
    """
    from planner.plans.apply import apply_plan
    from planner.plans.progress import Interrupt, Progress

    change_steps = applyable_steps(recorder, plan, err, scheduled)
    if not change_steps:
        err.print("Nothing to apply: every step is read-only and ran during review.")
        if fmt == "json":
            emit(plan, "json", None)
        return
    if approved is not None:
        recorder.log_event("approval", f"Plan {plan.id} approved for apply by the approval policy.", plan,
                           decision=approved)
    elif scheduled is None:
        decision = ask_approval(recorder, plan, yes, err, f"Apply plan {plan.id}?", f"homelab apply {plan.id} --yes")
        recorder.log_event("approval", f"Plan {plan.id} approved for apply.", plan, decision=decision)
    else:
        recheck = True  # hours after the review: the hosts must still be as reviewed
    ws = recorder.ws
    hosts = sorted({h for s in change_steps for h in s.hosts})
    interrupt = Interrupt()
    progress = Progress(hosts, f"Applying plan {plan.id}")
    with interrupt.armed(), progress.shown(), _refusals_logged(recorder, plan, scheduled):
        done = apply_plan(ws, plan, on_result=progress.on_result, cancel=interrupt, notice=err.print,
                          recheck=recheck, on_event=progress.on_event, timeout_s=timeout_s)
    record = done.applies[-1]
    from planner.knowledge import remediation

    stopped = f" It passed its timeout of {record.timeout_s} s and was stopped." if record.timed_out else ""
    recorder.log_event("apply", f"Plan {plan.id} {'scheduled ' if scheduled else ''}apply "
                       f"{record.status.replace('_', ' ')}." + stopped + _surprises_logged(record)
                       + remediation.logged(record),
                       done, decision=scheduled,
                       outcome={h: o.outcome for h, o in record.hosts.items()})
    if record.status != "interrupted":
        _show_read_back(recorder, done, err)
    _show_service_record(recorder, done, err)
    _show_fixes(recorder, done, err)
    recorder.flush()  # the docs, now, before the outcome lines
    if fmt == "json":
        emit(done, "json", None)
    for host, outcome in record.hosts.items():
        err.print(f"  {host}: {outcome.outcome}" + (f" ({outcome.changed} changed)" if outcome.changed else ""))
    _show_surprises(record, err)
    if record.timed_out:
        err.print(f"[bold yellow]The apply passed its timeout of {record.timeout_s} s and was stopped[/bold yellow]:"
                  " what it did on the hosts is unknown; homelab plan again to see where they stand.")
    count = record.surprise_count
    flagged = f" [bold yellow]{count} result(s) not in the review.[/bold yellow]" if count else ""
    err.print(f"Apply {record.status}.{flagged}")
    code = {"succeeded": ExitCode.OK, "hosts_failed": ExitCode.HOSTS_FAILED, "outcome_unknown": ExitCode.HOSTS_FAILED,
            "interrupted": ExitCode.INTERRUPTED}[record.status]
    if code:
        raise SystemExit(int(code))


def applyable_steps(recorder, plan, err, scheduled: str | None = None) -> list:
    """Refuse (and log) a plan that may not be applied; show what would run; its change steps."""
    from rich.markup import escape  # intents and checklist items are text, never markup

    from planner.plans.apply import check_applyable, recover_killed

    with _refusals_logged(recorder, plan, scheduled):
        recover_killed(recorder.ws, plan, notice=lambda msg: err.print(f"[yellow]{escape(msg)}[/yellow]"))
        check_applyable(recorder.ws, plan)
    err.print(f"[bold]Plan {plan.id}[/bold]: {escape(plan.intent)}")
    for s in plan.steps:
        note = "" if s.risk == "change" else "  (read-only: already ran during review)"
        err.print(f"  {s.playbook} on {len(s.hosts)} host(s): {', '.join(s.hosts)}{note}")
    if plan.manual:
        err.print("[bold]Your checklist[/bold] (not executed by the tool):")
        for m in plan.manual:
            err.print(f"  \\[ ] {escape(m.title)} — {escape(m.reason)}")
    return [s for s in plan.steps if s.risk == "change"]


def ask_approval(recorder, plan, yes: bool, err, question: str, scripted: str) -> str:
    """The person's yes (asked unless --yes), as the decision the session log records; exit 4 on no."""
    if yes:
        return "approved with --yes"
    if not sys.stdin.isatty():
        raise HomelabError("no terminal to ask for approval", f"review it (homelab show {plan.id}), then {scripted}")
    if not click.confirm(question, default=False, err=True):
        err.print("Not approved.")
        recorder.log_event("refusal", f"Plan {plan.id} was not approved.", plan, decision="declined at the prompt")
        raise SystemExit(int(ExitCode.REFUSED))
    return "approved at the prompt"


@contextmanager
def _refusals_logged(recorder, plan, scheduled: str | None = None) -> Iterator[None]:
    """A refusal (stale, edited, locked, already applied) goes into the session log, then on to the person."""
    try:
        yield
    except HomelabError as err:  # stale, edited, locked, already applied: the REFUSED ones are logged
        if err.exit_code == ExitCode.REFUSED:
            what = "Scheduled apply" if scheduled else "Apply"
            recorder.log_event("refusal", f"{what} of plan {plan.id} refused: {err.message}", plan,
                               decision=f"{scheduled}; refused by the tool" if scheduled else "refused by the tool")
        raise


def _show_read_back(recorder, plan, err) -> None:
    """Read back the hosts the apply touched (the library writes their facts) and say what happened."""
    from rich.markup import escape

    from planner.knowledge.loop import read_back_hosts

    touched = read_back_hosts(plan)
    if touched:
        err.print(f"Reading {len(touched)} host(s) back into the inventory…")
    unchanged = sum(o.outcome == "ok" for o in plan.applies[-1].hosts.values())
    if unchanged:
        err.print(f"{unchanged} host(s) unchanged by the apply: their facts stand (`homelab facts` re-reads them).")
    back = recorder.read_back(plan, notice=err.print)
    if back.problem is not None:
        err.print(f"[yellow]Facts not written:[/yellow] {escape(back.problem)}")
        return
    if back.result is None:
        return
    for host in back.result.written:
        if host not in back.result.stale:  # a host marked stale is written too, and said so below
            err.print(f"  facts updated: {host}")
    for host, why in {**back.result.stale, **back.result.skipped}.items():
        err.print(f"  [yellow]facts not read[/yellow]: {host}: {escape(why)}")


def _show_service_record(recorder, plan, err) -> None:
    """Write what the applied steps reported of their services into services: and say what happened."""
    from rich.markup import escape

    done = recorder.record_services(plan)
    for line in done.written:
        err.print(f"  services: {escape(line)}")
    for line in done.kept:
        err.print(f"  [yellow]services: not changed[/yellow]: {escape(line)}")
    for line in done.left_out:
        err.print(f"  [yellow]service report left out[/yellow]: {escape(line)}")
    if done.problem is not None:
        err.print(f"[yellow]services: not written:[/yellow] {escape(done.problem)}")


def _show_fixes(recorder, plan, err) -> None:
    """Record the fixes the apply made (steps whose playbook resolves diagnosis findings) in the knowledge base."""
    from rich.markup import escape

    learnt = recorder.record_fixes(plan)
    for line in learnt.learned:
        err.print(f"  knowledge base: fix of {escape(line)}")
    if learnt.problem is not None:
        err.print(f"[yellow]knowledge base: not written:[/yellow] {escape(learnt.problem)}")


#: Surprise groups shown in the text output and named in the session log before "and N more".
_SHOWN_GROUPS = 20
_LOGGED_GROUPS = 3


def _surprises_logged(record) -> str:
    """The session log's words for the apply's surprises: the count and the first few, hosts by name."""
    from planner.plans.surprises import grouped

    if not record.surprises:
        return ""
    groups = grouped(record.surprises)
    named = "; ".join(f"{what} on {', '.join(hosts)}" for what, hosts in groups[:_LOGGED_GROUPS])
    more = f" (and {len(groups) - _LOGGED_GROUPS} more)" if len(groups) > _LOGGED_GROUPS else ""
    return f" {record.surprise_count} result(s) not in the review: {named}{more}."


def _show_surprises(record, err) -> None:
    """The block after the outcome lines: each task the review did not show, once, with its hosts."""
    from rich.markup import escape

    from planner.plans.surprises import grouped, task_label

    if record.surprises:
        groups = grouped(record.surprises)
        err.print("[bold yellow]Not in the review:[/bold yellow]")
        for what, hosts in groups[:_SHOWN_GROUPS]:
            err.print(f"  {escape(what)}: {', '.join(hosts)}")
        if len(groups) > _SHOWN_GROUPS:
            err.print(f"  … and {len(groups) - _SHOWN_GROUPS} more (homelab show ID --format json)")
    if record.did_not_happen:
        first = record.did_not_happen[0]
        err.print(f"{len(record.did_not_happen)} reviewed change(s) were already in place, e.g. "
                  f"{escape(task_label(first))} on {first.host}")
