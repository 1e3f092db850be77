"""``homelab inventory validate`` against good and bad inventories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.errors import InventoryError
from planner.inventory.validate import validate_inventory
from tests.conftest import FIXTURES, ROOT, tree_digest

VALID = sorted((FIXTURES / "inventory" / "valid").iterdir())
INVALID = sorted((FIXTURES / "inventory" / "invalid").iterdir())


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_valid_inventories(case: Path) -> None:
    inv = validate_inventory(case)
    assert inv.hosts


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_inventories_point_at_the_line(case: Path) -> None:
    with pytest.raises(InventoryError) as info:
        validate_inventory(case / "inventory")
    text = "\n".join(info.value.details)
    for expected in (case / "expected.txt").read_text().splitlines():
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_reference_inventory_is_valid() -> None:
    inv = validate_inventory(ROOT / "inventory")
    assert {"proxmox", "k3s", "infra", "monitoring"} <= set(inv.groups)
    assert set(inv.hosts) == {
        "still-fawn", "pumped-piglet", "chief-horse", "fun-bedbug",
        "k3s-vm-still-fawn", "k3s-vm-pumped-piglet", "k3s-vm-chief-horse", "maas", "uptime-kuma",
    }
    piglet = inv.hostvars("pumped-piglet")["hardware"]
    nic = piglet["nics"][0]
    assert (nic["supported_mbps"], nic["speed_mbps"]) == (2500, 1000)
    assert piglet["gpus"][0]["memory_gib"] == 24


def test_cli_reports_error_hint_and_exit_2_without_writing(homelab) -> None:
    case = FIXTURES / "inventory" / "invalid" / "speed-with-unit" / "inventory"
    before = tree_digest(case)
    result = homelab("inventory", "validate", "-i", str(case))
    assert result.rc == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: the inventory has 1 problem")
    assert any(line.startswith("Hint:  ") for line in lines)
    assert "host_vars/node-a.yml:16:19: hardware.nics[0].speed_mbps: '2.5GbE'" in result.stderr
    assert tree_digest(case) == before


def test_cli_json_for_scripts(homelab) -> None:
    result = homelab("inventory", "validate", "--format", "json")
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["valid"] and "still-fawn" in data["hosts"]


def test_a_vault_encrypted_vars_file_is_named_as_not_checked(homelab, tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory", inventory)
    (inventory / "host_vars" / "maas").mkdir()
    shutil.move(inventory / "host_vars" / "maas.yml", inventory / "host_vars" / "maas" / "main.yml")
    password = tmp_path / "pw"
    password.write_text("unit-test\n")
    secret = inventory / "host_vars" / "maas" / "vault.yml"
    secret.write_text("maas_api_key: not-a-real-key\n")
    vault = str(Path(sys.executable).with_name("ansible-vault"))
    subprocess.run([vault, "encrypt", "--vault-password-file", str(password), str(secret)], check=True,
                   capture_output=True)
    result = homelab("inventory", "validate", "-i", str(inventory))
    assert result.rc == 0, result.stderr
    assert "not checked (encrypted with ansible-vault): inventory/host_vars/maas/vault.yml" in result.stdout
    data = json.loads(homelab("inventory", "validate", "-i", str(inventory), "--format", "json").stdout)
    assert data["not_checked"] == ["inventory/host_vars/maas/vault.yml"]
    # The file's name is not encrypted: a vault file for a host that does not exist is still reported.
    shutil.copy(secret, inventory / "host_vars" / "still-fawm.yml")
    typo = homelab("inventory", "validate", "-i", str(inventory))
    assert typo.rc == 2 and "host_vars for unknown host 'still-fawm'" in typo.stderr
    (inventory / "host_vars" / "still-fawm.yml").unlink()
    (inventory / "host_vars" / "maas" / "list.yml").write_text("- a\n- b\n")
    broken = homelab("inventory", "validate", "-i", str(inventory))
    assert broken.rc == 2 and "maas/list.yml:1:1: a vars file must be a mapping of variable names" in broken.stderr


# --- which inventory: -i, then $HOMELAB_INVENTORY, then the project's, as for every other command ----------


@pytest.fixture
def broken_inventory(tmp_path: Path) -> Path:
    """A copy of the reference inventory whose hosts.yml no longer parses."""
    import shutil

    inventory = tmp_path / "broken"
    shutil.copytree(ROOT / "inventory", inventory)
    (inventory / "hosts.yml").write_text((inventory / "hosts.yml").read_text() + "\nbroken: [\n")
    return inventory


def test_validate_honours_homelab_inventory(homelab, broken_inventory: Path) -> None:
    # Without -i the environment names the inventory: the broken one fails, though the project's is valid.
    result = homelab("inventory", "validate", env={"HOMELAB_INVENTORY": str(broken_inventory)})
    assert result.rc == 2, result.stderr
    assert "hosts.yml:" in result.stderr and "Traceback" not in result.stderr


def test_validate_dash_i_overrides_homelab_inventory(homelab, broken_inventory: Path) -> None:
    env = {"HOMELAB_INVENTORY": str(broken_inventory)}
    for flag in ("-i", "--inventory"):
        result = homelab("inventory", "validate", flag, str(ROOT / "inventory"), "--format", "json", env=env)
        assert result.rc == 0, result.stderr
        assert "still-fawn" in json.loads(result.stdout)["hosts"]
    # and the other way round: -i names the broken one while the environment names a good one
    good = {"HOMELAB_INVENTORY": str(ROOT / "inventory")}
    assert homelab("inventory", "validate", "-i", str(broken_inventory), env=good).rc == 2


def test_the_old_path_option_still_works_and_says_to_use_dash_i(homelab, broken_inventory: Path) -> None:
    result = homelab("inventory", "validate", "--path", str(broken_inventory), env={"HOMELAB_INVENTORY": ""})
    assert result.rc == 2 and "hosts.yml:" in result.stderr
    assert "--path is deprecated; use -i/--inventory" in result.stderr
    assert "--path" not in homelab("inventory", "validate", "--help").stdout
    both = homelab("inventory", "validate", "--path", str(broken_inventory), "-i", str(ROOT / "inventory"))
    assert both.rc == 2 and "give only -i" in both.stderr


def test_a_missing_inventory_is_named(homelab, tmp_path: Path) -> None:
    result = homelab("inventory", "validate", env={"HOMELAB_INVENTORY": str(tmp_path / "nowhere")})
    assert result.rc == 2 and f"no inventory directory at {tmp_path / 'nowhere'}" in result.stderr


def test_every_inventory_option_is_the_shared_one() -> None:
    # Declared once: a command that grows its own --inventory again would drift in name, letter or help.
    import re

    for module in sorted((ROOT / "planner" / "commands").glob("*.py")):
        if module.name != "_options.py":
            assert not re.search(r"""["']--inventory["']""", module.read_text()), module.name
