"""The service record: what an applied trial reports, written into services: with comments, order and quoting kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.knowledge import loop
from planner.knowledge.services import record, reported, service_report, services_file
from planner.plans.planfile import ApplyRecord, Inputs, Plan, Snapshot, StepReview, TaskResult
from planner.workspace import Workspace
from planner.yamlio.edit import delete_text, edit_text
from planner.yamlio.reading import load_fast
from tests.conftest import copy_project

INPUTS = Inputs(inventory="inventory", files={}, versions={},
                snapshot=Snapshot(id="0", inventory="inventory", files={}))
ENTRY = {"name": "ollama", "tier": "orchestrator", "host": "still-fawn", "port": 11434,
         "dns": "ollama-trial.maas", "monitored": True, "health_path": "/api/version",
         "image": "docker.io/ollama/ollama:0.5.4", "package": "", "command": "", "runtime": "podman",
         "gpu_mib": 6144, "memory_mib": 8192}

# A person's file: comments above and between items, folded notes, quoting of their own.
SERVICES = """\
---
# What runs in the homelab.
services:
  # The house depends on it.
  - name: home-assistant
    tier: k3s
    host: k3s
    port: 8123
    dns: "home-assistant.maas"  # quoted on purpose
    monitored: true
    notes: >-
      Gets the cluster's failover and a
      persistent volume.

  - name: jellyfin   # media
    tier: k3s
    host: k3s
    port: 8096

# Trials the tool adds go below.
"""


def plan_with(*reports: tuple[str, object], status: str = "ok") -> Plan:
    """A plan whose last apply's steps reported these (playbook, debug msg) pairs on still-fawn."""
    steps = [StepReview(step=i, playbook=playbook, check=False, status="successful", rc=0,
                        tasks=[TaskResult(host="still-fawn", task="Say what was deployed", action="debug",
                                          status=status, report=msg)])  # type: ignore[arg-type]
             for i, (playbook, msg) in enumerate(reports)]
    return Plan(id="0a1b2c3d", created_at="2026-12-06T03:00:00+00:00", intent="deploy ollama", planner="offline",
                steps=[], inputs=INPUTS, applies=[ApplyRecord(started_at="x", status="succeeded", steps=steps)])


def present(**changes: object) -> dict:
    return {"homelab_service": {"state": "present", "name": "ollama", "entry": {**ENTRY, **changes}}}


ABSENT = {"homelab_service": {"state": "absent", "name": "ollama"}}


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "group_vars" / "all" / "services.yml").write_text(SERVICES)
    return inv


def services_text(inv: Path) -> str:
    return (inv / "group_vars" / "all" / "services.yml").read_text()


def test_present_adds_the_item_marked_and_keeps_every_byte_above(inventory: Path) -> None:
    done = record(inventory, plan_with(("deploy_trial_service", present())), "2026-12-06")
    assert done.written == ["added ollama"] and not done.kept and not done.left_out
    text = services_text(inventory)
    assert text.startswith(SERVICES.rstrip("\n").removesuffix("# Trials the tool adds go below."))
    assert "# Trials the tool adds go below." in text and '"home-assistant.maas"  # quoted on purpose' in text
    item = load_fast(inventory / "group_vars/all/services.yml")["services"][-1]
    assert item == {**{k: v for k, v in ENTRY.items() if v != ""}, "added_by": "deploy_trial_service",
                    "deployed": "2026-12-06", "plan": "0a1b2c3d"}


def test_present_again_updates_only_what_changed_and_keeps_a_persons_notes(inventory: Path) -> None:
    record(inventory, plan_with(("deploy_trial_service", present())), "2026-12-06")
    path = inventory / "group_vars/all/services.yml"
    path.write_text(path.read_text().replace("    added_by:", "    notes: answers fast on the 3070\n    added_by:"))
    before = path.read_text()
    done = record(inventory, plan_with(("deploy_trial_service", present(port=11435))), "2026-12-07")
    assert done.written == ["updated ollama"]
    after = path.read_text()
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == ["    port: 11435", "    deployed: '2026-12-07'"]
    assert "notes: answers fast on the 3070" in after


def test_absent_removes_only_the_tools_item_and_gives_the_file_back(inventory: Path) -> None:
    record(inventory, plan_with(("deploy_trial_service", present())), "2026-12-06")
    done = record(inventory, plan_with(("remove_trial_service", ABSENT)), "2026-12-06")
    assert done.written == ["removed ollama"]
    assert services_text(inventory) == SERVICES
    again = record(inventory, plan_with(("remove_trial_service", ABSENT)), "2026-12-06")
    assert again.written == [] and services_text(inventory) == SERVICES


def test_a_persons_item_is_never_removed_or_overwritten(inventory: Path) -> None:
    for msg in (ABSENT, present(name="jellyfin")):
        name = "jellyfin"
        report = {"homelab_service": {**msg["homelab_service"], "name": name}}
        done = record(inventory, plan_with(("deploy_trial_service", report)), "2026-12-06")
        assert done.written == []
        assert done.kept == ["jellyfin: the item in services: is a person's (no added_by); left as written"]
        assert services_text(inventory) == SERVICES


@pytest.mark.parametrize(("msg", "expected"), [
    ({"homelab_service": {"state": "present", "name": "ollama"}}, "state present needs the entry"),
    ({"homelab_service": {"state": "gone", "name": "ollama"}}, "homelab_service.state"),
    (present(port="11434"), "homelab_service.entry.port"),
    (present(image="{{ lookup('pipe', 'id') }}"), "a template or a line break has no place"),
    (present(name="other"), "entry.name: 'other' is not the service reported"),
    (present(colour="blue"), "homelab_service.entry.colour: Extra inputs are not permitted"),
])
def test_a_report_that_does_not_fit_is_left_out_and_said(inventory: Path, msg: dict, expected: str) -> None:
    done = record(inventory, plan_with(("deploy_trial_service", msg)), "2026-12-06")
    assert done.written == [] and services_text(inventory) == SERVICES
    [line] = done.left_out
    assert line.startswith("deploy_trial_service on still-fawn: ") and expected in line


def test_only_debug_messages_that_carry_the_key_count() -> None:
    assert service_report({"homelab_document": {}}) is None
    assert service_report("deployed") is None
    plan = plan_with(("deploy_trial_service", present()), status="failed")
    assert reported(plan.applies[-1].steps) == []


def test_a_new_list_is_made_where_the_inventory_keeps_none(tmp_path: Path) -> None:
    inv = tmp_path / "inventory"
    inv.mkdir()
    done = record(inv, plan_with(("deploy_trial_service", present())), "2026-12-06")
    assert done.written == ["added ollama"]
    assert services_file(inv) == inv / "group_vars/all/services.yml"
    assert load_fast(inv / "group_vars/all/services.yml")["services"][0]["name"] == "ollama"


def test_the_recorder_writes_under_the_lock_and_the_docs_follow(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    ws = Workspace(root, root / ".homelab", root / "inventory")
    ws.state.mkdir()
    updates: list[loop.DocsUpdate] = []
    with loop.recording(ws, on_docs=updates.append) as recorder:
        done = recorder.record_services(plan_with(("deploy_trial_service", present())))
    assert done.written == ["added ollama"]
    assert [u.sources for u in updates] == [(loop.SERVICE_RECORD,)]
    assert "docs/SERVICES.md" in updates[0].changed
    assert "ollama-trial.maas" in (root / "docs" / "SERVICES.md").read_text()
    # Held by another apply: nothing is written, and the reason is given instead of an error.
    from planner.plans.lock import apply_lock

    with apply_lock(ws.state, ws.inventory, "other"), loop.recording(ws) as recorder:
        held = recorder.record_services(plan_with(("remove_trial_service", ABSENT)))
    assert held.written == [] and held.problem is not None


# --- the writer's list items ----------------------------------------------------------------------------------------

def test_an_item_appended_and_deleted_leaves_the_text_as_it_was() -> None:
    text = "a: 1\nitems:\n  - x: 1\n\n  - x: 2  # two\nb: 2\n"
    appended = edit_text(text, ("items", 2), {"x": 3})
    assert appended == "a: 1\nitems:\n  - x: 1\n\n  - x: 2  # two\n\n  - x: 3\nb: 2\n"
    assert delete_text(appended, ("items", 2)) == text
    assert delete_text(text, ("items", 0)) == "a: 1\nitems:\n  - x: 2  # two\nb: 2\n"
    # A flow list is written again whole (block style): only its meaning is kept.
    assert delete_text("items: [1, 2]\n", ("items", 0)) == "items:\n  - 2\n"


def test_apply_says_what_it_recorded_kept_and_left_out(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from planner.commands.apply import _show_service_record

    root = copy_project(tmp_path / "project")
    ws = Workspace(root, root / ".homelab", root / "inventory")
    ws.state.mkdir()
    out = io.StringIO()
    jellyfin = {"homelab_service": {"state": "absent", "name": "jellyfin"}}
    plan = plan_with(("deploy_trial_service", present()), ("remove_trial_service", jellyfin),
                     ("deploy_trial_service", present(port=0)))
    with loop.recording(ws) as recorder:
        _show_service_record(recorder, plan, Console(file=out, width=300, highlight=False))
    assert out.getvalue().splitlines() == [
        "  services: added ollama",
        "  services: not changed: jellyfin: the item in services: is a person's (no added_by); left as written",
        "  service report left out: deploy_trial_service on still-fawn: homelab_service.entry.port: Input should be "
        "greater than or equal to 1"]


def test_a_file_the_writer_cannot_change_is_said_and_left_as_it_was(inventory: Path) -> None:
    path = inventory / "group_vars/all/services.yml"
    # An alias into the list: appending would change what the anchor means elsewhere.
    broken = SERVICES.replace("services:\n", "services: &svc\n") + "copies: *svc\n"
    path.write_text(broken)
    done = record(inventory, plan_with(("deploy_trial_service", present())), "2026-12-06")
    assert done.written == [] and done.problem is not None
    assert done.problem.startswith("inventory/group_vars/all/services.yml: ")
    assert path.read_text() == broken
