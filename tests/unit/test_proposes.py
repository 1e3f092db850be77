"""A read playbook's ``proposes:``: the catalog entries whose steps its report may propose, each one that exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.catalog.entries import load_catalog
from planner.errors import CatalogError
from tests.conftest import copy_project
from tests.unit.test_new_entry import META, add_restart_service


@pytest.mark.parametrize(("risk", "proposes", "problem"), [
    ("change", "[gather_facts]", "only a read playbook proposes steps"),
    ("read", "[restart_servce]", "proposes: 'restart_servce' is no catalog entry (did you mean 'restart_service'"),
    ("read", "[restart_service]", "proposes: 'restart_service' is this entry itself"),
])
def test_what_a_read_playbook_proposes_must_be_another_entry(tmp_path: Path, risk: str, proposes: str,
                                                             problem: str) -> None:
    project = copy_project(tmp_path / "project")
    add_restart_service(project, META.replace("risk: change\n", f"risk: {risk}\nproposes: {proposes}\n"))
    with pytest.raises(CatalogError) as info:
        load_catalog(project)
    assert any(problem in d for d in info.value.details), info.value.details


def test_a_read_playbook_proposes_an_existing_entry(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    add_restart_service(project, META.replace("risk: change\n", "risk: read\nproposes: [apply_baseline]\n"))
    assert load_catalog(project).get("restart_service").meta.proposes == ["apply_baseline"]
