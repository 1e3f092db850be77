"""A scheduled apply's life: scheduled (approved), fired, finished, or cancelled before it fired.

``homelab apply ID --at WHEN`` calls :func:`schedule_plan` after the same
checks and approval as an apply; the job it leaves with the backend runs
``homelab apply ID --scheduled``, which calls :func:`begin_run` (the record
must still be waiting: a cancelled run never applies) and :func:`finish_run`.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

from planner.paths import private_file
from planner.plans.planfile import now
from planner.schedule import backends, store
from planner.schedule.store import Backend, Schedule, ScheduleError, ScheduleRefusedError


def _reread(state: Any, plan_id: str) -> Schedule:
    """The record again, under the lock: it may have changed since it was first read."""
    record = store.get(state, plan_id)
    if record is None:
        raise ScheduleError(f"the schedule of plan {plan_id} was removed meanwhile", "homelab schedule lists them")
    return record


def _refuse_unless_waiting(record: Schedule, doing: str) -> None:
    if record.state == "cancelled":
        raise ScheduleRefusedError(f"the scheduled run of plan {record.plan} was cancelled at {record.cancelled_at}",
                                   f"nothing to {doing}; homelab apply {record.plan} --at WHEN schedules it again")
    if record.state in ("running", "ran"):
        outcome = f" ({record.outcome})" if record.outcome else ""
        raise ScheduleRefusedError(f"the scheduled run of plan {record.plan} already fired at {record.fired_at}"
                                   f"{outcome}", f"nothing to {doing}; homelab schedule shows it, and "
                                   f"{record.log} holds its output")


def schedule_plan(ws: Any, plan: Any, when_text: str, run_at: dt.datetime, backend: Backend,
                  approval: str) -> Schedule:
    """Hand ``plan``'s apply to ``backend`` for ``run_at`` and record it; the plan must have no run waiting."""
    with store.locked(ws.state):
        existing = store.get(ws.state, plan.id)
        if existing is not None and existing.state in ("waiting", "running"):
            raise ScheduleRefusedError(f"plan {plan.id} is already scheduled for {existing.run_at} "
                                       f"({existing.shown_state()})",
                                       f"homelab schedule cancel {plan.id} first, then schedule it again")
        log = store.schedules_dir(ws.state) / f"{plan.id}.log"
        os.close(private_file(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND))  # owner-only before the job appends
        command = [sys.executable, "-m", "planner", "apply", plan.id, "--scheduled"]
        env = backends.job_environment(ws.root)
        job = backends.submit(backend, plan.id, run_at, command, env, ws.root, log)
        record = Schedule(plan=plan.id, intent=plan.intent, when=when_text, run_at=run_at.isoformat(),
                          created_at=now(), approval=approval, backend=backend, job=job, command=command,
                          environment=sorted(env), log=str(log.relative_to(ws.root)))
        store.save(ws.state, record)
    return record


def begin_run(state: Any, plan_id: str) -> Schedule:
    """The job has fired: mark the run started, or refuse when it is no longer waiting."""
    if store.get(state, plan_id) is None:  # before the lock, which would create the directory
        raise ScheduleError(f"plan {plan_id} has no scheduled run",
                            "--scheduled is for the job that homelab apply ID --at WHEN leaves; "
                            "run homelab apply ID to apply now")
    with store.locked(state):
        record = _reread(state, plan_id)
        _refuse_unless_waiting(record, "run")
        record.state, record.fired_at = "running", now()
        store.save(state, record)
    return record


def finish_run(state: Any, plan_id: str, outcome: str) -> Schedule:
    """Record how the fired run ended: the apply's status, or why it was refused."""
    with store.locked(state):
        record = _reread(state, plan_id)
        record.state, record.finished_at, record.outcome = "ran", now(), outcome
        store.save(state, record)
    return record


def cancel(state: Any, ref: str) -> Schedule:
    """Take a waiting run back from its backend and mark it cancelled."""
    plan_id = store.find(state, ref).plan  # before the lock, which would create the directory
    with store.locked(state):
        record = _reread(state, plan_id)
        _refuse_unless_waiting(record, "cancel")
        # A job the backend no longer holds (atd lost it, the machine was down) has nothing to remove; a job that
        # is firing right now waits for this lock and then finds the run cancelled.
        if backends.pending(record.backend, record.job):
            backends.remove(record.backend, record.job)
        record.state, record.cancelled_at = "cancelled", now()
        store.save(state, record)
    return record
