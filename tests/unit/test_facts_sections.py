"""Read steps report facts: a read playbook's findings replace just the sections of ``discovered:`` it declares."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from planner.catalog.entries import load_catalog
from planner.inventory.discovered import SECTIONS, Discovered, refreshed
from planner.knowledge.facts import Gathered, read_discovered, write_back
from planner.workspace import Workspace
from tests.conftest import FIXTURES, ROOT
from tests.unit.test_docs import STILL_FAWN, set_discovered

NOW = "2026-12-01T08:00:00+00:00"
#: What a host answers with: setup facts and host_facts' homelab_discovered, all of it different from STILL_FAWN.
FACTS = {
    "kernel": "6.12.0", "distribution": "Debian", "distribution_version": "13", "memtotal_mb": 1024,
    "homelab_discovered": {
        "nics": [{"name": "enp5s0", "speed_mbps": 1000, "max_speed_mbps": 1000}],
        "addresses": [{"interface": "enp5s0", "address": "192.168.4.99", "prefix": 24}],
        "gpus": [{"model": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559, "memory_used_mib": 0}],
        "nvidia_smi": "ok",
        "services": {"units": [{"name": "ollama.service", "sub": "running"}]},
    },
}


def answered(host: str, facts: dict) -> Gathered:
    gathered = Gathered()
    gathered.handle({"event": "runner_on_ok", "event_data": {"host": host, "res": {"ansible_facts": facts}}})
    return gathered


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    shutil.copytree(ROOT / "inventory", tmp_path / "inventory")
    set_discovered(tmp_path / "inventory", "still-fawn", STILL_FAWN)
    return Workspace(tmp_path, tmp_path / ".homelab", tmp_path / "inventory")


def test_only_the_declared_sections_are_replaced(ws: Workspace) -> None:
    before = read_discovered(ws.inventory, "still-fawn")
    result = write_back(ws, answered("still-fawn", FACTS), ["still-fawn"], ("gpus",))
    assert list(result.written) == ["still-fawn"]
    after = read_discovered(ws.inventory, "still-fawn")
    assert [g.model for g in after.gpus] == ["NVIDIA H100 80GB HBM3"]
    assert after.model_dump(exclude={"gpus"}) == before.model_dump(exclude={"gpus"}), "nothing else moves"
    assert after.gathered_at == STILL_FAWN["gathered_at"], "the other sections are as old as the last full read"


def test_without_sections_the_whole_block_is_replaced_as_gather_facts_does(ws: Workspace) -> None:
    write_back(ws, answered("still-fawn", FACTS), ["still-fawn"])
    after = read_discovered(ws.inventory, "still-fawn")
    assert after.gathered_at != STILL_FAWN["gathered_at"] and after.memory_mib == 1024
    assert [a.address for a in after.addresses] == ["192.168.4.99"] and after.services.units == ["ollama"]


def test_a_section_whose_facts_did_not_come_back_is_kept() -> None:
    previous = Discovered.model_validate(STILL_FAWN)
    only_setup = {k: v for k, v in FACTS.items() if k != "homelab_discovered"}
    block, replaced = refreshed(previous, only_setup, ("memory", "gpus"), NOW)
    assert replaced == ["memory"]
    assert block.memory_mib == 1024 and block.gpus == previous.gpus


def test_a_host_that_answers_is_no_longer_stale() -> None:
    stale = Discovered.model_validate({**STILL_FAWN, "reachable": False, "stale_since": NOW, "last_error": "down"})
    block, _ = refreshed(stale, FACTS, ("nics",), NOW)
    assert (block.reachable, block.stale_since, block.last_error) == (True, None, None)
    never, _ = refreshed(Discovered(), FACTS, ("gpus",), NOW)
    assert never.gathered_at == NOW and never.gpus and not never.nics


def test_a_host_that_did_not_answer_is_marked_stale_and_keeps_its_facts(ws: Workspace) -> None:
    gathered = Gathered()
    gathered.handle({"event": "runner_on_unreachable", "event_data": {"host": "still-fawn", "res": {"msg": "down"}}})
    result = write_back(ws, gathered.finish(["still-fawn"]), ["still-fawn"], ("gpus",))
    assert list(result.stale) == ["still-fawn"]
    after = read_discovered(ws.inventory, "still-fawn")
    assert after.reachable is False and [g.model for g in after.gpus] == ["NVIDIA GeForce RTX 3070"]


def test_sections_cover_the_model_and_gather_facts_refreshes_them_all() -> None:
    covered = {f for fields, _source in SECTIONS.values() for f in fields}
    # The address history is kept by the write-back from the addresses section, not read from the host.
    bookkeeping = {"gathered_at", "reachable", "stale_since", "last_error", "probe_errors", "address_history"}
    assert covered | bookkeeping == set(Discovered.model_fields)
    entry = load_catalog(ROOT).get("gather_facts")
    assert entry.meta.refreshes == "all" and entry.meta.refreshed_sections() == tuple(SECTIONS)
    assert load_catalog(ROOT).get("apply_baseline").meta.refreshed_sections() == ()


def test_a_sidecar_can_declare_part_of_the_block() -> None:
    entry = load_catalog(FIXTURES / "catalog" / "valid" / "refreshes-part").get("hello")
    assert entry.meta.refreshed_sections() == ("gpus", "services")


HEALTH = {"checked_at": NOW, "cores": 4, "load": [3.5, 2.0, 1.0], "iowait_pct": 0.4,
          "memory": {"total_mib": 8192, "available_mib": 6000, "swap_total_mib": 0, "swap_used_mib": 0},
          "oom_kills": 0, "filesystems": [{"mount": "/srv/lab-full", "fstype": "tmpfs", "size_mib": 32,
                                           "used_pct": 100.0, "inodes_used_pct": 0.1}],
          "failed_units": [], "journal_errors": [{"unit": "ssh.service", "message": "x" * 999, "count": 2}],
          "top": [{"pid": 53, "user": "root", "comm": "python3", "cmdline": "python3 /usr/local/bin/lab-cpu-hog",
                   "cpu_pct": 99.1, "mem_pct": 0.0, "unit": "lab-cpu-hog.service"}],
          "runaway": [{"pid": 53, "start_time": 7101, "comm": "python3",
                       "cmdline": "python3 /usr/local/bin/lab-cpu-hog", "user": "root", "cpu_pct": 98.7,
                       "unit": "lab-cpu-hog.service",
                       "cgroup": "/system.slice/lab-cpu-hog.service", "k3s_pod": False}],
          "findings": [{"id": "cpu-runaway", "severity": "critical", "summary": "python3 keeps a core busy",
                        "evidence": "98.7 %", "runbook": "Runaway processes"}],
          "skipped": []}


def test_a_diagnosis_refreshes_the_health_and_a_full_gathering_keeps_it(ws: Workspace) -> None:
    assert load_catalog(ROOT).get("diagnose_host").meta.refreshed_sections() == ("health",)
    before = read_discovered(ws.inventory, "still-fawn")
    write_back(ws, answered("still-fawn", {"homelab_discovered": {"health": HEALTH}}), ["still-fawn"], ("health",))
    after = read_discovered(ws.inventory, "still-fawn")
    assert after.health is not None and after.health.runaway[0].start_time == 7101
    assert after.health.findings[0].runbook == "Runaway processes"
    assert len(after.health.journal_errors[0].message) == 256, "host text is capped"
    assert after.model_dump(exclude={"health"}) == before.model_dump(exclude={"health"}), "nothing else moves"
    # gather_facts reads no health: the last diagnosis stays, as old as it is.
    write_back(ws, answered("still-fawn", FACTS), ["still-fawn"])
    assert read_discovered(ws.inventory, "still-fawn").health == after.health


def test_a_health_section_with_a_wrong_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="severity"):
        Discovered.model_validate({"health": {**HEALTH, "findings": [{**HEALTH["findings"][0], "severity": "bad"}]}})


def test_infrastructure_shows_a_health_line_per_diagnosed_host() -> None:
    from planner.inventory.discovered import Health
    from planner.knowledge.docsgen import _health

    assert _health(Health.model_validate(HEALTH)) == ("load 3.5 2 1 on 4 cores; fullest /srv/lab-full 100 %; "
                                                      f"1 runaway process(es); checked {NOW}")
