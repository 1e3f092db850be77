"""A plan's snapshot: exactly the files a run reads, stored once, materialized only when intact."""

from __future__ import annotations

import os
import shutil
import zlib
from pathlib import Path

import pytest

from planner.errors import ExitCode
from planner.plans import environment, snapshot
from planner.plans.digests import input_digests, input_files, snapshot_inventory, without_discovered
from planner.plans.planfile import Snapshot
from tests.conftest import copy_project
from tests.unit.test_digests import write_facts
from tests.unit.test_docs import STILL_FAWN


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "project")
    for path in (root / "inventory" / "host_vars").glob("*.yml"):  # a checkout where `make demo` ran has facts
        rest = without_discovered(path.read_text())
        assert rest is not None
        path.write_text(rest)
    return root


def files_of(root: Path, inventory: Path | None = None) -> dict[str, bytes]:
    inv = inventory or root / "inventory"
    return {f.path: f.data for f in input_files(root, inv, [root / "playbooks" / "apply_baseline.yml"])}


def build(root: Path, state: Path, inventory: Path | None = None) -> Snapshot:
    inv = inventory or root / "inventory"
    return snapshot.build(state, input_files(root, inv, [root / "playbooks" / "apply_baseline.yml"]),
                          snapshot_inventory(inv))


def test_the_snapshot_holds_what_the_run_reads_in_a_fixed_layout(project: Path) -> None:
    files = files_of(project)
    assert {"ansible.cfg", "playbooks/apply_baseline.yml", "playbooks/apply_baseline.meta.yml",
            "roles/baseline/tasks/main.yml", "roles/baseline/templates/motd.j2", "inventory/hosts.yml",
            "inventory/group_vars/all/network.yml", "inventory/host_vars/maas.yml",
            "collections/ansible_collections/homelab/ops/plugins/modules/host_facts.py"} <= set(files)
    # Another playbook, and the role only it uses, are not inputs of this run.
    assert not [p for p in files if p.startswith(("roles/discovery/", "playbooks/gather_facts"))]


@pytest.mark.parametrize("planted", ["playbooks/group_vars/all.yml", "playbooks/host_vars/maas.yml",
                                     "playbooks/roles/baseline/tasks/main.yml", "playbooks/library/copy.py",
                                     "playbooks/filter_plugins/f.py", "playbooks/module_utils/u.py",
                                     "inventory/group_vars/all/zz.yml", "inventory/host_vars/maas/more.yml"])
def test_what_ansible_reads_next_to_the_playbook_or_inventory_is_an_input(project: Path, planted: str) -> None:
    before = input_digests(project, project / "inventory", [project / "playbooks" / "apply_baseline.yml"])
    (project / planted).parent.mkdir(parents=True, exist_ok=True)
    (project / planted).write_text("x: 1\n")
    assert planted in files_of(project)
    after = input_digests(project, project / "inventory", [project / "playbooks" / "apply_baseline.yml"])
    assert set(after) - set(before) == {planted}


@pytest.mark.parametrize(("broken", "how"), [
    ("playbooks/apply_baseline.yml", "removed"), ("playbooks/apply_baseline.yml", "not YAML"),
    ("playbooks/apply_baseline.yml", "a number"), ("roles/baseline/meta/main.yml", "not YAML"),
    ("roles/baseline/meta/main.yml", "a number"), ("roles/baseline/tasks/main.yml", "a number"),
    ("inventory/hosts.yml", "a dangling link")])
def test_an_input_removed_or_broken_since_the_plan_is_named_not_a_traceback(project: Path, broken: str,
                                                                             how: str) -> None:
    inventory = project / "linked-inventory"  # as the lab's inventory is: links to the project's files
    inventory.mkdir()
    for entry in (project / "inventory").iterdir():
        (inventory / entry.name).symlink_to(entry)
    playbooks = [project / "playbooks" / "apply_baseline.yml"]
    before = input_digests(project, inventory, playbooks)
    path = project / broken
    if how in ("removed", "a dangling link"):
        path.unlink()
    else:
        path.write_text("key: [unclosed\n" if how == "not YAML" else "42\n")
    after = input_digests(project, inventory, playbooks)
    assert broken in {name for name in set(before) | set(after) if before.get(name) != after.get(name)}


def test_a_file_inventory_brings_the_vars_next_to_it(project: Path, tmp_path: Path) -> None:
    inv = tmp_path / "site"
    inv.mkdir()
    shutil.copy(project / "inventory" / "hosts.yml", inv / "lab.yml")
    (inv / "group_vars").mkdir()
    (inv / "group_vars" / "all.yml").write_text("baseline_timezone: Etc/UTC\n")
    (inv / "unrelated.txt").write_text("not read by Ansible\n")
    files = files_of(project, inv / "lab.yml")
    assert {"inventory/lab.yml", "inventory/group_vars/all.yml"} <= set(files)
    assert "inventory/unrelated.txt" not in files
    assert snapshot_inventory(inv / "lab.yml") == "inventory/lab.yml"


def test_host_vars_are_stored_without_the_discovered_block(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_facts(project / "inventory", "still-fawn", STILL_FAWN)
    snap = build(project, state)
    item = snap.files["inventory/host_vars/still-fawn.yml"]
    digests = input_digests(project, project / "inventory", [project / "playbooks" / "apply_baseline.yml"])
    assert item.sha256 == digests["inventory/host_vars/still-fawn.yml"]
    out = snapshot.materialize(state, snap, tmp_path / "run")
    assert "discovered" not in (out / "inventory" / "host_vars" / "still-fawn.yml").read_text()


def test_materialize_writes_every_file_privately_with_its_bits(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    (project / "playbooks" / "library").mkdir()
    tool = project / "playbooks" / "library" / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    snap = build(project, state)
    out = snapshot.materialize(state, snap, tmp_path / "run")
    assert out.stat().st_mode & 0o777 == 0o700
    for name, item in snap.files.items():
        assert (out / name).read_bytes() == files_of(project)[name]
        assert bool((out / name).stat().st_mode & 0o100) == item.executable
    assert snap.files["playbooks/library/tool.sh"].executable


def test_objects_are_stored_once_across_plans(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = build(project, state)
    objects = sorted(snapshot.objects_dir(state).rglob("*"))
    size = snapshot.stored_size(state, first)
    assert 0 < size < sum(len(d) for d in files_of(project).values())  # compressed
    assert build(project, state) == first  # same inputs: same id, nothing new stored
    assert sorted(snapshot.objects_dir(state).rglob("*")) == objects
    (project / "inventory" / "host_vars" / "maas.yml").write_text("# edited\n", encoding="utf-8")
    second = build(project, state)
    assert second.id != first.id
    added = set(snapshot.objects_dir(state).rglob("*")) - set(objects)
    assert [p.parent.name + p.name for p in added if p.is_file()] == [second.files["inventory/host_vars/maas.yml"]
                                                                      .sha256]


def _object(state: Path, snap: Snapshot, name: str) -> Path:
    sha = snap.files[name].sha256
    return snapshot.objects_dir(state) / sha[:2] / sha[2:]


@pytest.mark.parametrize(("damage", "words"), [
    (lambda p: p.unlink(), "is missing"),
    (lambda p: p.write_bytes(b"not zlib"), "cannot be read"),
    (lambda p: p.write_bytes(zlib.compress(b"motd: planted\n")), "does not match its digest"),
])
def test_a_damaged_or_missing_object_is_refused_and_leaves_nothing(project: Path, tmp_path: Path, damage,
                                                                    words: str) -> None:
    state = tmp_path / "state"
    snap = build(project, state)
    damage(_object(state, snap, "roles/baseline/templates/motd.j2"))
    with pytest.raises(snapshot.SnapshotError, match=words):
        snapshot.verify(state, snap)
    with pytest.raises(snapshot.SnapshotError) as info:
        snapshot.materialize(state, snap, tmp_path / "run")
    assert info.value.exit_code == ExitCode.REFUSED
    assert "roles/baseline/templates/motd.j2" in info.value.message and words in info.value.message
    assert "homelab plan again" in (info.value.hint or "")
    assert not (tmp_path / "run").exists()


def test_a_manifest_that_names_a_path_outside_is_refused(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    snap = build(project, state)
    files = {"../escape": snap.files["ansible.cfg"]}
    bad = Snapshot(id=snapshot.manifest_id(snap.inventory, files), inventory=snap.inventory, files=files)
    with pytest.raises(snapshot.SnapshotError, match="outside its directory"):
        snapshot.materialize(state, bad, tmp_path / "run")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "run").exists()
    edited = snap.model_copy(update={"inventory": "inventory/hosts.yml"})
    with pytest.raises(snapshot.SnapshotError, match="does not match its id"):
        snapshot.materialize(state, edited, tmp_path / "run")


def test_ansible_variables_are_recorded_secrets_as_digests() -> None:
    env = {"ANSIBLE_ROLES_PATH": "/tmp/other", "ANSIBLE_VAULT_PASSWORD_FILE": "/etc/vault-pass",
           "ANSIBLE_BECOME_PASSWORD": "hunter2", "HOME": "/root", "NOT_ANSIBLE": "x"}
    seen = environment.recorded(env)
    assert seen["ANSIBLE_ROLES_PATH"] == "/tmp/other"
    assert seen["ANSIBLE_VAULT_PASSWORD_FILE"] == "/etc/vault-pass"  # a path, passed through
    assert seen["ANSIBLE_BECOME_PASSWORD"].startswith("sha256:") and "hunter2" not in str(seen)
    assert set(seen) == {"ANSIBLE_ROLES_PATH", "ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_BECOME_PASSWORD"}
    assert environment.ignored(seen) == ["ANSIBLE_BECOME_PASSWORD", "ANSIBLE_ROLES_PATH"]


def test_every_difference_in_ansible_variables_is_named() -> None:
    review = {"ANSIBLE_FORKS": "5", "ANSIBLE_TIMEOUT": "10", "ANSIBLE_BECOME_PASSWORD": "sha256:aa"}
    now = {"ANSIBLE_FORKS": "5", "ANSIBLE_ROLES_PATH": "/tmp/other", "ANSIBLE_BECOME_PASSWORD": "sha256:bb"}
    assert environment.changes(review, now) == [
        "ANSIBLE_BECOME_PASSWORD has another value now than at review",
        "ANSIBLE_ROLES_PATH is set now (was unset at review)",
        "ANSIBLE_TIMEOUT is unset now (was set at review)",
    ]
    assert environment.changes(review, dict(review)) == []


def test_a_run_gets_only_what_the_tool_sets(tmp_path: Path) -> None:
    caller = {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "USER": "root",
              "SSH_AUTH_SOCK": "/tmp/agent", "ANSIBLE_ROLES_PATH": "/tmp/other", "ANSIBLE_CONFIG": "/tmp/x.cfg",
              "ANSIBLE_LIBRARY": "/tmp/lib", "ANSIBLE_VAULT_PASSWORD_FILE": "/etc/vault-pass",
              "PYTHONPATH": "/tmp/evil", "OPENAI_API_KEY": "sk-secret"}
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    (project / "ansible.cfg").write_text("[defaults]\n")
    env = environment.for_run(project, home, caller)
    assert env["HOME"] == str(home) and env["ANSIBLE_HOME"] == str(home / ".ansible")
    assert env["ANSIBLE_CONFIG"] == str(project / "ansible.cfg")
    assert env["ANSIBLE_ROLES_PATH"] == str(project / "roles")
    assert env["ANSIBLE_COLLECTIONS_PATH"] == str(project / "collections")
    assert env["ANSIBLE_LIBRARY"].startswith(str(project))
    assert env["ANSIBLE_VAULT_PASSWORD_FILE"] == "/etc/vault-pass"
    assert {"PYTHONPATH", "OPENAI_API_KEY"}.isdisjoint(env)
    assert {env[k] for k in ("LANG", "LC_ALL", "USER", "SSH_AUTH_SOCK")} == {"C.UTF-8", "root", "/tmp/agent"}
    search_paths = [k for k in env if k.startswith("ANSIBLE_") and k != "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"
                    and k.endswith(("_PLUGINS", "_PATH", "LIBRARY", "MODULE_UTILS"))]
    assert len(search_paths) == 19
    assert all(env[k].startswith(str(project)) for k in search_paths)
    # ssh's ControlPath must fit in a socket address even when the run directory is deep.
    assert len(env["ANSIBLE_SSH_CONTROL_PATH_DIR"]) + 1 + 40 + 17 < 108


def test_uptime_kumas_credentials_reach_the_run_and_never_the_plans_record(tmp_path: Path) -> None:
    caller = {"PATH": "/usr/bin", "UPTIME_KUMA_USERNAME": "admin", "UPTIME_KUMA_PASSWORD": "s3cret",
              "OTHER_PASSWORD": "x"}
    env = environment.for_run(tmp_path, tmp_path / "home", caller)
    assert env["UPTIME_KUMA_USERNAME"] == "admin" and env["UPTIME_KUMA_PASSWORD"] == "s3cret"
    assert "OTHER_PASSWORD" not in env
    assert environment.recorded(caller) == {}


def test_os_environ_is_swapped_only_inside_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_ROLES_PATH", "/tmp/other")
    before = dict(os.environ)
    with environment.only({"PATH": "/usr/bin"}):
        assert dict(os.environ) == {"PATH": "/usr/bin"}
    assert dict(os.environ) == before
