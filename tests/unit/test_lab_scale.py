"""`homelab lab up --scale N`: generated hosts in the lab's own inventory, never in the project's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from planner.errors import HomelabError
from planner.inventory.hosts import load_inventory, require_valid
from planner.lab import scale
from planner.lab.spec import LabConfig, lab_hosts
from tests.conftest import ROOT, tree_digest


def _config(tmp_path: Path) -> LabConfig:
    return LabConfig(ROOT, tmp_path / "lab", "127.0.99", 22)


def test_thirty_hosts_are_the_nine_and_copies_of_the_k3s_vms(tmp_path: Path) -> None:
    hosts = lab_hosts(_config(tmp_path), scale=30)
    assert len(hosts) == 30 and len({h.address for h in hosts}) == 30
    assert hosts[-1].address == "127.0.99.40"
    generated = [h for h in hosts if h.generated]
    assert [h.name for h in generated] == [f"k3s-vm-gen-{i:02d}" for i in range(1, 22)]
    assert {h.generated.template for h in generated[:7]} == {"k3s-vm-still-fawn"}  # type: ignore[union-attr]
    assert all(h.groups == ("k3s",) for h in generated)
    copy = generated[0].generated
    assert copy is not None and "lan_ip" not in copy.hostvars  # one real machine's address is not copied
    assert copy.hostvars["hardware"] == load_inventory(ROOT / "inventory").hostvars("k3s-vm-still-fawn")["hardware"]


def test_the_size_is_kept_until_forgotten(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert len(lab_hosts(config)) == 9
    scale.write_size(config.lab_dir, 12)
    assert len(lab_hosts(config)) == 12  # a later `lab up` and `lab status` keep it
    scale.write_size(config.lab_dir, None)
    assert len(lab_hosts(config)) == 9


@pytest.mark.parametrize("size", [8, 61])
def test_a_size_outside_the_lab_is_refused(tmp_path: Path, size: int) -> None:
    with pytest.raises(HomelabError) as raised:
        lab_hosts(_config(tmp_path), scale=size)
    assert raised.value.exit_code == 2 and "--scale" in str(raised.value) and raised.value.hint


def test_the_generated_inventory_is_valid_and_the_projects_is_untouched(tmp_path: Path) -> None:
    before = tree_digest(ROOT / "inventory")
    inv_dir = tmp_path / "inventory"
    inv_dir.mkdir()
    source = ROOT / "inventory"
    for entry in source.iterdir():
        if entry.name != "host_vars":
            (inv_dir / entry.name).symlink_to(os.path.relpath(entry, inv_dir))
    generated = scale.generated_hosts(load_inventory(source), 30)
    scale.write_files(inv_dir, source, generated)
    inv = require_valid(load_inventory(inv_dir))
    assert len(inv.hosts) == 30
    assert inv.hosts["k3s-vm-gen-21"] == ["k3s"]
    assert inv.hostvars("k3s-vm-gen-21")["hypervisor"] == "chief-horse"
    assert inv.hostvars("maas") == load_inventory(source).hostvars("maas")  # reference hosts read as before
    assert tree_digest(ROOT / "inventory") == before
