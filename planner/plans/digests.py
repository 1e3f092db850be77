"""Every file a plan's run reads, and its sha256 digest.

A plan is applyable only with the inputs it was reviewed against: the
inventory (every file of an inventory directory; a file inventory with the
group_vars and host_vars next to it), each playbook and its sidecar with the
directories Ansible reads next to it (group_vars, host_vars, roles, library,
module_utils, the plugin directories, …), the roles those playbooks apply
(and their dependencies), the project's collections, ansible.cfg, and the
installed ansible-core and collection versions. ``input_files`` names that
set once: a plan's snapshot stores exactly these files, and ``apply``
recomputes their digests over the working tree and names every one that
moved.

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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from planner import yamlio

ROLE_ACTIONS = {f"{prefix}{verb}_role" for prefix in ("", "ansible.builtin.", "ansible.legacy.")
                for verb in ("import", "include")}
_TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers", "block", "rescue", "always")


#: A top-level ``discovered:`` key, as the facts writer puts it (quick test before the YAML is read).
_DISCOVERED = re.compile(r"""^["']?discovered["']?[ \t]*:""", re.M)
_NO_DATA = re.compile(r"^(?:[ \t]*(?:#[^\n]*)?|---|\.\.\.|\{\})[ \t]*$")


def without_discovered(text: str) -> str | None:
    """The file's text with the top-level ``discovered:`` block's lines cut out (the rest byte for byte);
    None when nothing but comments is left. Text that cannot be edited comes back whole."""
    from planner.yamlio.edit import delete_text
    from planner.yamlio.text import YamlEditError

    if not _DISCOVERED.search(text):
        return text
    from planner.yamlio.block import Unsure, cut

    try:
        try:
            rest = cut(text, "discovered")  # the quick path: libyaml finds the block's lines
        except Unsure:
            rest = delete_text(text, ("discovered",))
    except YamlEditError:  # not one YAML mapping (broken, several documents, vaulted): digested whole
        return text
    if all(_NO_DATA.match(line) for line in rest.splitlines()):
        return None
    return rest


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


def _structure(path: Path) -> Any:
    """A YAML file read only to find the roles it names; None when it is missing or no longer YAML.

    Whatever the file holds, its own digest is what decides staleness: a playbook or role file removed or
    broken after the plan was made must be named as changed, not stop the comparison with a traceback.
    """
    from planner.errors import HomelabError

    try:
        return yamlio.load_data(path)  # no positions needed: the quick reading
    except (HomelabError, yamlio.YamlSyntaxError, OSError):
        return None


def roles_of_playbook(playbook: Path) -> set[str]:
    """Role names a playbook applies (``roles:`` and import/include_role with a literal name)."""
    found: set[str] = set()
    plays = _structure(playbook)
    for play in plays if isinstance(plays, list) else []:
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
        data = _structure(meta) if meta.is_file() else None
        deps = data.get("dependencies") if isinstance(data, dict) else None
        for dep in deps if isinstance(deps, list) else []:
            dep_name = dep.get("role") if isinstance(dep, dict) else dep
            if isinstance(dep_name, str):
                needed.add(dep_name)
        pending.extend(needed - seen)
    return seen


def _load_tasks(role_dir: Path) -> list[Any]:
    tasks: list[Any] = []
    for path in sorted((role_dir / "tasks").glob("*.yml")) if (role_dir / "tasks").is_dir() else []:
        data = _structure(path)
        tasks.extend(data if isinstance(data, list) else [])
    return tasks


def installed_versions(root: Path) -> dict[str, str]:
    """ansible-core and each project collection's version (from galaxy.yml)."""
    from importlib.metadata import version

    versions = {"ansible-core": version("ansible-core"), "ansible-runner": version("ansible-runner")}
    for galaxy in sorted((root / "collections" / "ansible_collections").glob("*/*/galaxy.yml")):
        data = yamlio.load_data(galaxy) or {}
        versions[f"{data.get('namespace')}.{data.get('name')}"] = str(data.get("version"))
    return versions


def display_path(path: Path, root: Path) -> str:
    """A path as people know it: relative to the project, through the lab's symlinks."""
    real = path.resolve()
    return str(real.relative_to(root)) if real.is_relative_to(root) else str(path)


#: Directories Ansible reads next to a playbook when they exist (vars, roles, modules, plugins, content).
PLAYBOOK_DIRS = ("group_vars", "host_vars", "roles", "library", "module_utils", "collections", "files", "templates",
                 "vars", "tasks", "handlers", "action_plugins", "become_plugins", "cache_plugins",
                 "callback_plugins", "cliconf_plugins", "connection_plugins", "filter_plugins", "httpapi_plugins",
                 "inventory_plugins", "lookup_plugins", "netconf_plugins", "strategy_plugins", "terminal_plugins",
                 "test_plugins", "vars_plugins", "doc_fragments")


@dataclass(frozen=True)
class InputFile:
    """One file a run reads: its place in a snapshot's project, where it came from, and the bytes that count.

    ``data`` is what is digested and what a snapshot stores: a host_vars file without its discovered
    block, every other file byte for byte.
    """

    path: str  # relative to the snapshot's project directory, e.g. "playbooks/apply_baseline.yml"
    display: str  # as people know it, and as the plan's digests are keyed
    data: bytes
    executable: bool

    @cached_property  # asked for by the digests, the snapshot's store and its manifest: hashed once
    def sha256(self) -> str:
        """Digest of the bytes that count."""
        return hashlib.sha256(self.data).hexdigest()


def _inventory_data(path: Path, inventory: Path) -> bytes | None:
    """The bytes of an inventory file that count (host_vars without the discovered block; None: left out)."""
    data = path.read_bytes()
    try:
        parts = path.relative_to(inventory).parts
    except ValueError:
        parts = ()
    if parts[:1] != ("host_vars",) or path.suffix not in (".yml", ".yaml"):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    rest = without_discovered(text)
    return None if rest is None else rest.encode("utf-8")


def _inventory_sources(inventory: Path) -> list[tuple[Path, str, Path]]:
    """(file, place under the snapshot's inventory/, the directory it is read relative to) for every file."""
    if inventory.is_dir():
        return [(p, p.relative_to(inventory).as_posix(), inventory) for p in _files_under(inventory)]
    # A file inventory: Ansible also reads the group_vars and host_vars next to it.
    found = [(inventory, inventory.name, inventory.parent)]
    for name in ("group_vars", "host_vars"):
        if (inventory.parent / name).is_dir():
            found += [(p, p.relative_to(inventory.parent).as_posix(), inventory.parent)
                      for p in _files_under(inventory.parent / name)]
    return found


def snapshot_inventory(inventory: Path) -> str:
    """Where the inventory sits in a snapshot's project: the directory, or the file inside it."""
    return "inventory" if inventory.is_dir() else f"inventory/{inventory.name}"


def input_files(root: Path, inventory: Path, playbooks: list[Path]) -> list[InputFile]:
    """Every file the run of ``playbooks`` against ``inventory`` reads, placed in a snapshot's fixed layout:
    ``ansible.cfg``, ``playbooks/`` (each playbook, its sidecar and the directories Ansible reads next to
    it), ``roles/`` (the roles used, with their dependencies), ``collections/`` and ``inventory/``."""
    root = root.resolve()
    found: dict[str, InputFile] = {}

    def add(path: Path, place: str, data: bytes | None = None) -> None:
        if place in found or not path.is_file():
            return
        found[place] = InputFile(place, display_path(path, root), path.read_bytes() if data is None else data,
                                 os.access(path, os.X_OK))

    for path, place, base in _inventory_sources(inventory):
        if not path.is_file():  # a link whose file was removed: left out, so the plan names it as removed
            continue
        data = _inventory_data(path, base)
        if data is not None:
            add(path, f"inventory/{place}", data)
    roles: set[str] = set()
    for playbook in playbooks:
        for path in (playbook, playbook.with_name(playbook.stem + ".meta.yml")):
            add(path, f"playbooks/{path.name}")
        for name in PLAYBOOK_DIRS:
            for path in _files_under(playbook.parent / name) if (playbook.parent / name).is_dir() else []:
                add(path, f"playbooks/{path.relative_to(playbook.parent).as_posix()}")
        roles |= roles_of_playbook(playbook)
    for role in sorted(_with_dependencies(root, roles)):
        for path in _files_under(root / "roles" / role) if (root / "roles" / role).is_dir() else []:
            add(path, path.relative_to(root).as_posix())
    for top in ("collections/ansible_collections", "plugins"):
        for path in _files_under(root / top) if (root / top).is_dir() else []:
            add(path, path.relative_to(root).as_posix())
    add(root / "ansible.cfg", "ansible.cfg")
    return sorted(found.values(), key=lambda f: f.path)


def digests(files: list[InputFile]) -> dict[str, str]:
    """Digest of each input file, keyed by its display path: what a plan records and apply compares."""
    return {f.display: f.sha256 for f in files}


def input_digests(root: Path, inventory: Path, playbooks: list[Path]) -> dict[str, str]:
    """Digest of every input file, keyed by its display path (host_vars without the discovered blocks)."""
    return digests(input_files(root, inventory, playbooks))


def differences(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, "gone" | "new" | "changed") for every name whose value differs, sorted by name."""
    found = []
    for name in sorted(set(recorded) | set(current)):
        if name not in current:
            found.append((name, "gone"))
        elif name not in recorded:
            found.append((name, "new"))
        elif recorded[name] != current[name]:
            found.append((name, "changed"))
    return found


def moved_inputs(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """Each input that changed, appeared or disappeared, as a readable line."""
    words = {"gone": "was removed", "new": "is new", "changed": "changed"}
    return [f"{name} {words[kind]}" for name, kind in differences(recorded, current)]
