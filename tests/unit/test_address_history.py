"""The primary LAN address's history in ``discovered.address_history``: every facts write-back that brings
addresses extends it; the inventory file around it keeps its comments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from planner.inventory.discovered import MAX_HISTORY, AddressSeen, Discovered, with_history
from planner.knowledge.facts import Gathered, host_vars_file, read_discovered, write_back
from planner.workspace import Workspace
from tests.conftest import ROOT, documented_only
from tests.unit.test_facts_sections import FACTS

HOST = "k3s-vm-chief-horse"


def _facts(address: str) -> dict:
    hl = dict(FACTS["homelab_discovered"], addresses=[
        {"interface": "lo", "address": "127.0.0.1", "prefix": 8},
        {"interface": "enp5s0", "address": "fe80::1", "prefix": 64, "family": "inet6"},
        {"interface": "enp5s0", "address": address, "prefix": 24}])
    return dict(FACTS, homelab_discovered=hl)


def _answered(address: str) -> Gathered:
    gathered = Gathered()
    gathered.handle({"event": "runner_on_ok",
                     "event_data": {"host": HOST, "res": {"ansible_facts": _facts(address)}}})
    return gathered


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    shutil.copytree(ROOT / "inventory", tmp_path / "inventory")
    documented_only(tmp_path)  # whatever a `make demo` wrote into the checkout's host_vars is not the test's
    return Workspace(tmp_path, tmp_path / ".homelab", tmp_path / "inventory")


def _block(address: str | None) -> Discovered:
    return Discovered.model_validate({"addresses": [{"interface": "enp5s0", "address": address}] if address else []})


def test_the_same_address_moves_last_seen_on_and_a_new_one_is_appended() -> None:
    first = with_history(Discovered(), _block("192.168.4.57"), "2026-12-01")
    again = with_history(first, _block("192.168.4.57"), "2026-12-03")
    moved = with_history(again, _block("192.168.4.20"), "2026-12-06")
    assert [(h.address, h.first_seen, h.last_seen) for h in moved.address_history] == [
        ("192.168.4.57", "2026-12-01", "2026-12-03"), ("192.168.4.20", "2026-12-06", "2026-12-06")]


def test_no_address_keeps_the_history_and_only_the_newest_are_kept() -> None:
    history = Discovered(address_history=[AddressSeen(address=f"10.0.0.{i}", first_seen="2026-01-01",
                                                      last_seen="2026-01-01") for i in range(MAX_HISTORY)])
    assert with_history(history, _block(None), "2026-12-06").address_history == history.address_history
    grown = with_history(history, _block("10.0.0.99"), "2026-12-06").address_history
    assert len(grown) == MAX_HISTORY and grown[0].address == "10.0.0.1" and grown[-1].address == "10.0.0.99"


def test_write_back_round_trip_keeps_comments_and_records_the_move(ws: Workspace) -> None:
    path = host_vars_file(ws.inventory, HOST)
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.read_text() if path.exists() else ""
    path.write_text("# Chief-horse's VM: documented by hand, kept by the tool.\n" + before)
    write_back(ws, _answered("192.168.4.57"), [HOST])
    write_back(ws, _answered("192.168.4.20"), [HOST])
    text = path.read_text()
    assert text.startswith("# Chief-horse's VM: documented by hand, kept by the tool.\n")
    assert before in text, "what a person wrote stays as it was"
    after = read_discovered(ws.inventory, HOST)
    assert after is not None
    assert [h.address for h in after.address_history] == ["192.168.4.57", "192.168.4.20"]
    assert after.address_history[-1].first_seen == after.gathered_at[:10]


def test_a_refresh_without_addresses_leaves_the_history(ws: Workspace) -> None:
    write_back(ws, _answered("192.168.4.57"), [HOST])
    write_back(ws, _answered("192.168.4.20"), [HOST], ("gpus",))
    after = read_discovered(ws.inventory, HOST)
    assert after is not None and [h.address for h in after.address_history] == ["192.168.4.57"]
    write_back(ws, _answered("192.168.4.20"), [HOST], ("addresses",))
    after = read_discovered(ws.inventory, HOST)
    assert after is not None and [h.address for h in after.address_history] == ["192.168.4.57", "192.168.4.20"]
