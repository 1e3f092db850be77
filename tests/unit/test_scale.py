"""The inventory write-back stays linear in the number of hosts: it guards parse counts, not wall-clock time.

``homelab facts`` writes every host's discovered block into its host_vars file. A block written before is
replaced whole (planner.yamlio.block): each file is read by libyaml for its old block, the new block alone is
read back once, and none is composed by the pure-Python reader; the surgical writer (one composition, one
read-back) places a first block, and the slow reference reader only decides what libyaml cannot. A change
that re-parses a file per host, or every file per host, fails here on any machine, however loaded.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from bench import scale
from planner.knowledge import facts as facts_mod
from planner.workspace import Workspace
from planner.yamlio import block, edit, spans

HOSTS = 12


class Counts:
    """How often each reader ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.composed = self.quick = self.reference = 0
        compose, quick, reference = spans._Document.__init__, edit._quick_plain, edit._load_plain
        events = block._events

        def counted_compose(doc: Any, *args: Any) -> None:
            self.composed += 1
            compose(doc, *args)

        def counted_quick(text: str, display: str) -> Any:
            self.quick += 1
            return quick(text, display)

        def counted_reference(text: str, display: str, pure: bool = False) -> Any:
            self.reference += 1
            return reference(text, display, pure)

        def counted_events(text: str) -> list[Any]:  # the block path's libyaml reading: its events
            self.quick += 1
            return events(text)

        monkeypatch.setattr(spans._Document, "__init__", counted_compose)
        monkeypatch.setattr(edit, "_quick_plain", counted_quick)
        monkeypatch.setattr(block, "_events", counted_events)
        monkeypatch.setattr(edit, "_load_plain", counted_reference)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return scale.make_inventory(tmp_path, HOSTS)


def test_write_back_parses_each_host_file_once_and_reads_it_back_once(
        tmp_path: Path, inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = [f"host-{n:05d}" for n in range(HOSTS)]
    before = (inventory / "host_vars" / "host-00003.yml").read_text()
    # A year no real clock shows yet: make_inventory wrote the first block at the real time, and the day
    # written here must differ from it whatever day the test runs on.
    clock = iter(f"2031-01-{day:02d}T08:00:00+00:00" for day in itertools.count(7))
    monkeypatch.setattr(facts_mod.planfile, "now", lambda: next(clock))
    counts = Counts(monkeypatch)

    result = facts_mod.write_back(Workspace(tmp_path, tmp_path / ".homelab", inventory), scale.gathered(hosts), hosts)

    assert sorted(result.written) == hosts and not result.skipped
    assert (counts.composed, counts.quick, counts.reference) == (0, 2 * HOSTS, 0)
    after = (inventory / "host_vars" / "host-00003.yml").read_text()
    # Only the gathering time moved (the address history keeps the day it was first seen); comments stay.
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [b for _, b in changed] == ["  gathered_at: '2031-01-07T08:00:00+00:00'",
                                       "      last_seen: '2031-01-07'"]
    assert "  # A tower: a free PCIe x1 slot takes a 2.5GbE card." in after


def test_the_reference_reader_still_decides_what_libyaml_does_not_agree_with(
        monkeypatch: pytest.MonkeyPatch) -> None:
    counts = Counts(monkeypatch)
    # libyaml's loader has no constructor for a global tag of someone else's; the reference reads it as tagged
    # text. The read-back falls back to the reference instead of refusing a correct write.
    text = "# kept\nodd: !<tag:example.com,2000:thing> x\nanchor: &a {x: 1}\nalias: *a\n"
    new = edit.edit_text(text, ("added",), "yes", unsafe=True)
    assert new == text + "added: 'yes'\n"
    assert (counts.quick, counts.reference) == (1, 1)


def test_one_edit_in_a_big_hosts_file_parses_it_once() -> None:
    text = scale.hosts_file(200)
    path = ("all", "children", "rack01", "hosts", "host-00150", "discovered")
    with pytest.MonkeyPatch.context() as monkeypatch:
        counts = Counts(monkeypatch)
        new = edit.edit_text(text, path, {"os": "Debian 12"}, unsafe=True)
    assert (counts.composed, counts.quick, counts.reference) == (1, 1, 0)
    assert new.count("\n") == text.count("\n") + 2 and "        # row 15: the machines under the window" in new
