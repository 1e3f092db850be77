"""The Ansible content keeps its promises: sidecars, role defaults and argument specs agree.

A variable is declared three times: in a role's ``defaults/main.yml`` (what it
is when nobody sets it), in the role's ``meta/argument_specs.yml`` (what the
role accepts) and in the ``<playbook>.meta.yml`` sidecar of every catalog
playbook that applies the role (what the planner may offer). Nothing in Ansible
forces the three to agree, so these tests do. Every role also has its molecule
scenario under ``molecule/<role>/`` (run by tests/integration/test_molecule.py).
They read YAML only: no ansible, no network, nothing from ``planner``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
ROLES = ROOT / "roles"
COLLECTIONS = ROOT / "collections" / "ansible_collections"
MOLECULE = ROOT / "molecule"
META_SUFFIX = ".meta.yml"

# Task actions through which a play applies a role, besides its `roles:` list.
ROLE_ACTIONS = {
    "import_role",
    "include_role",
    "ansible.builtin.import_role",
    "ansible.builtin.include_role",
    "ansible.legacy.import_role",
    "ansible.legacy.include_role",
}
TASK_SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")
BLOCK_SECTIONS = ("block", "rescue", "always")

PLAYBOOK_FILES = sorted(p for p in PLAYBOOKS.glob("*.yml") if not p.name.endswith(META_SUFFIX))
META_FILES = sorted(PLAYBOOKS.glob(f"*{META_SUFFIX}"))
SPEC_FILES = sorted(ROLES.glob("*/meta/argument_specs.yml"))
ROLE_DIRS = sorted(p for p in ROLES.iterdir() if p.is_dir())

# The steps every scenario's `molecule test` must take (../shared/CATALOG.md, items 4 and 5).
SCENARIO_STEPS = ("create", "converge", "idempotence", "check", "verify", "destroy")


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _role_dir(name: str) -> Path:
    """Where a role named in a playbook lives: ``roles/<name>`` or, for a FQCN, in the in-repo collections."""
    parts = name.split(".")
    if len(parts) == 3:
        namespace, collection, role = parts
        return COLLECTIONS / namespace / collection / "roles" / role
    return ROLES / name


def _role_options(name: str, entry_point: str) -> dict[str, Any]:
    """The options of one entry point of a role's argument specs."""
    spec_file = _role_dir(name) / "meta" / "argument_specs.yml"
    assert spec_file.is_file(), f"role {name!r} has no {spec_file.relative_to(ROOT)}"
    specs = (_load(spec_file) or {}).get("argument_specs") or {}
    assert entry_point in specs, f"{_rel(spec_file)}: no entry point {entry_point!r}"
    return specs[entry_point].get("options") or {}


def _entry_point(tasks_from: Any) -> str:
    """The argument spec entry point Ansible uses for ``tasks_from`` (``setup.yml`` → ``setup``)."""
    if not tasks_from:
        return "main"
    stem = str(tasks_from).rsplit("/", 1)[-1]
    for ext in (".yml", ".yaml"):
        stem = stem.removesuffix(ext)
    return stem


def _roles_in_tasks(tasks: Any) -> list[tuple[str, str]]:
    """Roles applied by import_role/include_role in a task list, blocks included."""
    found: list[tuple[str, str]] = []
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for section in BLOCK_SECTIONS:
            found.extend(_roles_in_tasks(task.get(section)))
        for action in ROLE_ACTIONS & task.keys():
            args = task[action] or {}
            found.append((str(args["name"]), _entry_point(args.get("tasks_from"))))
    return found


def _roles_in_play(play: dict[str, Any]) -> list[tuple[str, str]]:
    """(role name, entry point) for every role a play applies."""
    found: list[tuple[str, str]] = []
    for entry in play.get("roles") or []:
        if isinstance(entry, str):
            found.append((entry, "main"))
        else:
            name = entry.get("role") or entry.get("name")
            found.append((str(name), _entry_point(entry.get("tasks_from"))))
    for section in TASK_SECTIONS:
        found.extend(_roles_in_tasks(play.get(section)))
    return found


def _spec_name(play: dict[str, Any]) -> str | None:
    """The argument spec a play validates against (``True`` means the play's name)."""
    value = play.get("validate_argspec")
    if value is True:
        return str(play.get("name"))
    return str(value) if value else None


def _describe_difference(left: dict[str, Any], right: dict[str, Any], left_name: str, right_name: str) -> str:
    """A readable account of how two option mappings differ."""
    lines = []
    for name in sorted(left.keys() - right.keys()):
        lines.append(f"  {name}: only in {left_name}")
    for name in sorted(right.keys() - left.keys()):
        lines.append(f"  {name}: only in {right_name}")
    for name in sorted(left.keys() & right.keys()):
        for key in sorted(set(left[name]) | set(right[name])):
            a, b = left[name].get(key), right[name].get(key)
            if a != b:
                lines.append(f"  {name}.{key}: {left_name} has {a!r}, {right_name} has {b!r}")
    return "\n".join(lines)


# (a) ------------------------------------------------------------------------


@pytest.mark.parametrize("playbook", PLAYBOOK_FILES, ids=[p.name for p in PLAYBOOK_FILES])
def test_every_playbook_has_a_sidecar(playbook: Path) -> None:
    sidecar = playbook.with_name(playbook.stem + META_SUFFIX)
    assert sidecar.is_file(), (f"{_rel(playbook)} has no sidecar {sidecar.name}; "
                               "every playbook in playbooks/ is a catalog entry")


@pytest.mark.parametrize("sidecar", META_FILES, ids=[p.name for p in META_FILES])
def test_every_sidecar_has_a_playbook(sidecar: Path) -> None:
    playbook = sidecar.with_name(sidecar.name.removesuffix(META_SUFFIX) + ".yml")
    assert playbook.is_file(), f"{_rel(sidecar)} describes {playbook.name}, which does not exist"


def test_there_is_content_to_check() -> None:
    """Guards the parametrized tests above against passing vacuously after a move."""
    assert PLAYBOOK_FILES, "no playbooks found under playbooks/"
    assert SPEC_FILES, "no role argument specs found under roles/"


# (b) ------------------------------------------------------------------------


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=[p.parts[-3] for p in SPEC_FILES])
def test_role_defaults_match_argument_specs(spec_file: Path) -> None:
    role = spec_file.parents[1]
    options = ((_load(spec_file) or {}).get("argument_specs") or {}).get("main", {}).get("options") or {}
    defaults_file = role / "defaults" / "main.yml"
    defaults = (_load(defaults_file) if defaults_file.is_file() else None) or {}

    undocumented = sorted(defaults.keys() - options.keys())
    assert not undocumented, (f"{_rel(defaults_file)}: not described in {_rel(spec_file)} (main): "
                              f"{', '.join(undocumented)}")

    # A required option has no default by definition; every other one must
    # have its default in defaults/main.yml, where Ansible looks for it.
    optional = {name for name, option in options.items() if not option.get("required", False)}
    missing = sorted(optional - defaults.keys())
    assert not missing, f"{_rel(defaults_file)}: no default for {', '.join(missing)} (declared in {_rel(spec_file)})"
    contradictory = sorted((options.keys() - optional) & defaults.keys())
    assert not contradictory, (f"{_rel(spec_file)}: required options given a default in {_rel(defaults_file)}: "
                               f"{', '.join(contradictory)}")

    differing = [
        f"  {name}: defaults/main.yml has {defaults[name]!r}, argument_specs.yml has {options[name].get('default')!r}"
        for name in sorted(defaults)
        if defaults[name] != options[name].get("default")
    ]
    assert not differing, f"role {role.name}: defaults and argument spec disagree:\n" + "\n".join(differing)


# (c) ------------------------------------------------------------------------


@pytest.mark.parametrize("sidecar", META_FILES, ids=[p.name for p in META_FILES])
def test_sidecar_options_match_the_role_they_configure(sidecar: Path) -> None:
    playbook = sidecar.with_name(sidecar.name.removesuffix(META_SUFFIX) + ".yml")
    assert playbook.is_file(), f"{_rel(sidecar)} describes {playbook.name}, which does not exist"
    specs = (_load(sidecar) or {}).get("argument_specs") or {}
    plays = [play for play in _load(playbook) or [] if isinstance(play, dict) and "import_playbook" not in play]
    checked = 0
    for play in plays:
        spec_name = _spec_name(play)
        roles = _roles_in_play(play)
        if spec_name is None or not roles:
            continue
        assert spec_name in specs, f"{_rel(playbook)}: play validates against {spec_name!r}, which {sidecar.name} lacks"

        role_options: dict[str, Any] = {}
        for name, entry_point in roles:
            for option, spec in _role_options(name, entry_point).items():
                assert role_options.get(option, spec) == spec, \
                    f"roles applied by {_rel(playbook)} declare {option!r} differently"
                role_options[option] = spec

        sidecar_options = specs[spec_name].get("options") or {}
        applied = ", ".join(f"{name} ({entry})" for name, entry in roles)
        assert sidecar_options == role_options, (
            f"{_rel(sidecar)} spec {spec_name!r} must repeat the options of {applied} exactly:\n"
            + _describe_difference(sidecar_options, role_options, sidecar.name, "the role")
        )
        checked += 1
    # Nothing compared is right only for a playbook that applies no role at all: a role applied
    # without validate_argspec would take variables the plan never checked.
    assert checked or not any(_roles_in_play(play) for play in plays), (
        f"{_rel(playbook)} applies roles but no play validates against the sidecar's argument specs")


# (d) ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLE_DIRS, ids=[p.name for p in ROLE_DIRS])
def test_every_role_has_a_molecule_scenario(role: Path) -> None:
    scenario = MOLECULE / role.name / "molecule.yml"
    assert scenario.is_file(), f"role {role.name} has no molecule scenario ({_rel(scenario)})"
    sequence = ((_load(scenario) or {}).get("scenario") or {}).get("test_sequence") or []
    missing = [step for step in SCENARIO_STEPS if step not in sequence]
    assert not missing, f"{_rel(scenario)}: test_sequence lacks {', '.join(missing)}"
    assert sequence[-1] == "destroy", f"{_rel(scenario)}: test_sequence must end by destroying the scenario's lab"
    for playbook in ("converge.yml", "verify.yml"):
        assert (scenario.parent / playbook).is_file(), f"{_rel(scenario.parent)} has no {playbook}"
