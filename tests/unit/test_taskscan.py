"""The task scanner reads what ansible-core would, without importing the parts of it that cost a plan its
start-up: its keyword table is ansible-core's, and its reading of a module's documentation gives
ansible-core's answer for every module ansible-core ships."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from planner.catalog.taskscan import TASK_KEYWORDS, check_mode_support, documentation
from tests.conftest import ROOT


def test_the_keyword_table_is_the_installed_ansible_cores() -> None:
    from ansible.playbook.block import Block
    from ansible.playbook.task import Task

    assert frozenset(Task.fattributes) | frozenset(Block.fattributes) | {"local_action", "action"} == TASK_KEYWORDS


def test_every_builtin_modules_check_mode_support_reads_as_ansible_core_reads_it() -> None:
    import ansible.modules
    from ansible.parsing.plugin_docs import read_docstring

    modules = sorted(p for p in Path(ansible.modules.__file__).parent.glob("*.py") if p.name != "__init__.py")
    assert len(modules) > 60
    ours = {p.stem: check_mode_support(documentation(str(p))) for p in modules}
    theirs = {p.stem: check_mode_support((read_docstring(str(p)) or {}).get("doc")) for p in modules}
    assert ours == theirs
    assert {"none", "full", "partial"} <= set(ours.values()), "the comparison would prove nothing"


def test_scanning_a_playbook_imports_no_ansible_playbook_or_doc_reader() -> None:
    probe = ("import sys; from pathlib import Path; from planner.catalog.taskscan import scan_playbook; "
             "tasks = scan_playbook(Path('.'), Path('playbooks/deploy_monitoring.yml')); "
             "assert tasks and all(t.action for t in tasks), tasks; "
             "print(sorted(m for m in sys.modules if m.startswith(('ansible.playbook', 'ansible.parsing'))))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_every_catalog_playbook_scans_alike_by_libyaml_and_by_the_round_trip_reader(monkeypatch) -> None:
    """libyaml reads the project's playbooks and roles to the same tasks, at the same lines, as ruamel's
    round-trip reader (which the scanner falls back to) and as Ansible (ansible_pos, the line task_path names)."""
    from ansible._internal._datatag._tags import Origin  # where ansible-core 2.19+ keeps a value's file:line
    from ansible.parsing.dataloader import DataLoader

    from planner.catalog import taskscan
    from planner.yamlio import reading

    playbooks = sorted((ROOT / "playbooks").glob("*.yml"))
    playbooks = [p for p in playbooks if not p.name.endswith(".meta.yml")]
    assert len(playbooks) > 15
    quick = {p.name: taskscan.scan_playbook(ROOT, p) for p in playbooks}
    assert sum(map(len, quick.values())) > 100
    monkeypatch.setattr(taskscan, "load_lined", lambda path: reading.NO_QUICK_READ)
    assert {p.name: taskscan.scan_playbook(ROOT, p) for p in playbooks} == quick

    # Ansible's own reading of one role's tasks: each task's line is where Ansible says the task is.
    tasks_file = ROOT / "roles" / "baseline" / "tasks" / "main.yml"
    ansible_lines = [Origin.get_tag(task).line_num for task in DataLoader().load_from_file(str(tasks_file))
                     if "block" not in task]
    ours = [int(t.path.rsplit(":", 1)[1]) for t in quick["apply_baseline.yml"]
            if t.path.startswith(str(tasks_file.resolve()) + ":")]
    assert ours[:len(ansible_lines)] == ansible_lines and ansible_lines


def test_a_task_written_in_yaml_1_1_is_read_as_ansible_reads_it(tmp_path: Path) -> None:
    """``check_mode: no`` is false to Ansible (YAML 1.1): the task runs for real under --check, and a change
    playbook holding it is refused. A YAML 1.2 reader would take ``no`` for a string and miss it."""
    from planner.catalog.taskscan import check_mode_violations, scan_playbook

    (tmp_path / "roles" / "r" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "r" / "tasks" / "main.yml").write_text(
        "---\n- name: Count things\n  ansible.builtin.command: ls /\n  check_mode: no\n"
        "- name: Quiet\n  ansible.builtin.command: ls /\n  check_mode: yes\n")
    playbook = tmp_path / "p.yml"
    playbook.write_text("---\n- name: P\n  hosts: all\n  roles:\n    - r\n")
    first, second = scan_playbook(tmp_path, playbook)
    assert (first.check_mode, second.check_mode) == (False, True)
    assert first.path.endswith("main.yml:2") and second.path.endswith("main.yml:5")
    assert check_mode_violations(tmp_path, playbook, "change") == [
        "roles/r/tasks/main.yml:2: task 'Count things' has check_mode: false, so it would run for real while the "
        "plan is only being reviewed; only read playbooks may do that"]


def test_a_broken_task_file_is_still_reported_with_where_it_breaks(tmp_path: Path) -> None:
    """Text libyaml refuses goes to the round-trip reader, whose error names file, line and column."""
    import pytest

    from planner.catalog.taskscan import scan_playbook
    from planner.yamlio import YamlSyntaxError

    playbook = tmp_path / "p.yml"
    playbook.write_text("---\n- name: P\n  hosts: all\n  tasks:\n    - name: x\n      debug: {msg: [\n")
    with pytest.raises(YamlSyntaxError) as err:
        scan_playbook(tmp_path, playbook)
    assert str(err.value).startswith(f"{playbook}:")
