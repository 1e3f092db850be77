"""YAML alias bombs and oversized files are refused before anything expands them; state is owner-only."""

from __future__ import annotations

import os
import resource
import stat
import time
from pathlib import Path

import pytest

from planner import yamlio
from planner.inventory.validate import validate_inventory
from planner.paths import private_dir, private_file
from planner.yamlio.limits import MAX_BYTES, YamlLimitError, check_tree, expanded_nodes
from planner.yamlio.reading import load_fast


def bomb(levels: int = 9, width: int = 9) -> str:
    """9 levels of 9 aliases: 9**9 (387 million) nodes once expanded, 500 bytes on disk."""
    lines = ["lol0: &lol0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_nodes_are_counted_with_aliases_expanded_without_expanding_them() -> None:
    assert expanded_nodes("a: &x {b: [1, 2]}\nc: *x\n", "f") == 13
    assert expanded_nodes("a: 1\nb: [1, 2]\n", "f") == 0  # no anchor: nothing can expand
    assert expanded_nodes("a: &x [1\n", "f") >= 0  # a syntax error is the loader's to report, with its place


@pytest.mark.parametrize("reader", ["load", "load_fast", "check_tree"])
def test_an_alias_bomb_is_refused_in_well_under_a_second_by_every_reader(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "host_vars" / "maas.yml"
    path.parent.mkdir()
    path.write_text("host_description: a host\n" + bomb())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    with pytest.raises(YamlLimitError) as err:
        {"load": lambda: yamlio.load(path, "host_vars/maas.yml"), "load_fast": lambda: load_fast(path),
         "check_tree": lambda: check_tree(tmp_path)}[reader]()
    assert time.process_time() - started < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB: under 100 MB
    assert "maas.yml" in err.value.message and "more than 100,000 nodes" in err.value.message
    assert err.value.hint and err.value.exit_code == 2


def test_inventory_validate_refuses_the_bomb_naming_the_file(tmp_path: Path) -> None:
    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    maas:\n")
    (inv / "host_vars" / "maas.yml").write_text(bomb())
    started = time.process_time()
    with pytest.raises(YamlLimitError, match=r"host_vars/maas\.yml"):
        validate_inventory(inv)
    assert time.process_time() - started < 1


def test_an_oversized_file_is_refused_from_its_size_alone(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    with path.open("w") as fh:
        fh.truncate(MAX_BYTES + 1)
    started = time.process_time()
    with pytest.raises(YamlLimitError, match=r"big\.yml: it is 10,485,761 bytes"):
        yamlio.load(path)
    assert time.process_time() - started < 0.5


def test_links_to_directories_are_followed_as_ansible_follows_them(tmp_path: Path) -> None:
    real = tmp_path / "real" / "host_vars"
    real.mkdir(parents=True)
    (real / "maas.yml").write_text(bomb())
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "host_vars").symlink_to(real)
    (inv / "loop").symlink_to(inv)  # a link loop ends at the directory walked already
    with pytest.raises(YamlLimitError):
        check_tree(inv)


def test_state_is_created_and_tightened_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / ".homelab"
    state.mkdir(mode=0o755)
    state.chmod(0o755)  # as an older version left it
    old = os.umask(0)
    try:
        plans = private_dir(state / "plans" / "deep")
        os.close(private_file(state / "runs" / "x.json"))
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in (state, plans.parent, plans, state / "runs", state / "runs" / "x.json")}
    assert modes == {".homelab": "0o700", ".homelab/plans": "0o700", ".homelab/plans/deep": "0o700",
                     ".homelab/runs": "0o700", ".homelab/runs/x.json": "0o600"}


@pytest.mark.parametrize(("data", "says"), [(b"a: 1\nb: x\x00y\n", "hosts.yml:2: a NUL byte"),
                                            (b"a: caf\xe9\n", "hosts.yml:1: byte 0xe9 is not UTF-8")])
def test_an_inventory_file_that_is_not_text_is_refused(tmp_path: Path, data: bytes, says: str) -> None:
    (tmp_path / "hosts.yml").write_bytes(data)
    with pytest.raises(YamlLimitError, match=says):
        check_tree(tmp_path)
