"""Catalog loading: valid and invalid sidecars, parametrized by fixture folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.catalog.entries import ANSIBLE_OPTION_TYPES, load_catalog
from planner.errors import CatalogError
from tests.conftest import FIXTURES, ROOT

VALID = sorted((FIXTURES / "catalog" / "valid").iterdir())
INVALID = sorted((FIXTURES / "catalog" / "invalid").iterdir())


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_valid_catalogs_load(case: Path) -> None:
    catalog = load_catalog(case)
    assert catalog.entries
    for entry in catalog.entries.values():
        assert entry.playbook.is_file()
        assert entry.options, "every fixture entry declares a variable"


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_catalogs_name_file_and_key(case: Path) -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(case)
    text = "\n".join([info.value.message, *info.value.details])
    for expected in (case / "expected.txt").read_text().splitlines():
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert info.value.hint


def test_option_types_match_ansible() -> None:
    """The catalog's list of option types is Ansible's own (kept here to avoid importing ansible)."""
    from ansible.module_utils.common.parameters import DEFAULT_TYPE_VALIDATORS

    assert set(ANSIBLE_OPTION_TYPES) == set(DEFAULT_TYPE_VALIDATORS)


def test_project_catalog_has_gather_facts() -> None:
    catalog = load_catalog(ROOT)
    entry = catalog.get("gather_facts")
    assert entry.meta.risk == "read"
    assert entry.options


def test_unknown_id_suggests_closest() -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(ROOT).get("gather_fact")
    assert "gather_facts" in (info.value.hint or "")


def test_cli_catalog_json(homelab) -> None:
    result = homelab("catalog", "--format", "json")
    assert result.rc == 0, result.stderr
    ids = [e["id"] for e in json.loads(result.stdout)]
    assert "gather_facts" in ids


def test_cli_catalog_show_json_lists_variables(homelab) -> None:
    result = homelab("catalog", "show", "gather_facts", "--format", "json")
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["risk"] == "read" and data["variables"]


def test_cli_unknown_entry_is_usage_error(homelab) -> None:
    result = homelab("catalog", "show", "gather_fact")
    assert result.rc == 2
    assert result.stderr.startswith("Error: no playbook 'gather_fact' in the catalog")
    # The closest name first (difflib also finds update_packages close enough to offer it second).
    assert "Hint:  did you mean gather_facts" in result.stderr
    assert result.stdout == ""


def test_cli_invalid_catalog_exit_code(homelab, tmp_path: Path) -> None:
    case = FIXTURES / "catalog" / "invalid" / "bad-option-type"
    (tmp_path / "inventory").mkdir()
    import shutil

    shutil.copytree(case / "playbooks", tmp_path / "playbooks")
    result = homelab("catalog", cwd=tmp_path)
    assert result.rc == 2
    assert "Error: the catalog has 1 problem" in result.stderr
    assert "playbooks/hello.meta.yml:11:15" in result.stderr


def test_an_edit_between_two_loads_in_one_process_is_seen(tmp_path: Path) -> None:
    # Entries are cached per process by content: the second load of an edited sidecar must not be the cache's.
    import shutil

    from planner.catalog.entries import load_entry

    (tmp_path / "playbooks").mkdir()
    for name in ("gather_facts.yml", "gather_facts.meta.yml"):
        shutil.copy(ROOT / "playbooks" / name, tmp_path / "playbooks" / name)
    meta = tmp_path / "playbooks" / "gather_facts.meta.yml"
    first = load_entry(meta, tmp_path)
    assert load_entry(meta, tmp_path) is first
    meta.write_text(meta.read_text().replace("description: >-", "description: >-\n  Edited.", 1))
    assert load_entry(meta, tmp_path).summary.startswith("Edited.")
    meta.write_text(meta.read_text().replace("risk: read", "risk: sometimes", 1))
    with pytest.raises(CatalogError):
        load_entry(meta, tmp_path)
