"""WHEN, as people type it, resolved against a fixed "now" to one future local time."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from planner.errors import ExitCode
from planner.schedule import when as when_module
from planner.schedule.when import WhenError, resolve, shown

#: A Saturday evening, in UTC and an hour east of it.
NOW = dt.datetime(2026, 12, 5, 23, 45, 10, tzinfo=dt.UTC)
EAST = dt.timezone(dt.timedelta(hours=1), "CET")


@pytest.mark.parametrize(("text", "expected"), [
    ("fri 22:00", "Fri 2026-12-11 22:00 UTC"),
    ("Friday 22:00", "Fri 2026-12-11 22:00 UTC"),
    ("next fri at 22:00", "Fri 2026-12-11 22:00 UTC"),
    ("Fri *-*-* 22:00:00", "Fri 2026-12-11 22:00 UTC"),
    ("sat 23:50", "Sat 2026-12-05 23:50 UTC"),  # later today
    ("sat 22:00", "Sat 2026-12-12 22:00 UTC"),  # passed today: next week's
    ("22:00", "Sun 2026-12-06 22:00 UTC"),  # passed today: tomorrow's
    ("23:46", "Sat 2026-12-05 23:46 UTC"),
    ("tomorrow 06:30", "Sun 2026-12-06 06:30 UTC"),
    ("today 23:59:30", "Sat 2026-12-05 23:59:30 UTC"),
    ("2026-12-11 22:00", "Fri 2026-12-11 22:00 UTC"),
    ("2026-12-11T22:00:00", "Fri 2026-12-11 22:00 UTC"),
    ("2026-12-11", "Fri 2026-12-11 00:00 UTC"),
    ("*-*-* 06:30", "Sun 2026-12-06 06:30 UTC"),
    ("now + 1 minute", "Sat 2026-12-05 23:47 UTC"),  # whole minutes, rounded up: at runs on the minute
    ("now+5min", "Sat 2026-12-05 23:51 UTC"),
    ("in 2 hours", "Sun 2026-12-06 01:46 UTC"),
    ("in 1 week", "Sat 2026-12-12 23:46 UTC"),
])
def test_friendly_forms_resolve_to_one_future_time(text: str, expected: str) -> None:
    assert shown(resolve(text, NOW)) == expected


def test_a_time_is_local_to_the_controller() -> None:
    now = NOW.astimezone(EAST)  # Sun 00:45 CET
    assert shown(resolve("22:00", now)) == "Sun 2026-12-06 22:00 CET"
    assert shown(resolve("fri 22:00", now)) == "Fri 2026-12-11 22:00 CET"
    assert resolve("2026-12-11 22:00", now).utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize(("text", "says"), [
    ("", "WHEN is empty"),
    ("now", "WHEN is now"),
    ("today 08:00", "not in the future"),
    ("2026-12-01 22:00", "not in the future"),
    ("2028-01-01", "more than a year ahead"),
    ("25:00", "not a time of day"),
    ("fri 22:61", "not a time of day"),
    ("2026-13-01 10:00", "not a date"),
    ("in 3 fortnights", "not a unit of time"),
])
def test_what_cannot_be_a_future_time_is_refused_with_a_hint(text: str, says: str) -> None:
    with pytest.raises(WhenError) as caught:
        resolve(text, NOW)
    assert says in caught.value.message and caught.value.hint
    assert caught.value.exit_code == ExitCode.USAGE


def test_other_calendar_syntax_is_asked_of_systemd_analyze_and_refused_without_it(monkeypatch) -> None:
    if shutil.which("systemd-analyze"):
        # Mon..Fri from a Saturday: Monday. A repeating expression means its next elapse only.
        assert shown(resolve("Mon..Fri 08:00", NOW)) == "Mon 2026-12-07 08:00 UTC"
        assert shown(resolve("daily", NOW)) == "Sun 2026-12-06 00:00 UTC"
        with pytest.raises(WhenError, match="cannot read WHEN"):
            resolve("whenever suits", NOW)
    monkeypatch.setattr(when_module.shutil, "which", lambda name: None)
    with pytest.raises(WhenError, match="cannot read WHEN 'Mon..Fri 08:00'") as caught:
        resolve("Mon..Fri 08:00", NOW)
    assert "fri 22:00" in (caught.value.hint or "")
    # The friendly forms need no tool.
    assert shown(resolve("fri 22:00", NOW)) == "Fri 2026-12-11 22:00 UTC"
