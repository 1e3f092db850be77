"""A new catalog entry is files only: the offline planner picks it and fills its variables with no code change."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from planner.catalog.entries import load_catalog
from planner.errors import CatalogError
from tests.conftest import ROOT, copy_project, run_homelab

PLAYBOOK = """\
---
# Catalog playbook: restart one service on the targeted hosts, a few at a time.
- name: Restart a service
  hosts: all
  gather_facts: false
  serial: "{{ restart_service_serial }}"
  validate_argspec: restart_service
  roles:
    - role: restart_service
"""

OPTIONS = """\
      restart_service_name:
        description: The systemd unit to restart, without .service.
        type: str
        required: true
      restart_service_serial:
        description: How many hosts restart at once.
        type: int
        default: 1
"""

META = """\
---
description: >-
  Restarts one systemd service on each targeted host, a few hosts at a time,
  and waits until it is active again. It changes no configuration.
examples:
  - Restart jellyfin on still-fawn.
  - Restart prometheus on the monitoring hosts one at a time.
  - Bounce uptime-kuma.
  - Restart nginx.service on maas.
tags: [restart, systemd]
risk: change
tier: null
offline:
  words: [restart, bounce]
  variables:
    restart_service_name: {extractor: service_name}
    restart_service_serial: {extractor: serial}
argument_specs:
  restart_service:
    short_description: Restart one service.
    options:
""" + OPTIONS

ROLE_SPECS = """\
---
argument_specs:
  main:
    short_description: Restart one service.
    options:
""" + OPTIONS

TASKS = """\
---
- name: Restart the service
  ansible.builtin.systemd_service:
    name: "{{ restart_service_name }}"
    state: restarted
"""


def add_restart_service(project: Path, meta: str = META) -> None:
    """The files a new catalog entry brings (CATALOG.md): playbook, meta, role with argument specs."""
    (project / "playbooks" / "restart_service.yml").write_text(PLAYBOOK)
    (project / "playbooks" / "restart_service.meta.yml").write_text(meta)
    role = project / "roles" / "restart_service"
    for part, text in (("meta/argument_specs.yml", ROLE_SPECS), ("tasks/main.yml", TASKS),
                       ("defaults/main.yml", "---\nrestart_service_serial: 1\n"),
                       ("meta/main.yml", "---\ngalaxy_info: {author: homelab, description: Restart one service., "
                                         "license: Apache-2.0, min_ansible_version: '2.20'}\ndependencies: []\n")):
        (role / part).parent.mkdir(parents=True, exist_ok=True)
        (role / part).write_text(text)


def code_digest(tree: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in (tree / "planner").rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(f.relative_to(tree)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = copy_project(tmp_path / "project")
    add_restart_service(copy)
    return copy


def test_the_offline_planner_picks_a_new_entry_and_fills_its_variables(project: Path) -> None:
    assert code_digest(project) == code_digest(ROOT), "the copy's code must be the project's, unchanged"
    env = {"HOMELAB_ROOT": str(project), "HOMELAB_INVENTORY": str(project / "inventory"), "HOMELAB_MODEL": ""}
    made = run_homelab("plan", "restart jellyfin on the k3s nodes two at a time", "--no-check", "--format", "json",
                       cwd=project, env=env)
    assert made.rc == 0, made.stderr
    doc = json.loads(made.stdout)
    assert [(s["playbook"], s["limit"], s["vars"]) for s in doc["steps"]] == [
        ("restart_service", "k3s", {"restart_service_name": "jellyfin", "restart_service_serial": 2})]
    # The old entries are still chosen for their own requests, and manual work stays manual.
    facts = json.loads(run_homelab("plan", "what hardware does maas have", "--no-check", "--format", "json",
                                   cwd=project, env=env).stdout)
    assert [s["playbook"] for s in facts["steps"]] == ["gather_facts"]
    router = json.loads(run_homelab("plan", "restart the router", "--no-check", "--format", "json", cwd=project,
                                    env=env).stdout)
    assert router["steps"] == [] and router["manual"], "router work stays manual, new entry or not"


def test_no_catalog_variable_name_appears_in_the_package() -> None:
    names: set[str] = set()
    for entry in load_catalog(ROOT).entries.values():
        names |= set(entry.options)
    assert names, "the catalog declares variables"
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b")
    found = []
    for path in sorted((ROOT / "planner").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yml", ".yaml", ".j2", ".txt"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "catalog variable names belong in the meta files:\n" + "\n".join(found)


@pytest.mark.parametrize(("offline", "problem"), [
    ("    restart_service_name: {extractor: service_nme}\n",
     "offline.variables.restart_service_name.extractor: unknown extractor 'service_nme' (did you mean "
     "'service_name'?)"),
    ("    restart_service_serial: {extractor: size}\n",
     "offline.variables.restart_service_serial.extractor: size gives str, which a int variable does not take"),
    ("    restart_service_nam: {extractor: service_name}\n",
     "offline.variables.restart_service_nam: 'restart_service_nam' is not a variable of restart_service (did you "
     "mean 'restart_service_name'?)"),
    ("    restart_service_serial: {extractor: serial, merge_with_default: true}\n",
     "offline.variables.restart_service_serial.merge_with_default: only a dict variable merges"),
    ("    restart_service_serial: {extractor: serial, neer: [hosts]}\n",
     "offline.variables.restart_service_serial.neer: unknown key (did you mean 'near'?)"),
])
def test_the_catalog_refuses_a_wrong_offline_block_naming_the_place(tmp_path: Path, offline: str, problem: str) -> None:
    project = copy_project(tmp_path / "project")
    variables = "    restart_service_name: {extractor: service_name}\n    restart_service_serial: {extractor: serial}\n"
    add_restart_service(project, META.replace(variables, offline))
    with pytest.raises(CatalogError) as refused:
        load_catalog(project)
    details = "\n".join(refused.value.details)
    assert problem in details
    assert re.search(r"playbooks/restart_service\.meta\.yml:\d+:\d+: offline\.", details), details
