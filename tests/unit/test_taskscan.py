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
