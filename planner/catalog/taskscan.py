"""What each task of a catalog playbook does under ``--check``, read from its YAML.

Check mode is only honest when every task either supports it or says it runs
anyway. The scan finds, per task (by ``file:line``, the same key Ansible puts
in ``task_path``): its action, ``check_mode``, ``changed_when``, whether a
command has ``creates``/``removes``. The plan uses it to refuse a change
playbook whose tasks would run for real during review, and the review uses it
to say which results are real and which check mode could not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from planner import yamlio
from planner.plans.digests import ROLE_ACTIONS, role_name
from planner.yamlio.reading import NO_QUICK_READ, Lined, load_lined

COMMAND_ACTIONS = {f"{p}{a}" for p in ("", "ansible.builtin.", "ansible.legacy.")
                   for a in ("command", "shell", "raw", "script")}
_INCLUDE_TASKS = {f"{p}{a}" for p in ("", "ansible.builtin.", "ansible.legacy.")
                  for a in ("include_tasks", "import_tasks")}
_NESTED = ("block", "rescue", "always")


@dataclass(frozen=True)
class TaskInfo:
    """One task as written."""

    path: str  # "<absolute file>:<line>", as in ansible-runner's task_path
    name: str
    action: str
    check_mode: bool | None
    changed_when: bool
    creates_or_removes: bool
    #: The module does not support check mode, so Ansible skips it under --check (uri, for one).
    skipped_by_check: bool = False

    @property
    def runs_in_check_mode(self) -> bool:
        """True when the task runs for real even under --check."""
        return self.check_mode is False

    @property
    def unseen_by_check(self) -> bool:
        """A command without creates/removes: check mode cannot tell what it would do."""
        return self.action in COMMAND_ACTIONS and not self.creates_or_removes and self.check_mode is not False


@cache
def _no_check_mode(action: str) -> bool:
    """Whether the module's documentation says it does not support check mode (attributes.check_mode: none).

    ansible-runner's skipped events carry no result, so the reason Ansible gave is lost; the module's own
    documentation says it instead.
    """
    name = action.removeprefix("ansible.builtin.").removeprefix("ansible.legacy.")
    if not name.isidentifier() or action in COMMAND_ACTIONS or action in _INCLUDE_TASKS or action in ROLE_ACTIONS:
        # Including tasks is not skipped under --check, whatever its documentation says: what it includes runs.
        return False  # a collection's module (judged by its result, as before) or a command (see unseen_by_check)
    import importlib.util

    try:
        spec = importlib.util.find_spec(f"ansible.modules.{name}")
        doc = documentation(spec.origin) if spec and spec.origin else {}
    except Exception:  # an unreadable module is judged by its result, as before
        return False
    return check_mode_support(doc) == "none"


def check_mode_support(doc: Any) -> Any:
    """What a module's documentation says of check mode (``attributes.check_mode.support``); None if nothing."""
    attributes = doc.get("attributes") if isinstance(doc, dict) else None
    check_mode = attributes.get("check_mode") if isinstance(attributes, dict) else None
    return check_mode.get("support") if isinstance(check_mode, dict) else None


def documentation(module_file: str) -> Any:
    """The module's own DOCUMENTATION (its fragments not merged in), as ansible-core's ``read_docstring`` reads
    it: the string assigned at the top level, parsed as YAML. Read here with the standard library and libyaml
    because importing ansible-core's documentation reader costs every plan and apply about half a second;
    tests/unit/test_taskscan.py holds the two to the same answer for every module ansible-core ships."""
    import ast

    import yaml

    tree = ast.parse(Path(module_file).read_bytes())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DOCUMENTATION"
                                                 for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return yaml.load(node.value.value, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {}


#: Every keyword a task or block may carry besides its action: ansible-core's Task and Block attributes, plus
#: ``action`` and ``local_action``. Written out so that finding a task's action does not import
#: ansible.playbook (half a second or more, paid by every plan and every apply);
#: tests/unit/test_taskscan.py holds it to the installed ansible-core's own list.
TASK_KEYWORDS = frozenset({
    "action", "always", "any_errors_fatal", "args", "async", "async_val", "become", "become_exe", "become_flags",
    "become_method", "become_user", "block", "changed_when", "check_mode", "collections", "connection",
    "debugger", "delay", "delegate_facts", "delegate_to", "diff", "environment", "failed_when", "ignore_errors",
    "ignore_unreachable", "local_action", "loop", "loop_control", "loop_with", "module_defaults", "name",
    "no_log", "notify", "poll", "port", "register", "remote_user", "rescue", "retries", "run_once", "tags",
    "throttle", "timeout", "until", "vars", "when",
})


def _action_of(task: dict[str, Any]) -> str:
    for key in task:
        if key not in TASK_KEYWORDS and not str(key).startswith("with_"):
            return str(key)
    return str(task.get("action") or "")


def _load(path: Path) -> Any:
    """A playbook's or role's YAML as Ansible reads it (YAML 1.1: ``check_mode: no`` is false), by libyaml,
    each list with the line its items start on; ruamel's round-trip reader where libyaml cannot read it (its
    lists carry the same lines in ``.lc``, and its errors say where the file is broken)."""
    data = load_lined(path)
    return yamlio.load(path) if data is NO_QUICK_READ else data


def _line(tasks: Any, index: int) -> int:
    if isinstance(tasks, Lined):
        return tasks.lines[index]
    return tasks.lc.item(index)[0] + 1 if hasattr(tasks, "lc") else 0


def _walk(tasks: Any, file: Path, root: Path, out: list[TaskInfo]) -> None:
    for index, task in enumerate(tasks if isinstance(tasks, list) else []):
        if not isinstance(task, dict):
            continue
        if any(k in task for k in _NESTED):
            for key in _NESTED:
                _walk(task.get(key), file, root, out)
            continue
        action = _action_of(task)
        line = _line(tasks, index)
        args = task.get(action)
        mode = task.get("check_mode")
        out.append(TaskInfo(
            path=f"{file}:{line}", name=str(task.get("name") or action), action=action,
            check_mode=mode if isinstance(mode, bool) else None,
            changed_when="changed_when" in task,
            creates_or_removes=isinstance(args, dict) and bool({"creates", "removes"} & set(args)),
            skipped_by_check=mode is not False and _no_check_mode(action),
        ))
        if action in _INCLUDE_TASKS:
            name = args.get("file") if isinstance(args, dict) else args
            if isinstance(name, str) and "{{" not in name and (file.parent / name).is_file():
                _walk(_load(file.parent / name), file.parent / name, root, out)
        if action in ROLE_ACTIONS and isinstance(args, dict) and isinstance(args.get("name"), str):
            tasks_from = args.get("tasks_from")
            _scan_role(root, args["name"], out, str(tasks_from) if isinstance(tasks_from, str) else "main")


def _scan_role(root: Path, role: str, out: list[TaskInfo], tasks_from: str = "main") -> None:
    role_dir = root / "roles" / role
    stem = tasks_from.removesuffix(".yml").removesuffix(".yaml")
    for part, name in (("tasks", stem), ("handlers", "main")):
        main = role_dir / part / f"{name}.yml"
        if main.is_file():
            _walk(_load(main), main.resolve(), root, out)


def scan_playbook(root: Path, playbook: Path) -> list[TaskInfo]:
    """Every task a playbook would run, from the play and the roles it applies."""
    out: list[TaskInfo] = []
    for play in _load(playbook) or []:
        if not isinstance(play, dict):
            continue
        for key in ("pre_tasks",):
            _walk(play.get(key), playbook.resolve(), root, out)
        for name in filter(None, map(role_name, play.get("roles") or [])):
            _scan_role(root, name, out)
        for key in ("tasks", "post_tasks", "handlers"):
            _walk(play.get(key), playbook.resolve(), root, out)
    return out


def check_mode_violations(root: Path, playbook: Path, risk: str) -> list[str]:
    """Tasks that would run for real during a check run where that is not allowed.

    Allowed only in a ``read`` playbook, and only for a task that declares
    itself read-only with ``changed_when``.
    """
    problems = []
    for task in scan_playbook(root, playbook):
        if not task.runs_in_check_mode:
            continue
        where = str(Path(task.path.rsplit(":", 1)[0]).relative_to(root.resolve())) + ":" + task.path.rsplit(":", 1)[1]
        if risk != "read":
            problems.append(f"{where}: task {task.name!r} has check_mode: false, so it would run for real while"
                            " the plan is only being reviewed; only read playbooks may do that")
        elif not task.changed_when:
            problems.append(f"{where}: task {task.name!r} runs for real under --check but does not declare itself"
                            " read-only (add changed_when: false)")
    return problems
