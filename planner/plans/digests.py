"""sha256 digests of everything a plan's run depends on.

A plan is applyable only with the inputs it was reviewed against: the
inventory files, each playbook and its sidecar, the roles those playbooks
apply (and their dependencies), the project's collections, ansible.cfg, and
the installed ansible-core and collection versions. ``apply`` recomputes
these and names every input that moved.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from planner import yamlio

ROLE_ACTIONS = {f"{prefix}{verb}_role" for prefix in ("", "ansible.builtin.", "ansible.legacy.")
                for verb in ("import", "include")}
_TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers", "block", "rescue", "always")


def sha256_file(path: Path) -> str:
    """Hex digest of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    # followlinks: the lab's inventory is a directory of links to the project's files.
    found = [Path(d) / f for d, _dirs, files in os.walk(path, followlinks=True) for f in files]
    return sorted(p for p in found if "__pycache__" not in p.parts)


def _roles_in_tasks(tasks: Any) -> set[str]:
    found: set[str] = set()
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        for action in ROLE_ACTIONS & set(task):
            args = task[action]
            if isinstance(args, dict) and isinstance(args.get("name"), str):
                found.add(args["name"])
        for key in _TASK_LISTS:
            found |= _roles_in_tasks(task.get(key))
    return found


def role_name(entry: Any) -> str | None:
    """The role a play's ``roles:`` entry names (``- name``, ``- role: name`` or ``- name: name``)."""
    name = entry.get("role") or entry.get("name") if isinstance(entry, dict) else entry
    return name if isinstance(name, str) else None


def roles_of_playbook(playbook: Path) -> set[str]:
    """Role names a playbook applies (``roles:`` and import/include_role with a literal name)."""
    found: set[str] = set()
    for play in yamlio.load(playbook) or []:
        if not isinstance(play, dict):
            continue
        found |= {n for n in map(role_name, play.get("roles") or []) if n}
        for key in _TASK_LISTS:
            found |= _roles_in_tasks(play.get(key))
    return found


def _with_dependencies(root: Path, roles: set[str]) -> set[str]:
    pending, seen = list(roles), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        role_dir = root / "roles" / name
        needed = _roles_in_tasks(_load_tasks(role_dir))
        meta = role_dir / "meta" / "main.yml"
        deps = (yamlio.load(meta) or {}).get("dependencies") if meta.is_file() else None
        for dep in deps or []:
            dep_name = dep.get("role") if isinstance(dep, dict) else dep
            if isinstance(dep_name, str):
                needed.add(dep_name)
        pending.extend(needed - seen)
    return seen


def _load_tasks(role_dir: Path) -> list[Any]:
    tasks: list[Any] = []
    for path in sorted((role_dir / "tasks").glob("*.yml")) if (role_dir / "tasks").is_dir() else []:
        tasks.extend(yamlio.load(path) or [])
    return tasks


def installed_versions(root: Path) -> dict[str, str]:
    """ansible-core and each project collection's version (from galaxy.yml)."""
    from importlib.metadata import version

    versions = {"ansible-core": version("ansible-core"), "ansible-runner": version("ansible-runner")}
    for galaxy in sorted((root / "collections" / "ansible_collections").glob("*/*/galaxy.yml")):
        data = yamlio.load(galaxy) or {}
        versions[f"{data.get('namespace')}.{data.get('name')}"] = str(data.get("version"))
    return versions


def display_path(path: Path, root: Path) -> str:
    """A path as people know it: relative to the project, through the lab's symlinks."""
    real = path.resolve()
    return str(real.relative_to(root)) if real.is_relative_to(root) else str(path)


def input_digests(root: Path, inventory: Path, playbooks: list[Path]) -> dict[str, str]:
    """Digest of every input file, keyed by its display path."""
    root = root.resolve()
    paths: list[Path] = [*_files_under(inventory)]
    roles: set[str] = set()
    for playbook in playbooks:
        paths += [playbook, playbook.with_name(playbook.stem + ".meta.yml")]
        roles |= roles_of_playbook(playbook)
    for role in sorted(_with_dependencies(root, roles)):
        paths += _files_under(root / "roles" / role)
    paths += _files_under(root / "collections" / "ansible_collections")
    cfg = root / "ansible.cfg"
    if cfg.is_file():
        paths.append(cfg)
    return {display_path(p, root): sha256_file(p) for p in paths if p.exists()}


def moved_inputs(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """Each input that changed, appeared or disappeared, as a readable line."""
    moved = []
    for name in sorted(set(recorded) | set(current)):
        if name not in current:
            moved.append(f"{name} was removed")
        elif name not in recorded:
            moved.append(f"{name} is new")
        elif recorded[name] != current[name]:
            moved.append(f"{name} changed")
    return moved
