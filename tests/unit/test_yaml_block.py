"""The quick path for the tool's own top-level block: the same text as the surgical writer, or it steps aside."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from planner.yamlio.block import Unsure, cut, update
from planner.yamlio.edit import _edit, delete_text
from planner.yamlio.files import batch, set_in_file, update_in_file

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


@pytest.mark.parametrize("bug", ["unquoted", "outdented", "second key", "document end", "kept block scalar"])
def test_a_renderer_bug_is_caught_by_the_read_back(bug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each planted bug writes lines that do not mean the new block in the file; the last two read right alone."""
    from planner.yamlio import block as block_mod
    from planner.yamlio import text as text_mod

    monkeypatch.setattr(block_mod, "_SPELLED", {})  # what the correct renderer spelled before, and the bug's after
    spell, render_pair = text_mod.scalar_text, text_mod.Layout.render_pair

    def buggy_scalar(value: Any, unsafe: bool) -> str:  # text that reads as a boolean: 'yes' becomes True
        return "yes" if value == "2026-05-05" else spell(value, unsafe)

    def buggy_pair(layout: Any, key: Any, value: Any, column: int) -> list[str]:
        lines = render_pair(layout, key, value, column)
        if key == "os" and bug == "outdented":  # one key's lines at the top level
            return [line[column:] for line in lines]
        if key == "os" and bug == "second key":
            return [*lines, "later: 1"]
        if key == "zzz" and bug == "document end":  # the block's last line ends the document: what follows
            return [*lines, "..."]                   # would be a second one
        if key == "gathered_at" and bug == "kept block scalar":  # keeps the blank lines after the block
            return [" " * column + "gathered_at: |+", " " * (column + 2) + str(value).rstrip("\n")]
        return lines

    data = block("2026-01-01")
    data["os"] = {"name": "Debian"}
    data["zzz"] = 1
    text = written(data) + "\n\nlater: 2\n"
    if bug == "unquoted":
        monkeypatch.setattr(text_mod, "scalar_text", buggy_scalar)
    else:
        monkeypatch.setattr(text_mod.Layout, "render_pair", buggy_pair)
    make = renew("2026-05-05")
    if bug == "kept block scalar":  # the block scalar must be the block's last value: gathered_at goes last
        def make(old: Any) -> Any:
            new = {k: v for k, v in old.items() if k != "gathered_at"}
            new["gathered_at"] = "2026-05-05\n"
            return new
    with pytest.raises(Unsure):
        update(text, "discovered", make, unsafe=True)


@pytest.mark.parametrize("spelling", ["2026-01-01", "0777", "1_000", "1:30", "!!str x", "&a x", "0x1F"])
def test_a_value_it_cannot_build_from_the_events_goes_to_the_surgical_writer(spelling: str) -> None:
    text = written(block("2026-01-01")).replace("  reachable: true\n", f"  reachable: true\n  odd: {spelling}\n")
    with pytest.raises(Unsure):
        update(text, "discovered", renew("2026-06-06"), unsafe=True)


def test_what_the_events_build_is_what_libyaml_loads() -> None:
    from planner.yamlio.block import _construct, find
    from planner.yamlio.reading import _quick_plain, _same_value

    extra = ("  plain: [1, -2, 3.5, -.inf, .nan, yes, No, off, ~, null, '', x y, 'yes', \"a\\tb\"]\n"
             "  'quoted key': {a: !unsafe '12', b: !unsafe 'text', c: !unsafe '', d: 1.5e+3}\n"
             "  last: >-\n    folded\n    text\n  dup: 1\n  dup: 2\n")
    text = written(block("2026-01-01")).replace("  reachable: true\n", "  reachable: true\n" + extra)
    found = find(text, "discovered")
    assert found is not None
    assert _same_value(_construct(found.events, found.first + 1)[0], _quick_plain(text, "<t>")["discovered"])


def test_batch_puts_files_in_place_chunk_by_chunk_and_names_those_it_could_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.yamlio import files

    monkeypatch.setattr(files, "_CHUNK", 2)
    paths = [tmp_path / f"h{n}.yml" for n in range(5)]
    for path in paths:
        path.write_text(written(block("2026-01-01")))
    replace = os.replace

    def failing(src: Any, dst: Any) -> None:
        if Path(dst).name == "h3.yml":
            raise PermissionError(13, "refused")
        replace(src, dst)

    monkeypatch.setattr(files.os, "replace", failing)
    with batch() as written_files:
        for path in paths:
            assert update_in_file(path, ("discovered",), renew("2026-07-07"), unsafe=True)
        # A second write of a file whose first waits for its rename reads the first.
        assert update_in_file(paths[4], ("discovered",), renew("2026-08-08"), unsafe=True)
    assert list(written_files.failed) == [paths[3].resolve()]
    assert ["2026-08-08" in p.read_text() or "2026-07-07" in p.read_text() for p in paths] == [1, 1, 1, 0, 1]
    assert "2026-08-08" in paths[4].read_text() and "reachable: true" in paths[4].read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]  # no temporary file left


def test_a_batch_that_cannot_make_its_bytes_durable_renames_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.yamlio import files

    def unsyncable(pending: Any) -> None:
        raise OSError(5, "Input/output error")

    paths = [tmp_path / f"h{n}.yml" for n in range(3)]
    for path in paths:
        path.write_text(written(block("2026-01-01")))
    before = [p.read_bytes() for p in paths]
    monkeypatch.setattr(files, "_make_durable", unsyncable)
    with batch() as written_files:
        for path in paths:
            update_in_file(path, ("discovered",), renew("2026-09-09"), unsafe=True)
    assert sorted(written_files.failed) == sorted(p.resolve() for p in paths)
    assert [p.read_bytes() for p in paths] == before  # every file keeps its old version
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]


def test_without_proc_the_batch_writes_named_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.yamlio import files

    def restricted(*args: object) -> None:
        raise PermissionError("a restricted /proc")

    # A restricted /proc: it cannot be opened, and unnamed files cannot be named through it.
    monkeypatch.setattr(files, "_proc", lambda: None)
    monkeypatch.setattr(files, "_name", restricted)
    path = tmp_path / "h.yml"
    path.write_text(written(block("2026-01-01")))
    with batch() as written_files:
        assert update_in_file(path, ("discovered",), renew("2026-10-10"), unsafe=True)
    assert not written_files.failed and "2026-10-10" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["h.yml"]


def test_a_symlinked_host_file_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "kept" / "h.yml"
    real.parent.mkdir()
    real.write_text(written(block("2026-01-01")))
    link = tmp_path / "h.yml"
    link.symlink_to(real)
    with batch():
        assert update_in_file(link, ("discovered",), renew("2026-11-11"), unsafe=True)
        assert update_in_file(link, ("discovered",), renew("2026-11-12"), unsafe=True)  # reads the first
    assert link.is_symlink() and "2026-11-12" in real.read_text() and "2026-11-11" not in real.read_text()
    assert set_in_file(link, ("lan_ip",), "10.0.0.9") and link.is_symlink() and "10.0.0.9" in real.read_text()
