"""`homelab revise` without a model, when the amendment gives a new value for a variable the plan's steps declare.

A small catalog entry of the test's own (schedule_wave) declares a host-pattern variable read near "delay"
words and a window read with its dates, as a network upgrade's assessment does. The revised plan keeps every
step and target, changes only those values, and links to its parent; an amendment that fills nothing and
names no host is still refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from planner.planning.dates import resolve
from planner.planning.revision import amended_vars, fillable
from planner.plans.planfile import Step
from tests.conftest import copy_project, run_homelab
from tests.conftest import planned as plan

OPTIONS = """\
      schedule_wave_defer:
        description: Host pattern whose work waits for a later window; empty for none.
        type: str
        default: ""
      schedule_wave_defer_window:
        description: When the deferred work happens, as said with its dates; empty for none.
        type: str
        default: ""
"""
PLAYBOOK = """\
---
- name: Schedule wave
  hosts: all
  gather_facts: false
  validate_argspec: schedule_wave
  roles:
    - role: schedule_wave
"""
META = """\
---
description: >-
  Says which hosts an upgrade wave covers now and which wait for a later window. It changes nothing.
examples:
  - Which hosts does the wave cover?
  - Plan the wave for the proxmox hosts.
  - Show the wave, with the k3s nodes deferred.
tags: [wave]
risk: read
tier: null
offline:
  words: [wave]
  variables:
    schedule_wave_defer: {extractor: host_pattern, near: [delay, defer, postpone, later]}
    schedule_wave_defer_window: {extractor: window}
argument_specs:
  schedule_wave:
    short_description: Show an upgrade wave.
    options:
""" + OPTIONS
ROLE_SPECS = "---\nargument_specs:\n  main:\n    short_description: Show an upgrade wave.\n    options:\n" + OPTIONS
TASKS = """\
---
- name: Show the wave
  ansible.builtin.debug:
    msg: "{{ schedule_wave_defer }} waits until {{ schedule_wave_defer_window }}"
"""


def add_schedule_wave(project: Path) -> None:
    """The files of the test's catalog entry: playbook, meta, role with argument specs and defaults."""
    (project / "playbooks" / "schedule_wave.yml").write_text(PLAYBOOK)
    (project / "playbooks" / "schedule_wave.meta.yml").write_text(META)
    role = project / "roles" / "schedule_wave"
    for part, text in (("meta/argument_specs.yml", ROLE_SPECS), ("tasks/main.yml", TASKS),
                       ("defaults/main.yml", '---\nschedule_wave_defer: ""\nschedule_wave_defer_window: ""\n')):
        (role / part).parent.mkdir(parents=True, exist_ok=True)
        (role / part).write_text(text)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    copy = copy_project(tmp_path / "project")
    add_schedule_wave(copy)
    return {"HOMELAB_ROOT": str(copy), "HOMELAB_INVENTORY": str(copy / "inventory"), "HOMELAB_MODEL": ""}


def test_an_amendment_that_sets_variables_keeps_every_step_and_target(env: dict[str, str]) -> None:
    parent = plan(env, "plan", "-p", "schedule_wave", "-l", "all", "-p", "apply_baseline", "-l", "proxmox")
    amendment = "delay the k3s nodes until next weekend"
    revised = plan(env, "revise", parent["id"], amendment)
    today = datetime.fromisoformat(revised["created_at"]).astimezone(UTC).date()
    assert revised["parent"] == parent["id"]
    assert revised["intent"] == f"{parent['intent']} (revised: {amendment})"
    assert revised["excluded"] == parent["excluded"] == [] and revised["manual"] == parent["manual"]
    # The only difference from the parent is the two values; the apply_baseline step declares neither.
    assert [{k: s[k] for k in ("playbook", "limit", "hosts", "rationale", "risk")} for s in revised["steps"]] == \
        [{k: s[k] for k in ("playbook", "limit", "hosts", "rationale", "risk")} for s in parent["steps"]]
    assert [s["vars"] for s in revised["steps"]] == [
        {**parent["steps"][0]["vars"], "schedule_wave_defer": "k3s",
         "schedule_wave_defer_window": resolve("next weekend", today)},
        parent["steps"][1]["vars"],
    ]
    assert "(Sat " in revised["steps"][0]["vars"]["schedule_wave_defer_window"]
    # A second revision of the revision, to another window, changes that value alone.
    again = plan(env, "revise", revised["id"], "postpone the k3s nodes to fri 22:00")
    assert again["parent"] == revised["id"]
    assert again["steps"][0]["vars"]["schedule_wave_defer_window"] == resolve("fri 22:00", today)
    assert again["steps"][0]["vars"]["schedule_wave_defer"] == "k3s"


def test_an_amendment_that_fills_nothing_still_leaves_hosts_out(env: dict[str, str]) -> None:
    parent = plan(env, "plan", "-p", "apply_baseline", "-l", "all")
    revised = plan(env, "revise", parent["id"], "skip maas")
    assert revised["excluded"] == ["maas"] and len(revised["steps"][0]["hosts"]) == 8


def test_an_amendment_that_fills_nothing_and_names_no_host_is_refused(env: dict[str, str]) -> None:
    parent = plan(env, "plan", "-p", "schedule_wave", "-l", "all")
    plans = sorted((Path(env["HOMELAB_ROOT"]) / ".homelab" / "plans").iterdir())
    refused = run_homelab("revise", parent["id"], "make it nicer", "--no-check", env=env)
    assert refused.rc == 2
    lines = refused.stderr.splitlines()
    assert any(line.startswith("Error: the offline planner can only revise a plan by leaving hosts out or by "
                               "setting a variable") for line in lines), refused.stderr
    assert any(line.startswith("Hint:") and "schedule_wave_defer, schedule_wave_defer_window" in line
               for line in lines), refused.stderr
    assert sorted((Path(env["HOMELAB_ROOT"]) / ".homelab" / "plans").iterdir()) == plans, "no plan was written"


CATALOG = [{"id": "schedule_wave", "variables": {"schedule_wave_defer": {"type": "str", "default": ""},
                                                  "schedule_wave_defer_window": {"type": "str", "default": ""}},
            "offline": {"variables": {"schedule_wave_defer": {"extractor": "host_pattern",
                                                              "near": ["delay", "defer", "postpone", "later"]},
                                      "schedule_wave_defer_window": {"extractor": "window"}}}}]
HOSTS = ["maas", "k3s-vm-still-fawn", "k3s-vm-chief-horse"]
GROUPS = {"k3s": ["k3s-vm-still-fawn", "k3s-vm-chief-horse"], "infra": ["maas"]}


def step(**values: str) -> Step:
    return Step(playbook="schedule_wave", limit="all", vars=values, rationale="", risk="read", hosts=HOSTS)


@pytest.mark.parametrize(("amendment", "current", "changes"), [
    ("delay the k3s nodes until next weekend", {},
     {"schedule_wave_defer": "k3s", "schedule_wave_defer_window": "next weekend (Sat 2026-12-12 – Sun 2026-12-13)"}),
    ("postpone maas to sat", {}, {"schedule_wave_defer": "maas", "schedule_wave_defer_window": "sat (Sat 2026-12-12)"}),
    # Already so: nothing to change, so the caller falls back to leaving hosts out.
    ("delay k3s", {"schedule_wave_defer": "k3s"}, {}),
    # A host named with no delay word is not what is deferred.
    ("the k3s nodes look fine", {}, {}),
    ("make it nicer", {}, {}),
])
def test_amended_vars_against_a_fixed_day(amendment: str, current: dict[str, str], changes: dict[str, str]) -> None:
    today = date(2026, 12, 5)
    assert amended_vars(CATALOG, [step(**current)], amendment, HOSTS, GROUPS, today) == [changes]


def test_fillable_names_the_variables_words_can_set() -> None:
    assert fillable(CATALOG, [step(), step()]) == ["schedule_wave_defer", "schedule_wave_defer_window"]
    assert fillable(CATALOG, []) == []
