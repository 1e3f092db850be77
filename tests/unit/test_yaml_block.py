"""The quick path for the tool's own top-level block: the same text as the surgical writer, or it steps aside."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from planner.yamlio.block import Unsure, cut, update
from planner.yamlio.edit import _edit, delete_text
from planner.yamlio.files import batch, update_in_file

HAND_KEPT = ("---\n# host-1: a worker.\nhost_description: >-\n  A machine\n  by the window.\n"
             "lan_ip: 10.0.0.1\nhardware:\n  cores: 8\n  # a tower\n  nics:\n    - name: enp5s0\n"
             "      speed_mbps: 1000  # gigabit\n")


def written(block: dict[str, Any]) -> str:
    """A file whose discovered block the surgical writer laid out (as a first write-back does)."""
    return _edit(HAND_KEPT, ("discovered",), block, unsafe=True, display="<t>")


def block(when: str) -> dict[str, Any]:
    return {"gathered_at": when, "os": "Debian 12", "disks": [{"name": "sda", "size": "3.64 TB"}],
            "nics": [{"name": "enp5s0", "speed_mbps": 1000}], "gpus": [], "reachable": True}


def renew(when: str) -> Any:
    def make(old: Any) -> Any:
        new = copy.deepcopy(old)
        new["gathered_at"] = when
        return new
    return make


@pytest.mark.parametrize("after", ["", "# kept below\nlater: yes\n", "later: 1  # after\n"])
def test_update_writes_what_the_surgical_writer_writes(after: str) -> None:
    text = written(block("2026-01-01")) + after
    quick = update(text, "discovered", renew("2026-02-02"), unsafe=True)
    slow = _edit(text, ("discovered",), None, unsafe=True, display="<t>", make=renew("2026-02-02"))
    assert quick == slow and quick.startswith(HAND_KEPT) and quick.endswith(after)
    assert "2026-02-02" in quick


def test_an_unchanged_block_leaves_the_text_alone() -> None:
    text = written(block("2026-01-01"))
    assert update(text, "discovered", lambda old: copy.deepcopy(old), unsafe=True) is text


def test_cut_matches_delete_text() -> None:
    text = written(block("2026-01-01")) + "# note\nlater: yes\n"
    assert cut(text, "discovered") == delete_text(text, ("discovered",))
    assert cut(HAND_KEPT, "discovered") == HAND_KEPT  # no block: nothing to cut


@pytest.mark.parametrize("text", [
    "discovered: &d\n  a: 1\nother: *d\n",           # an anchor used elsewhere
    "discovered:\n  a: 1\ndiscovered:\n  b: 2\n",      # a duplicate key
    "<<: {discovered: {a: 1}}\nx: 1\n",               # a merge key at the top
    "discovered:\n  note: |\n    text\n",             # a block scalar at the block's end
    "discovered: {a: 1}\n",                           # flow style
    "a: 1\n---\ndiscovered:\n  a: 1\n",               # two documents
    "discovered:\n  a: [1,\n",                        # broken
    "- discovered\n",                                 # not a mapping
])
def test_what_it_cannot_be_sure_of_goes_to_the_surgical_writer(text: str) -> None:
    with pytest.raises(Unsure):
        cut(text, "discovered")
    with pytest.raises(Unsure):
        update(text, "discovered", lambda old: {"a": 2}, unsafe=True)


def test_a_first_write_is_the_surgical_writers() -> None:
    with pytest.raises(Unsure):
        update(HAND_KEPT, "discovered", lambda old: {"a": 1}, unsafe=True)


def test_crlf_files_stay_crlf() -> None:
    text = written(block("2026-01-01")).replace("\n", "\r\n")
    new = update(text, "discovered", renew("2026-03-03"), unsafe=True)
    assert "\n" not in new.replace("\r\n", "") and "2026-03-03" in new


def test_batch_writes_every_file_and_rewrites_none_that_did_not_change(tmp_path: Path) -> None:
    paths = [tmp_path / f"h{n}.yml" for n in range(3)]
    for path in paths:
        path.write_text(written(block("2026-01-01")))
    os.utime(paths[0], (1, 1))
    leftover = tmp_path / f".h1.yml.{2 ** 22 + 17}.0badf00d.tmp"  # a killed writer's, its pid long gone
    leftover.write_text("partial")
    with batch():
        changed = [update_in_file(p, ("discovered",), renew("2026-04-04") if p != paths[0] else copy.deepcopy,
                                  unsafe=True) for p in paths]
    assert changed == [False, True, True]
    assert paths[0].stat().st_mtime == 1  # not rewritten at all
    assert all("2026-04-04" in p.read_text() for p in paths[1:]) and not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h0.yml", "h1.yml", "h2.yml"]
