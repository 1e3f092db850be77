"""A plan's input digests leave out the discovered blocks the tool writes, and nothing a person writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from planner.plans.digests import input_digests, moved_inputs, without_discovered
from planner.yamlio.files import set_in_file
from tests.conftest import ROOT
from tests.unit.test_docs import STILL_FAWN

PLAYBOOKS = [ROOT / "playbooks" / "apply_baseline.yml"]


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory", inv)
    for path in (inv / "host_vars").glob("*.yml"):  # a checkout where `make demo` ran holds facts already
        rest = without_discovered(path.read_text())
        assert rest is not None
        path.write_text(rest)
    return inv


def digests(inventory: Path) -> dict[str, str]:
    return input_digests(inventory.parent, inventory, PLAYBOOKS)


def write_facts(inventory: Path, host: str, block: dict, directory: bool = False) -> Path:
    """What `homelab facts` does: the discovered block through the round-trip writer."""
    path = inventory / "host_vars" / (f"{host}/discovered.yml" if directory else f"{host}.yml")
    set_in_file(path, ("discovered",), block, unsafe=True, header="Written by homelab facts.")
    return path


def test_facts_written_between_plan_and_apply_move_no_input(inventory: Path) -> None:
    before = digests(inventory)
    write_facts(inventory, "still-fawn", STILL_FAWN)
    assert moved_inputs(before, digests(inventory)) == []
    write_facts(inventory, "still-fawn", {**STILL_FAWN, "memory_mib": 1, "gathered_at": "2026-12-01T00:00:00Z"})
    write_facts(inventory, "maas", {"reachable": False, "stale_since": "2026-12-01T00:00:00Z"})
    assert moved_inputs(before, digests(inventory)) == []


@pytest.mark.parametrize("edit", [
    lambda text: text.replace("memory_gib: 64", "memory_gib: 32", 1),       # a documented key
    lambda text: "# a person's comment\n" + text,                             # even a comment
    lambda text: text + "extra_var: 1\n",                                       # a key after the block
])
def test_a_persons_edit_in_the_same_file_still_moves_it(inventory: Path, edit) -> None:
    path = write_facts(inventory, "still-fawn", STILL_FAWN)
    before = digests(inventory)
    text = path.read_text()
    assert "memory_gib: 64" in text
    path.write_text(edit(text))
    assert moved_inputs(before, digests(inventory)) == ["inventory/host_vars/still-fawn.yml changed"]


def test_an_edit_inside_the_discovered_block_is_the_tools_business(inventory: Path) -> None:
    path = write_facts(inventory, "still-fawn", STILL_FAWN)
    before = digests(inventory)
    person, block = path.read_text().split("\ndiscovered:\n")
    path.write_text(person + "\ndiscovered:\n" + block.replace("AMD Ryzen 7 5800X", "Intel 8086"))
    assert moved_inputs(before, digests(inventory)) == []


def test_a_discovered_file_of_its_own_is_left_out(inventory: Path) -> None:
    host_dir = inventory / "host_vars" / "maas"
    host_dir.mkdir()
    shutil.move(inventory / "host_vars" / "maas.yml", host_dir / "main.yml")
    before = digests(inventory)
    assert "inventory/host_vars/maas/main.yml" in before
    created = write_facts(inventory, "maas", STILL_FAWN, directory=True)
    assert created.read_text().startswith("# Written by homelab facts.")
    assert moved_inputs(before, digests(inventory)) == []
    (host_dir / "discovered.yml").write_text("---\nlan_ip: 192.168.4.9\ndiscovered: {}\n")  # a person's key
    assert moved_inputs(before, digests(inventory)) == ["inventory/host_vars/maas/discovered.yml is new"]


def test_the_cut_is_textual_and_leaves_every_other_byte() -> None:
    text = "# top\nlan_ip: 192.168.4.11  # why\r\ndiscovered:\r\n  os:\r\n    name: !unsafe 'Debian'\r\nafter: 1\r\n"
    assert without_discovered(text) == "# top\nlan_ip: 192.168.4.11  # why\r\nafter: 1\r\n"
    assert without_discovered("a: 1\n") == "a: 1\n"
    assert without_discovered("# header\n---\ndiscovered:\n  a: 1\n") is None
    # Not one YAML mapping: nothing is cut, so any change still counts.
    assert without_discovered("discovered: [\n") == "discovered: [\n"
    assert without_discovered("---\ndiscovered: 1\n---\nb: 2\n") == "---\ndiscovered: 1\n---\nb: 2\n"


def test_only_host_vars_lose_the_block(inventory: Path) -> None:
    before = digests(inventory)
    group = inventory / "group_vars" / "all" / "network.yml"
    group.write_text(group.read_text() + "discovered:\n  a: 1\n")
    assert moved_inputs(before, digests(inventory)) == ["inventory/group_vars/all/network.yml changed"]


def test_the_lab_inventory_of_links_gives_the_projects_names(inventory: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    for entry in inventory.iterdir():
        (lab / entry.name).symlink_to(entry)
    (lab / "zz-lab.yml").write_text("all:\n  hosts:\n    maas:\n      ansible_host: 127.0.9.10\n")
    write_facts(inventory, "maas", STILL_FAWN)
    seen = input_digests(inventory.parent, lab, PLAYBOOKS)
    plain = input_digests(inventory.parent, inventory, PLAYBOOKS)
    assert {k: v for k, v in seen.items() if k.startswith("inventory/")} == {
        k: v for k, v in plain.items() if k.startswith("inventory/")}
