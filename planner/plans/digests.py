"""sha256 digests of everything a plan's run depends on.

A plan is applyable only with the inputs it was reviewed against: the
inventory files, each playbook and its sidecar, the roles those playbooks
apply (and their dependencies), the project's collections, ansible.cfg, and
the installed ansible-core and collection versions. ``apply`` recomputes
these and names every input that moved.

One part of the inventory is left out: each host's ``discovered:`` block,
which the tool itself writes (``homelab facts``, the read-back after an
apply, a plan's read steps) and which no catalog playbook reads (a test
holds playbooks/, roles/ and the collection to that). A host_vars file is
digested with that block's lines cut out, so facts gathered between plan and
apply leave the plan applyable, while a person's edit anywhere else in the
file, a comment included, still makes it stale. A file that holds nothing
but the block (``host_vars/<host>/discovered.yml``) is left out.
"""

from __future__ import annotations

import hashlib
import os
import re
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


#: A top-level ``discovered:`` key, as the facts writer puts it (quick test before the YAML is read).
_DISCOVERED = re.compile(r"""^["']?discovered["']?[ \t]*:""", re.M)
_NO_DATA = re.compile(r"^(?:[ \t]*(?:#[^\n]*)?|---|\.\.\.|\{\})[ \t]*$")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def without_discovered(text: str) -> str | None:
    """The file's text with the top-level ``discovered:`` block's lines cut out (the rest byte for byte);
    None when nothing but comments is left. Text that cannot be edited comes back whole."""
    from planner.yamlio.edit import delete_text
    from planner.yamlio.text import YamlEditError

    if not _DISCOVERED.search(text):
        return text
    try:
        rest = delete_text(text, ("discovered",))
    except YamlEditError:  # not one YAML mapping (broken, several documents, vaulted): digested whole
        return text
    if all(_NO_DATA.match(line) for line in rest.splitlines()):
        return None
    return rest


def inventory_digest(path: Path, inventory: Path) -> str | None:
    """Digest of one inventory file, host_vars files without their discovered block (None: left out)."""
    try:
        parts = path.relative_to(inventory).parts
    except ValueError:
        parts = ()
    if parts[:1] != ("host_vars",) or path.suffix not in (".yml", ".yaml"):
        return sha256_file(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return hashlib.sha256(data).hexdigest()
    rest = without_discovered(text)
    return None if rest is None else sha256_text(rest)


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
    """Digest of every input file, keyed by its display path (host_vars without the discovered blocks)."""
    root = root.resolve()
    digests: dict[str, str] = {}
    for path in _files_under(inventory):
        if path.exists() and (digest := inventory_digest(path, inventory)) is not None:
            digests[display_path(path, root)] = digest
    paths: list[Path] = []
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
    digests.update({display_path(p, root): sha256_file(p) for p in paths if p.exists()})
    return digests


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
