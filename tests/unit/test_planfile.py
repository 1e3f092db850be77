"""Plan files: versioned, sealed, refused when edited or of an unknown version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.errors import ExitCode
from planner.plans import planfile
from planner.plans.planfile import Inputs, Plan, PlanFileError, Snapshot, SnapshotFile, Step

CFG = SnapshotFile(sha256="0" * 64, source="ansible.cfg")


def make(state: Path, **changes) -> Plan:
    fields = {"id": planfile.new_id(), "created_at": planfile.now(), **changes}
    plan = Plan(intent="test", planner="manual",
                steps=[Step(playbook="apply_baseline", limit="all", risk="change", hosts=["a", "b"],
                            vars={"baseline_timezone": "Etc/UTC"})],
                inputs=Inputs(inventory="inventory", files={"ansible.cfg": "0" * 64},
                              versions={"ansible-core": "2.21"},
                              snapshot=Snapshot(id="1" * 64, inventory="inventory", files={"ansible.cfg": CFG}),
                              environment={"ANSIBLE_FORKS": "5"}),
                **fields)
    plan = planfile.seal(plan, state)
    planfile.save(plan, state)
    return plan


def test_round_trip_and_latest(tmp_path: Path) -> None:
    # "latest" is the plan made last: not the last saved, nor the greatest id. The newer plan is saved
    # first and has the smaller id, so ordering by either of those would pick the wrong one.
    newer = make(tmp_path, id="0000aaaa", created_at="2026-11-25T10:00:01+00:00")
    older = make(tmp_path, id="ffff0000", created_at="2026-11-25T10:00:00+00:00")
    assert planfile.load(tmp_path, older.id) == older
    assert planfile.load(tmp_path, "latest").id == newer.id
    assert planfile.load(tmp_path, older.id[:5]).id == older.id
    assert (tmp_path / "plan.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("edit", [
    lambda d: d["steps"][0]["vars"].update(baseline_timezone="Europe/Berlin"),
    lambda d: d["steps"][0]["hosts"].append("c"),
    lambda d: d["inputs"]["files"].update({"ansible.cfg": "1" * 64}),
    lambda d: d["inputs"]["snapshot"]["files"]["ansible.cfg"].update(sha256="2" * 64),
    lambda d: d["inputs"]["environment"].pop("ANSIBLE_FORKS"),
    lambda d: d.update(intent="something else"),
])
def test_any_hand_edit_of_reviewed_content_is_refused(tmp_path: Path, edit) -> None:
    plan = make(tmp_path)
    path = tmp_path / "plans" / f"{plan.id}.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError) as info:
        planfile.load(tmp_path, plan.id)
    assert "was changed after it was made" in info.value.message
    assert info.value.exit_code == ExitCode.REFUSED


def test_apply_records_do_not_break_the_seal(tmp_path: Path) -> None:
    plan = make(tmp_path)
    plan.status = "applied"
    plan.applies.append(planfile.ApplyRecord(started_at=planfile.now(), status="succeeded"))
    planfile.save(plan, tmp_path)
    assert planfile.load(tmp_path, plan.id).status == "applied"


@pytest.mark.parametrize("version", [1, 3])
def test_unknown_format_version_is_refused(tmp_path: Path, version: int) -> None:
    # Version 1 plans carry no snapshot of their inputs: they cannot be applied as reviewed.
    plan = make(tmp_path)
    path = tmp_path / "plans" / f"{plan.id}.json"
    doc = json.loads(path.read_text())
    doc["format_version"] = version
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError) as info:
        planfile.load(tmp_path, plan.id)
    assert f"format_version {version}; this homelab reads 2" in info.value.message


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    plan = make(tmp_path)
    path = tmp_path / "plans" / f"{plan.id}.json"
    doc = json.loads(path.read_text())
    doc["steps"][0]["become_root_everywhere"] = True
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError) as info:
        planfile.load(tmp_path, plan.id)
    assert "steps.0.become_root_everywhere: Extra inputs are not permitted" in info.value.message


def test_missing_plan_names_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError) as info:
        planfile.load(tmp_path, "latest")
    assert "homelab plan" in (info.value.hint or "")


def test_a_plan_left_applying_by_a_killed_run_is_recorded_as_outcome_unknown(tmp_path: Path) -> None:
    # SIGKILL runs no clean-up: the plan stays 'applying'. With the inventory's lock free, the run is known to
    # be gone and the next apply records that, instead of refusing the plan forever as already applied.
    import os
    import subprocess
    import sys

    from planner.plans.apply import recover_killed
    from planner.plans.lock import LockHeldError, lock_path
    from planner.plans.planfile import ApplyRecord
    from planner.workspace import Workspace

    state, inventory = tmp_path / "state", tmp_path / "inventory"
    inventory.mkdir()
    plan = make(state)
    plan.applies.append(ApplyRecord(started_at=planfile.now(), status="running"))
    plan.status = "applying"
    planfile.save(plan, state)
    ws = Workspace(tmp_path, state, inventory)

    # While a live process holds the lock, that apply may still be running: refused, naming it, nothing changed.
    lock = lock_path(state, inventory)
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, json, sys, time\n"
        f"fh = open({str(lock)!r}, 'a+')\n"
        "fcntl.flock(fh, fcntl.LOCK_EX)\n"
        "fh.seek(0); fh.truncate(); fh.write(json.dumps({'pid': 1, 'plan': 'other'})); fh.flush()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError):
            recover_killed(ws, plan)
        assert planfile.load(state, plan.id).status == "applying"
    finally:
        holder.kill()
        holder.wait()

    notices: list[str] = []
    recover_killed(ws, plan, notices.append)
    saved = planfile.load(state, plan.id)
    assert saved.status == plan.status == "outcome_unknown"
    assert saved.applies[-1].status == "outcome_unknown" and saved.applies[-1].finished_at
    assert {h: o.outcome for h, o in saved.applies[-1].hosts.items()} == {"a": "outcome_unknown",
                                                                          "b": "outcome_unknown"}
    assert any("was killed" in n for n in notices), notices
    assert os.stat(lock).st_size == 0  # released, empty
