"""Read the hand-kept Ansible YAML inventory under ``inventory/``.

This is a reader, not Ansible's inventory manager: it keeps where every value
was written (for ``file:line:col`` errors) and refuses what Ansible would
silently accept (duplicate keys, the same host given variables twice). Plays
still use Ansible's own inventory; both read the same files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner import yamlio
from planner.errors import InventoryError

YAML_SUFFIXES = (".yml", ".yaml")
#: Groups Ansible always has.
IMPLICIT_GROUPS = ("all", "ungrouped")
_GROUP_KEYS = {"hosts", "children", "vars"}
#: The block ``homelab facts`` writes into a host's vars (planner.knowledge.facts), the one key of them that
#: is not documentation.
DISCOVERED_KEY = "discovered"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the inventory, with where it was written."""

    location: yamlio.Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


#: :attr:`Source.discovered` of a file whose discovered block was not read with it.
NOT_READ: Any = object()


@dataclass
class Source:
    """A loaded YAML file: its document and the path shown to people."""

    path: Path
    display: str
    doc: Any
    #: A host_vars file's ``discovered:`` block as Ansible reads it (YAML 1.1), read in the same parse as
    #: ``doc`` (None: the file has none); NOT_READ where that parse could not promise Ansible's reading.
    discovered: Any = field(default=NOT_READ, repr=False)


@dataclass
class Inventory:
    """Hosts, groups and the variables files of one inventory directory."""

    root: Path
    #: host -> the groups it is listed in, in file order. Never the implicit ``all`` and ``ungrouped``: a host
    #: listed under ``all:`` (as the lab's connection file lists every host) is in the same groups as before.
    hosts: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # group -> child groups
    host_defs: dict[str, list[tuple[Source, Any, yamlio.Location]]] = field(default_factory=dict)
    group_vars: dict[str, list[Source]] = field(default_factory=dict)
    host_vars: dict[str, list[Source]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: vars files encrypted whole with ansible-vault: read by Ansible with the password, never by this tool.
    encrypted: list[str] = field(default_factory=list)
    #: Whether the files were read with every value's line and column (see :func:`load_inventory`).
    positions: bool = True
    #: Whether each host_vars file's discovered block was read as Ansible reads it too (see :func:`load_inventory`).
    discovered: bool = False

    def hostvars(self, host: str, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Documented variables of one host, as plain data (host_vars files win over hosts.yml).

        Keys in ``skip`` are left out before their values are converted: a reader with no use for a host's
        discovered block (hundreds of values) does not pay for copying it.
        """
        merged: dict[str, Any] = {}
        for _source, vars_, _where in self.host_defs.get(host, []):
            if isinstance(vars_, dict):
                merged.update(yamlio.plain(without(vars_, skip)))
        for source in self.host_vars.get(host, []):
            if isinstance(source.doc, dict):
                merged.update(yamlio.plain(without(source.doc, skip)))
        return merged

    def groups_of(self, host: str) -> set[str]:
        """Every group ``host`` is in: its own, their parents up to ``all``, and ``ungrouped`` when it is in
        no other group (as Ansible has it)."""
        own = self.hosts.get(host, [])
        found = set(own) | {"all"} | (set() if own else {"ungrouped"})
        todo = list(found)
        while todo:
            group = todo.pop()
            for parent, children in self.groups.items():
                if group in children and parent not in found:
                    found.add(parent)
                    todo.append(parent)
        return found

    def members(self, name: str) -> list[str]:
        """The hosts a host or group name stands for (child groups included), in inventory order."""
        if name in self.hosts:
            return [name]
        return [h for h in self.hosts if name in self.groups_of(h)]

    def group_hosts(self) -> dict[str, list[str]]:
        """Each group but ``all`` with its hosts, child groups' included; groups with none left out."""
        return {g: members for g in self.groups if g != "all" and (members := self.members(g))}

    def groupvars(self, group: str) -> dict[str, Any]:
        """Variables from ``group_vars/<group>`` files, as plain data."""
        merged: dict[str, Any] = {}
        for source in self.group_vars.get(group, []):
            if isinstance(source.doc, dict):
                merged.update(yamlio.plain(source.doc))
        return merged


def without(doc: dict[Any, Any], skip: frozenset[str]) -> dict[Any, Any]:
    """``doc`` less the keys in ``skip`` (compared as the strings :func:`planner.yamlio.plain` makes of them)."""
    return {k: v for k, v in doc.items() if str(k) not in skip} if skip else doc


def _yaml_files(path: Path) -> list[Path]:
    """A vars entry is a file, or a directory of files read in name order (as Ansible does)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
    return [path]


def _shown(path: Path, root: Path) -> str:
    """``path`` as people see it: relative to the inventory's parent when it lies below it."""
    # String work rather than Path.relative_to: the same answer for the paths the loader walks (built from
    # root), at a fraction of the cost, which a 1,000-host inventory pays 1,000 times.
    text, parent = str(path), str(root.parent)
    prefix = parent if parent.endswith(os.sep) else parent + os.sep
    return text[len(prefix):] if text.startswith(prefix) and len(text) > len(prefix) else text


def _load(path: Path, root: Path, inv: Inventory, host_vars: bool = False) -> Source | None:
    display = _shown(path, root)
    try:
        if host_vars and inv.discovered and not inv.positions:
            # The file is parsed once for its documentation and for the block drift and docs read as Ansible.
            from planner.yamlio.quick import UNSURE

            doc, discovered = yamlio.load_data_and(path, DISCOVERED_KEY, display)
            return Source(path, display, doc, NOT_READ if discovered is UNSURE else discovered)
        return Source(path, display, (yamlio.load if inv.positions else yamlio.load_data)(path, display))
    except yamlio.YamlSyntaxError as err:
        inv.problems.append(Problem(err.location, err.problem))
        return None


def _walk_group(inv: Inventory, source: Source, name: str, body: Any, node: Any) -> None:
    inv.groups.setdefault(name, [])
    if body is None:
        return
    if not isinstance(body, dict):
        inv.problems.append(Problem(yamlio.locate(node, (name,), source.display),
                                    f"group {name!r} must be a mapping with hosts, children or vars"))
        return
    for key in body:
        if key not in _GROUP_KEYS:
            inv.problems.append(Problem(yamlio.locate(body, (key,), source.display),
                                        f"group {name!r}: unknown key {key!r} (expected hosts, children or vars)"))
    hosts = body.get("hosts") or {}
    if not isinstance(hosts, dict):
        inv.problems.append(Problem(yamlio.locate(body, ("hosts",), source.display),
                                    f"group {name!r}: hosts must be a mapping of host names"))
        hosts = {}
    for key, vars_ in hosts.items():
        host = str(key)
        groups = inv.hosts.setdefault(host, [])
        if name not in groups and name not in IMPLICIT_GROUPS:
            groups.append(name)
        where = (yamlio.location_of(hosts, key, source.display, at_key=True)
                 or yamlio.Location(source.display, 1, 1))
        inv.host_defs.setdefault(host, []).append((source, vars_, where))
        if vars_ is not None and not isinstance(vars_, dict):
            inv.problems.append(Problem(where, f"host {host!r}: variables must be a mapping"))
    children = body.get("children") or {}
    if not isinstance(children, dict):
        inv.problems.append(Problem(yamlio.locate(body, ("children",), source.display),
                                    f"group {name!r}: children must be a mapping of group names"))
        children = {}
    for child, child_body in children.items():
        child = str(child)
        if child not in inv.groups[name]:
            inv.groups[name].append(child)
        _walk_group(inv, source, child, child_body, children)


def _check_duplicates(inv: Inventory) -> None:
    """A host given variables in two places is almost always a copy-paste mistake."""
    for host, defs in inv.host_defs.items():
        with_vars = [where for _s, v, where in defs if v]
        if len(with_vars) > 1:
            inv.problems.append(Problem(
                with_vars[1],
                f"duplicate host {host!r}: variables given in {len(with_vars)} places"
                f" ({', '.join(map(str, with_vars))}); keep them in one place (host_vars/{host}.yml)"))
    overlap = set(inv.hosts) & set(inv.groups)
    for name in sorted(overlap):
        inv.problems.append(Problem(inv.host_defs[name][0][2],
                                    f"{name!r} is both a host and a group; Ansible patterns become ambiguous"))


def load_inventory(root: Path, positions: bool = False, discovered: bool = False) -> Inventory:
    """Parse every file of an inventory directory; problems are collected, not raised.

    The files are read quickly, without each value's line and column (a 1,000-host inventory is 1,000 files);
    when anything is wrong they are read again with them (``positions``), so every problem names its line.
    With ``discovered`` the same parse of each host_vars file also gives its discovered block as Ansible reads
    it (:attr:`Source.discovered`), for readers of the facts (drift, docs); others do not pay for it.
    """
    return with_positions(_read(root, positions, discovered), lambda inv: None)


def with_positions(inv: Inventory, check: Callable[[Inventory], object]) -> Inventory:
    """``inv`` after ``check`` (which adds to its problems); when there are problems and ``inv`` was read
    without positions, the inventory read again with them and checked again, so every problem names its line."""
    check(inv)
    if inv.problems and not inv.positions:
        inv = _read(inv.root, positions=True, discovered=inv.discovered)
        check(inv)
    return inv


def _read(root: Path, positions: bool, discovered: bool = False) -> Inventory:
    if not root.is_dir():
        raise InventoryError(f"no inventory directory at {root}", "create inventory/hosts.yml (see README)")
    inv = Inventory(root=root, positions=positions, discovered=discovered)
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES):
        source = _load(path, root, inv)
        if source is None or source.doc is None:
            continue
        if not isinstance(source.doc, dict):
            inv.problems.append(Problem(yamlio.Location(source.display, 1, 1),
                                        "an inventory file must be a mapping of group names"))
            continue
        for group, body in source.doc.items():
            _walk_group(inv, source, str(group), body, source.doc)
    for kind, target in (("group_vars", inv.group_vars), ("host_vars", inv.host_vars)):
        base = root / kind
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            name = entry.stem if entry.is_file() else entry.name
            if entry.is_file() and entry.suffix not in YAML_SUFFIXES:
                continue
            for path in _yaml_files(entry):
                source = _load(path, root, inv, host_vars=kind == "host_vars")
                if source is None:
                    continue
                if yamlio.vault_encrypted(source.doc):
                    # It loads as one long string: its keys stay unknown (readers skip a doc that is not a
                    # mapping), but its name still says which host or group it is for.
                    inv.encrypted.append(source.display)
                elif source.doc is not None and not isinstance(source.doc, dict):
                    inv.problems.append(Problem(yamlio.Location(source.display, 1, 1),
                                                "a vars file must be a mapping of variable names"))
                    continue
                target.setdefault(name, []).append(source)
    _check_duplicates(inv)
    for group in IMPLICIT_GROUPS:
        inv.groups.setdefault(group, [])
    return inv


def require_valid(inv: Inventory) -> Inventory:
    """Raise InventoryError listing every problem found while loading and validating."""
    if inv.problems:
        raise InventoryError(
            f"the inventory has {len(inv.problems)} problem{'s' if len(inv.problems) > 1 else ''}",
            "fix the lines named above; nothing was written",
            details=[str(p) for p in inv.problems],
        )
    return inv
