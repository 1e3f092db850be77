"""Validate one plan step before anything runs: playbook, variables, targets.

Variables are checked against the playbook's argument specs with ansible-core's
own validator, so types are coerced exactly as Ansible would (``"5"`` → 5,
``"a,b"`` → a list, ``yes`` → True). Unknown keys get a "did you mean". Values
that carry Jinja are refused, never templated: a plan's variables are data.
Targets are resolved with Ansible's inventory manager, so patterns mean what
they mean to ``ansible-playbook --limit``.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.catalog.entries import CatalogEntry, OptionSpec
from planner.errors import ValidationError, did_you_mean

_JINJA = re.compile(r"\{\{|\{%|\{#")


class PlanValidationError(ValidationError):
    """A step asks for something the catalog, its argument specs or the inventory do not allow."""


@dataclass(frozen=True)
class CheckedStep:
    """A step that passed validation: coerced variables and the hosts it targets."""

    playbook: str
    limit: str
    vars: dict[str, Any]
    hosts: tuple[str, ...]


def parse_extra_vars(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``-e key=value`` pairs; a value that is a JSON list or object is parsed as JSON."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PlanValidationError(f"-e {pair!r} is not key=value",
                                      "write -e name=value; homelab catalog show ID lists a playbook's variables")
        value = value.strip()
        # Jinja stays a string so that validation names it as Jinja, not as broken JSON.
        if value[:1] in ("[", "{") and not _has_jinja(value):
            try:
                out[key.strip()] = json.loads(value)
                continue
            except json.JSONDecodeError as err:
                raise PlanValidationError(f"-e {key}: {value!r} is not valid JSON ({err.msg})",
                                          'quote lists as JSON: -e \'name=["a", "b"]\'') from None
        out[key.strip()] = value
    return out


def _has_jinja(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_JINJA.search(value))
    if isinstance(value, dict):
        return any(_has_jinja(k) or _has_jinja(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_jinja(v) for v in value)
    return False


def _spec_for_ansible(options: dict[str, OptionSpec]) -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {}
    for name, opt in options.items():
        entry = opt.model_dump(exclude_defaults=True, exclude={"description", "version_added"})
        if opt.options:
            entry["options"] = _spec_for_ansible(opt.options)
        spec[name] = entry
    return spec


def check_vars(entry: CatalogEntry, given: dict[str, Any]) -> dict[str, Any]:
    """Validate and coerce variables against the entry's argument specs; only given keys are returned."""
    problems: list[str] = []
    known = list(entry.options)
    aliases = {alias for opt in entry.options.values() for alias in opt.aliases}
    for key, value in given.items():
        if key not in entry.options and key not in aliases:
            problems.append(f"vars.{key}: unknown variable for {entry.id}"
                            + (did_you_mean(key, known, cutoff=0.5) or f" (it takes: {', '.join(known) or 'none'})"))
        elif _has_jinja(value):
            problems.append(f"vars.{key}: Jinja is not allowed in plan variables ({value!r}); give the value itself")
    if problems:
        raise PlanValidationError(f"step {entry.id!r} has invalid variables", f"homelab catalog show {entry.id}",
                                  details=problems)
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = entry.meta.argument_specs[entry.spec_name]
    result = ArgumentSpecValidator(
        _spec_for_ansible(entry.options), mutually_exclusive=spec.mutually_exclusive or None,
        required_together=spec.required_together or None, required_one_of=spec.required_one_of or None,
        required_if=spec.required_if or None, required_by=spec.required_by or None,
    ).validate(dict(given))
    if result.error_messages:
        raise PlanValidationError(f"step {entry.id!r} has invalid variables", f"homelab catalog show {entry.id}",
                                  details=[f"vars: {msg}" for msg in result.error_messages])
    # Keep only what the person gave: defaults stay the role's, so the plan
    # records intent, not a snapshot of every default.
    # An alias is stored under its option's own name: that is the variable the playbook reads.
    canonical = {alias: name for name, opt in entry.options.items() for alias in opt.aliases}
    checked = {canonical.get(k, k): result.validated_parameters[canonical.get(k, k)] for k in given}
    # Checked again after conversion: a dict or list option given as a JSON string decodes escapes,
    # so '\u007b\u007b' arrives as '{{' only now, and Ansible would template it in the check run.
    smuggled = [f"vars.{key}: Jinja is not allowed in plan variables (it appears once {value!r} is decoded)"
                for key, value in checked.items() if _has_jinja(value)]
    # Ansible's 'path' type expands ~ and $VARIABLES here, on the controller: a value could pull a key out
    # of this machine's environment into the plan. Paths are taken as given or not at all.
    # Checked on the value as given, in any form (a dict may arrive as a JSON string): conversion has
    # already expanded it. No path a plan needs holds '$' or '~'.
    smuggled += [f"vars.{key}: {value!r} holds '$' or '~', which Ansible would expand on this machine; "
                 "give the path itself" for key, value in given.items()
                 if _holds_path(entry.options[canonical.get(key, key)])
                 and any(c in (value if isinstance(value, str) else json.dumps(value)) for c in "$~")]
    if smuggled:
        raise PlanValidationError(f"step {entry.id!r} has invalid variables", f"homelab catalog show {entry.id}",
                                  details=smuggled)
    return checked


def _holds_path(opt: OptionSpec) -> bool:
    """Whether Ansible reads any part of this option as a path: itself, a list's elements, a suboption."""
    return opt.type == "path" or opt.elements == "path" or any(_holds_path(o) for o in (opt.options or {}).values())


def resolve_hosts(inventory: Path, pattern: str) -> tuple[str, ...]:
    """The inventory hosts a --limit pattern selects, or a PlanValidationError naming the closest names."""
    _check_pattern(pattern)
    from planner.yamlio.limits import check_tree

    # Ansible reads every inventory file (host_vars and group_vars with it) for the run, and merging
    # an alias bomb's variables would exhaust the machine: refuse one before Ansible sees it.
    check_tree(inventory)
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    # Ansible prints "could not match" warnings itself; this function reports instead.
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
        except AnsibleError as err:
            raise PlanValidationError(f"Ansible cannot read the inventory {inventory}: {_first_line(err)}",
                                      f"homelab inventory validate -i {inventory} shows where") from None
        names = sorted(set(manager.hosts) | set(manager.groups))
        try:
            matched = manager.get_hosts(pattern)
        except (AnsibleError, IndexError, ValueError) as err:  # Ansible's pattern parser raises all three
            raise PlanValidationError(f"limit {pattern!r} is not a host pattern Ansible can read: "
                                      f"{_first_line(err) or type(err).__name__}",
                                      "give host or group names, joined with ',' ':&' ':!', or '~regex'") from None
    # Ansible answers 'localhost', '127.0.0.1' and '::1' with an implicit host outside the inventory:
    # the controller itself, which a plan never targets.
    implicit = [h.name for h in matched if getattr(h, "implicit", False)]
    if implicit:
        raise PlanValidationError(f"limit {pattern!r} names {', '.join(implicit)}, which is this machine, "
                                  "not an inventory host", "give host or group names from the inventory")
    hosts = tuple(h.name for h in matched)
    if not hosts:
        words = [w for w in re.split(r"[:,&!]+", pattern) if w and w not in names]
        close = sorted({c for w in words for c in difflib.get_close_matches(w, names, n=3, cutoff=0.5)})
        hint = f"closest host and group names: {', '.join(close)}" if close else f"hosts and groups: {', '.join(names)}"
        raise PlanValidationError(f"limit {pattern!r} matches no host in {inventory}", hint)
    return hosts


def _check_pattern(pattern: str) -> None:
    """What Ansible's own parser lets through silently: an empty pattern, and a '~' regex that does not
    compile, both select every host."""
    if not pattern.strip():
        raise PlanValidationError("the limit is empty", "give host or group names, or 'all' for every host")
    if _has_jinja(pattern):
        raise PlanValidationError(f"limit {pattern!r} contains Jinja", "give host or group names")
    if pattern.count("[") != pattern.count("]"):  # Ansible drops a stray bracket and may be left with nothing
        raise PlanValidationError(f"limit {pattern!r} has unbalanced brackets",
                                  "a subscript reads group[0] or group[0:2]; a regex '~...' needs both brackets")
    from ansible.inventory.manager import split_host_pattern

    for term in split_host_pattern(pattern):  # as Ansible splits it: '[...]' and IPv6 addresses stay whole
        term = term.strip().lstrip("!&")
        if term.startswith("~"):
            try:
                if not term[1:]:
                    raise re.error("nothing after '~'")
                re.compile(term[1:])
            except re.error as err:
                raise PlanValidationError(f"limit {pattern!r}: {term!r} is not a valid regular expression ({err})",
                                          "fix the expression after '~', or give host or group names") from None


def _first_line(err: BaseException) -> str:
    return (str(getattr(err, "message", "") or err).strip().splitlines() or [""])[0]


def _acts(entry: CatalogEntry, limit: str, checked: dict[str, Any]) -> None:
    """A step that leaves every variable its entry acts on empty would change nothing: refused, saying why."""
    acts_on = entry.meta.acts_on
    if acts_on is None or any(checked.get(name) for name in acts_on.variables):
        return
    names = " and ".join(acts_on.variables)
    raise PlanValidationError(f"step {entry.id!r} would do nothing on {limit}: {names} "
                              f"{'are' if len(acts_on.variables) > 1 else 'is'} empty",
                              acts_on.hint.replace("{limit}", limit))


def check_step(entry: CatalogEntry, limit: str, given: dict[str, Any], inventory: Path) -> CheckedStep:
    """Validate a whole step."""
    checked = check_vars(entry, given)
    _acts(entry, limit, checked)
    return CheckedStep(entry.id, limit, checked, resolve_hosts(inventory, limit))
