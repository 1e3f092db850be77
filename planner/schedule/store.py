"""Scheduled applies as kept in the state directory: ``.homelab/schedules/<plan>.json``.

One record per plan (a plan applies once, so it has at most one run waiting);
scheduling it again after a cancel or a miss replaces the record. The record
holds what the person approved and when, the backend and its job id, and
what happened when the job fired. It crosses a trust boundary (the job reads
it back hours later) so it is a strict model with a format version, written
owner-only and atomically; every change of state happens under a lock so a
cancel and a firing job never both win.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from planner.errors import ExitCode, HomelabError
from planner.paths import private_dir, private_file

FORMAT_VERSION: Literal[1] = 1
#: A run that has not started this long after its time is shown as missed (the backend was down, or the machine).
MISSED_AFTER = dt.timedelta(minutes=10)
Backend = Literal["systemd", "at"]
State = Literal["waiting", "running", "ran", "cancelled"]


class ScheduleError(HomelabError):
    """A schedule that does not exist, or cannot change the way asked."""


class ScheduleRefusedError(ScheduleError):
    """Scheduling or cancelling was refused: already waiting, already fired, already cancelled."""

    exit_code = ExitCode.REFUSED


class Schedule(BaseModel):
    """One scheduled apply of one plan."""

    model_config = ConfigDict(extra="forbid")

    format_version: Literal[1] = FORMAT_VERSION
    plan: str
    intent: str
    when: str  # what the person typed
    run_at: str  # the resolved local time, ISO 8601 with its offset
    created_at: str  # UTC
    approval: str  # "approved with --yes" | "approved at the prompt"
    backend: Backend
    job: str  # the at job number, or the systemd unit name
    command: list[str]  # what the job runs
    environment: list[str]  # names of the variables the job was given (values stay in the job)
    log: str  # the job's output, relative to the project root
    state: State = "waiting"
    fired_at: str | None = None
    finished_at: str | None = None
    outcome: str | None = None  # the apply's status, or "refused: …"
    cancelled_at: str | None = None

    def shown_state(self, now: dt.datetime | None = None) -> str:
        """waiting / missed / running / ran (outcome) / cancelled, as `homelab schedule` shows it."""
        if self.state == "waiting":
            now = now or dt.datetime.now(dt.UTC)
            return "missed" if now > dt.datetime.fromisoformat(self.run_at) + MISSED_AFTER else "waiting"
        if self.state == "ran":
            return f"ran ({self.outcome})"
        return self.state


def schedules_dir(state: Path) -> Path:
    """Where schedule records (and their jobs' logs) live."""
    return state / "schedules"


def _path(state: Path, plan_id: str) -> Path:
    return schedules_dir(state) / f"{plan_id}.json"


def save(state: Path, record: Schedule) -> Path:
    """Write ``record`` atomically, owner-only."""
    path = _path(state, record.plan)
    tmp = path.with_suffix(".json.tmp")
    with os.fdopen(private_file(tmp), "w") as fh:
        fh.write(record.model_dump_json(indent=2) + "\n")
    tmp.replace(path)
    return path


def _read(path: Path) -> Schedule:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ScheduleError(f"{path} is not a readable schedule ({err})",
                            "it was damaged; remove it, then schedule the plan again") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version != FORMAT_VERSION:
        raise ScheduleError(f"{path} has format_version {version!r}; this homelab reads {FORMAT_VERSION}",
                            "use the homelab that made it, or remove it and schedule the plan again")
    try:
        return Schedule.model_validate(raw)
    except PydanticValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise ScheduleError(f"{path} is not a valid schedule: {where}: {first['msg']}",
                            "it was edited by hand or damaged; remove it and schedule the plan again") from None


def find(state: Path, ref: str) -> Schedule:
    """The schedule of plan ``ref`` (an id or a unique prefix of one)."""
    directory = schedules_dir(state)
    matches = sorted(directory.glob(f"{ref}*.json")) if ref.isalnum() and directory.is_dir() else []
    if len(matches) > 1:
        raise ScheduleError(f"schedule id {ref!r} is ambiguous: {', '.join(m.stem for m in matches)}",
                            "give more characters of the plan id")
    if not matches:
        raise ScheduleError(f"no scheduled run for plan {ref!r}", "homelab schedule lists them")
    return _read(matches[0])


def get(state: Path, plan_id: str) -> Schedule | None:
    """The schedule of exactly ``plan_id``, or None."""
    path = _path(state, plan_id)
    return _read(path) if path.exists() else None


def list_all(state: Path) -> list[Schedule]:
    """Every schedule, soonest first."""
    directory = schedules_dir(state)
    found = [_read(p) for p in sorted(directory.glob("*.json"))] if directory.is_dir() else []
    return sorted(found, key=lambda s: dt.datetime.fromisoformat(s.run_at))


@contextmanager
def locked(state: Path) -> Iterator[None]:
    """Hold the schedules' lock: one change of state at a time (a cancel against a job that fires)."""
    fd = private_file(private_dir(schedules_dir(state)) / ".lock", os.O_WRONLY | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
