"""Date phrases read against a fixed day, and the `window` extractor that writes them out."""

from __future__ import annotations

from datetime import date

import pytest

from planner.planning.dates import resolve, window
from planner.planning.extractors import EXTRACTORS, Named, Wanted, extract, fits

SATURDAY = date(2026, 12, 5)
WEDNESDAY = date(2026, 12, 9)
SUNDAY = date(2026, 12, 6)


@pytest.mark.parametrize(("phrase", "today", "resolved"), [
    ("next weekend", SATURDAY, "next weekend (Sat 2026-12-12 – Sun 2026-12-13)"),
    ("next weekend", SUNDAY, "next weekend (Sat 2026-12-12 – Sun 2026-12-13)"),
    ("next weekend", WEDNESDAY, "next weekend (Sat 2026-12-19 – Sun 2026-12-20)"),
    ("this weekend", WEDNESDAY, "this weekend (Sat 2026-12-12 – Sun 2026-12-13)"),
    ("this weekend", SATURDAY, "this weekend (Sat 2026-12-05 – Sun 2026-12-06)"),
    ("this weekend", SUNDAY, "this weekend (Sun 2026-12-06)"),
    ("the weekend", WEDNESDAY, "the weekend (Sat 2026-12-12 – Sun 2026-12-13)"),
    ("fri 22:00", SATURDAY, "fri 22:00 (Fri 2026-12-11 22:00)"),
    ("fri 22:00", WEDNESDAY, "fri 22:00 (Fri 2026-12-11 22:00)"),
    ("sat", SATURDAY, "sat (Sat 2026-12-12)"),  # a day name is the next one after today
    ("sat", WEDNESDAY, "sat (Sat 2026-12-12)"),
    ("tomorrow", SATURDAY, "tomorrow (Sun 2026-12-06)"),
    ("tomorrow 09:30", SATURDAY, "tomorrow 09:30 (Sun 2026-12-06 09:30)"),
    ("today", WEDNESDAY, "today (Wed 2026-12-09)"),
    ("tonight 23:00", WEDNESDAY, "tonight 23:00 (Wed 2026-12-09 23:00)"),
    ("03:00", WEDNESDAY, "03:00 (Wed 2026-12-09 03:00)"),
    ("next week", SATURDAY, "next week (Mon 2026-12-07 – Sun 2026-12-13)"),
    ("this week", WEDNESDAY, "this week (Wed 2026-12-09 – Sun 2026-12-13)"),
    ("2027-01-02 14:00", SATURDAY, "2027-01-02 14:00 (Sat 2027-01-02 14:00)"),
    # Unknown or impossible: returned as said, never guessed at.
    ("someday", SATURDAY, "someday"),
    ("2026-02-30", SATURDAY, "2026-02-30"),
    ("", SATURDAY, ""),
])
def test_resolve(phrase: str, today: date, resolved: str) -> None:
    assert resolve(phrase, today) == resolved


def test_a_window_spans_whole_days() -> None:
    found = window("next weekend", SATURDAY)
    assert found is not None and (found.first, found.last) == (date(2026, 12, 12), date(2026, 12, 13))
    assert window("someday", SATURDAY) is None


@pytest.mark.parametrize(("text", "value"), [
    ("delay the k3s nodes until next weekend", "next weekend (Sat 2026-12-12 – Sun 2026-12-13)"),
    ("do it Friday at 10pm", "fri 22:00 (Fri 2026-12-11 22:00)"),
    ("postpone to tomorrow", "tomorrow (Sun 2026-12-06)"),
    ("on sat", "sat (Sat 2026-12-12)"),
    ("delay the k3s nodes", None),
    ("the monitoring hosts", None),  # "mon" inside a word is no Monday
])
def test_the_window_extractor_reads_against_the_plans_day(text: str, value: str | None) -> None:
    assert extract(Wanted("window"), text, Named(today=SATURDAY)) == value


def test_the_window_extractor_is_registered_for_strings() -> None:
    assert EXTRACTORS["window"].gives == "str"
    assert fits("window", "str") and not fits("window", "int")
