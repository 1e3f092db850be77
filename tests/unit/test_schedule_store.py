"""The schedule store, the life of a scheduled run, the backends' command lines, and the errors people meet."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path

import pytest

from planner.errors import ExitCode
from planner.schedule import backends, runs, store
from planner.schedule.store import Schedule, ScheduleError, ScheduleRefusedError
from tests.conftest import copy_project, run_homelab

RUN_AT = dt.datetime(2026, 12, 11, 22, 0, tzinfo=dt.UTC)


def record(plan: str = "7f3a0b1c", **kw) -> Schedule:
    fields = {"plan": plan, "intent": "apply the baseline", "when": "fri 22:00", "run_at": RUN_AT.isoformat(),
              "created_at": "2026-12-05T23:45:00+00:00", "approval": "approved with --yes", "backend": "at",
              "job": "999999", "command": ["python", "-m", "planner", "apply", plan, "--scheduled"],
              "environment": ["HOMELAB_ROOT"], "log": f".homelab/schedules/{plan}.log"}
    return Schedule(**{**fields, **kw})


def test_records_round_trip_owner_only_soonest_first(tmp_path: Path) -> None:
    state = tmp_path / ".homelab"
    later = record("bbbb0000", run_at=(RUN_AT + dt.timedelta(days=1)).isoformat())
    for r in (later, record()):
        store.save(state, r)
    assert [r.plan for r in store.list_all(state)] == ["7f3a0b1c", "bbbb0000"]
    assert store.find(state, "7f3a") == record()
    assert store.get(state, "cccc0000") is None
    path = store.schedules_dir(state) / "7f3a0b1c.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert store.schedules_dir(state).stat().st_mode & 0o777 == 0o700
    assert state.stat().st_mode & 0o777 == 0o700


def test_unknown_ambiguous_and_damaged_records_are_errors_with_hints(tmp_path: Path) -> None:
    state = tmp_path / ".homelab"
    with pytest.raises(ScheduleError, match="no scheduled run for plan '7f3a'") as caught:
        store.find(state, "7f3a")
    assert caught.value.exit_code == ExitCode.USAGE and "homelab schedule" in (caught.value.hint or "")
    store.save(state, record("7f3a0b1c"))
    store.save(state, record("7f3a9999"))
    with pytest.raises(ScheduleError, match="ambiguous: 7f3a0b1c, 7f3a9999"):
        store.find(state, "7f3a")
    path = store.schedules_dir(state) / "7f3a9999.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "format_version": 9}))
    with pytest.raises(ScheduleError, match="format_version 9"):
        store.list_all(state)
    path.write_text(json.dumps({**raw, "extra": 1}))
    with pytest.raises(ScheduleError, match="extra: Extra inputs are not permitted"):
        store.get(state, "7f3a9999")
    path.write_text("{not json")
    with pytest.raises(ScheduleError, match="is not a readable schedule"):
        store.get(state, "7f3a9999")


def test_shown_state_says_missed_when_a_run_did_not_start_in_time() -> None:
    assert record().shown_state(RUN_AT - dt.timedelta(hours=1)) == "waiting"
    assert record().shown_state(RUN_AT + dt.timedelta(minutes=5)) == "waiting"
    assert record().shown_state(RUN_AT + dt.timedelta(minutes=11)) == "missed"
    assert record(state="ran", outcome="succeeded").shown_state() == "ran (succeeded)"
    assert record(state="cancelled").shown_state() == "cancelled"


def test_a_run_fires_once_and_a_cancelled_or_fired_run_is_refused(tmp_path: Path) -> None:
    state = tmp_path / ".homelab"
    with pytest.raises(ScheduleError, match="has no scheduled run") as missing:
        runs.begin_run(state, "7f3a0b1c")
    assert missing.value.exit_code == ExitCode.USAGE
    store.save(state, record())
    started = runs.begin_run(state, "7f3a0b1c")
    assert started.state == "running" and started.fired_at
    with pytest.raises(ScheduleRefusedError, match="already fired") as twice:
        runs.begin_run(state, "7f3a0b1c")
    assert twice.value.exit_code == ExitCode.REFUSED
    done = runs.finish_run(state, "7f3a0b1c", "refused: plan 7f3a0b1c is stale")
    assert done.shown_state() == "ran (refused: plan 7f3a0b1c is stale)"
    with pytest.raises(ScheduleRefusedError, match=r"already fired at .* \(refused: plan 7f3a0b1c is stale\)"):
        runs.cancel(state, "7f3a")


def test_cancelling_a_job_the_backend_no_longer_holds_marks_it_cancelled(tmp_path: Path) -> None:
    state = tmp_path / ".homelab"
    store.save(state, record(job="999999"))  # no such at job
    assert not backends.pending("at", "999999")
    cancelled = runs.cancel(state, "7f3a0b1c")
    assert cancelled.state == "cancelled" and cancelled.cancelled_at
    with pytest.raises(ScheduleRefusedError, match="was cancelled") as again:
        runs.begin_run(state, "7f3a0b1c")  # a job that fires after a cancel applies nothing
    assert "--at WHEN schedules it again" in (again.value.hint or "")


def test_the_backends_command_lines() -> None:
    line = backends.systemd_run_command("homelab-apply-7f3a", RUN_AT.astimezone(dt.timezone(dt.timedelta(hours=1))),
                                        ["/p/.venv/bin/python", "-m", "planner", "apply", "7f3a", "--scheduled"],
                                        {"HOMELAB_LAB_NET": "127.0.3", "A B": "x y"}, Path("/p"),
                                        Path("/p/.homelab/schedules/7f3a.log"), user=True)
    assert line == ["systemd-run", "--user", "--unit=homelab-apply-7f3a", "--on-calendar=2026-12-11 22:00:00 UTC",
                    "--timer-property=AccuracySec=1s", "--collect",
                    "--description=homelab: scheduled apply (homelab-apply-7f3a)", "--working-directory=/p",
                    "--property=StandardOutput=append:/p/.homelab/schedules/7f3a.log",
                    "--property=StandardError=append:/p/.homelab/schedules/7f3a.log",
                    "--setenv=A B=x y", "--setenv=HOMELAB_LAB_NET=127.0.3",
                    "--", "/p/.venv/bin/python", "-m", "planner", "apply", "7f3a", "--scheduled"]
    script = backends.at_script(["/a b/python", "-m", "planner"], Path("/it's here"), Path("/l.log"))
    assert shlex.split(script.splitlines()[1]) == ["exec", "/a b/python", "-m", "planner", ">>/l.log", "2>&1"]
    assert script.startswith("cd '/it'\"'\"'s here' || exit 1\n")
    env = backends.job_environment(Path("/p"), {"HOMELAB_LAB_DIR": "/lab", "ANSIBLE_FORKS": "5", "PATH": "/bin",
                                                "OPENAI_API_KEY": "secret", "HOMELAB_ROOT": "/elsewhere"})
    assert env == {"HOMELAB_LAB_DIR": "/lab", "ANSIBLE_FORKS": "5", "PATH": "/bin", "HOMELAB_ROOT": "/p"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    copy = copy_project(tmp_path / "project")
    return {"HOMELAB_ROOT": str(copy), "HOMELAB_INVENTORY": str(copy / "inventory"), "HOMELAB_MODEL": ""}


@pytest.mark.parametrize(("args", "says"), [
    (["apply", "latest", "--at", "25:00", "--yes"], "Error: '25:00' is not a time of day"),
    (["apply", "latest", "--at", "2020-01-01 10:00", "--yes"], "which is not in the future"),
    (["apply", "latest", "--scheduler", "at"], "Error: --scheduler goes with --at"),
    (["apply", "latest", "--scheduled", "--yes"], "Error: --scheduled is the scheduled job's own option"),
    (["apply", "abcd", "--scheduled"], "Error: plan abcd has no scheduled run"),
    (["schedule", "cancel", "abcd"], "Error: no scheduled run for plan 'abcd'"),
])
def test_cli_errors_say_error_and_hint_with_exit_2_and_write_nothing(env: dict[str, str], args: list[str],
                                                                     says: str) -> None:
    result = run_homelab(*args, env=env)
    assert result.rc == 2, result.stderr
    assert says in result.stderr and "Hint:" in result.stderr and "Traceback" not in result.stderr
    assert not (Path(env["HOMELAB_ROOT"]) / "docs" / "sessions").exists()
    assert not (Path(env["HOMELAB_ROOT"]) / ".homelab" / "schedules").exists()


def test_an_empty_list_says_how_to_schedule(env: dict[str, str]) -> None:
    listed = run_homelab("schedule", env=env)
    assert listed.rc == 0 and 'homelab apply ID --at "fri 22:00"' in listed.stdout
    assert json.loads(run_homelab("schedule", "--format", "json", env=env).stdout) == []
