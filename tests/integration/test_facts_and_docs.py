"""Against the sandbox lab: facts never make a reviewed plan stale, read steps report facts, and the docs
are current after every command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_knowledge_loop import discovered

#: A read playbook that refreshes only the GPUs: what the next catalog entries will look like.
READ_GPUS = """\
- name: Read the GPUs
  hosts: all
  gather_facts: false
  validate_argspec: read_gpus
  vars:
    read_gpus_probe_timeout: 10
  tasks:
    - name: Read NICs, addressing, GPUs and services
      homelab.ops.host_facts:
        probe_timeout: "{{ read_gpus_probe_timeout }}"
"""
READ_GPUS_META = """\
description: Reads the NVIDIA GPUs of each targeted host, their memory in use and their processes.
examples:
  - How much GPU memory is in use?
risk: read
refreshes: [gpus]
argument_specs:
  read_gpus:
    short_description: Read the GPUs.
    options:
      read_gpus_probe_timeout:
        description: Seconds each probe may run.
        type: int
        default: 10
"""


#: The lab is shared by the session's tests: plans here change hosts away from the defaults that
#: test_plan_apply's first test expects to find changes against, never to them.
NOT_DEFAULT = ("-e", "baseline_journald_max_retention=3weeks")


def docs_current(project: Path) -> None:
    checked = homelab_in(project, "docs", "--check")
    assert checked.rc == 0, checked.stdout + checked.stderr


@pytest.fixture
def current(project: Path) -> Path:
    """The project copy with its docs regenerated once (the fixture took the checkout's facts out)."""
    assert homelab_in(project, "docs").rc == 0
    docs_current(project)
    return project


def test_facts_between_plan_and_apply_leave_plans_applyable_and_the_docs_current(lab: Lab, current: Path) -> None:
    project = current
    first = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", *NOT_DEFAULT,
                                 "--format", "json"))
    docs_current(project)  # planning logged a session entry, and the docs made from the log followed
    second = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "uptime-kuma", *NOT_DEFAULT,
                                  "--format", "json"))

    # Route 1: `homelab facts` writes both hosts' discovered blocks into the files the plans digested.
    gathered = homelab_in(project, "facts", "-l", "maas,uptime-kuma")
    assert gathered.rc == 0, gathered.stderr
    assert "doc updated: docs/INFRASTRUCTURE.md" in gathered.stderr
    docs_current(project)
    applied = homelab_in(project, "apply", first["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    docs_current(project)

    # Route 2: that apply read maas back and rewrote its facts; the other plan is still applyable.
    assert "facts updated: maas" in applied.stderr
    applied = homelab_in(project, "apply", second["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    docs_current(project)

    refused = homelab_in(project, "apply", second["id"], "--yes")
    assert refused.rc == 4 and "already applied" in refused.stderr
    docs_current(project)  # the refusal was logged, and the docs followed


def test_a_hand_edit_of_a_documented_key_is_refused_naming_the_file(lab: Lab, current: Path) -> None:
    project = current
    assert homelab_in(project, "facts", "-l", "maas").rc == 0  # the file holds a discovered block too
    path = project / "inventory" / "host_vars" / "maas.yml"
    assert "\ndiscovered:\n" in path.read_text()
    made = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", *NOT_DEFAULT,
                                "--format", "json"))
    text = path.read_text()
    assert "addressing: static" in text
    path.write_text(text.replace("addressing: static", "addressing: dhcp", 1))
    refused = homelab_in(project, "apply", made["id"], "--yes")
    assert refused.rc == 4
    assert refused.stderr.startswith(f"Error: plan {made['id']} is stale — inventory/host_vars/maas.yml changed")


def test_a_read_step_writes_what_it_found_back(lab: Lab, current: Path) -> None:
    project = current
    made = homelab_in(project, "plan", "-p", "gather_facts", "-l", "maas", "--format", "json")
    assert made.rc == 0, made.stderr
    plan_json(made)  # stdout is the plan and nothing else
    assert "facts updated by gather_facts: maas" in made.stderr
    block = discovered(project, "maas")
    assert block["os"]["name"] == "Debian" and block["gathered_at"] and block["nvidia_smi"] == "absent"
    docs_current(project)


def test_a_read_playbook_that_declares_only_gpus_rewrites_only_gpus(lab: Lab, current: Path) -> None:
    project = current
    (project / "playbooks" / "read_gpus.yml").write_text(READ_GPUS)
    (project / "playbooks" / "read_gpus.meta.yml").write_text(READ_GPUS_META)
    assert homelab_in(project, "docs").rc == 0  # a new catalog entry: its procedure is a person's change
    assert homelab_in(project, "facts", "-l", "still-fawn").rc == 0
    path = project / "inventory" / "host_vars" / "still-fawn.yml"
    # Make the facts look old: a GPU that is gone, and a memory size the GPU playbook must not touch.
    person, block = path.read_text().split("\ndiscovered:\n")
    fresh = discovered(project, "still-fawn")
    block = block.replace("NVIDIA GeForce RTX 3070", "NVIDIA GeForce GTX 970")
    block = block.replace(f"memory_mib: {fresh['memory_mib']}\n", "memory_mib: 1024\n")
    path.write_text(person + "\ndiscovered:\n" + block)
    assert discovered(project, "still-fawn")["memory_mib"] == 1024

    made = homelab_in(project, "plan", "-p", "read_gpus", "-l", "still-fawn", "--format", "json")
    assert made.rc == 0, made.stderr
    assert "facts updated by read_gpus: still-fawn" in made.stderr
    after = discovered(project, "still-fawn")
    assert [g["model"] for g in after["gpus"]] == ["NVIDIA GeForce RTX 3070"]
    assert after["memory_mib"] == 1024, "a section the playbook does not declare is left alone"
    assert after["gathered_at"] == fresh["gathered_at"]
    assert {k: v for k, v in after.items() if k not in ("gpus", "nvidia_smi")} == {
        k: v for k, v in {**fresh, "memory_mib": 1024}.items() if k not in ("gpus", "nvidia_smi")}
    docs_current(project)
