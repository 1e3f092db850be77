"""WHEN, as a person types it, resolved to one concrete future local time.

A schedule runs once, so whatever was typed becomes one time at scheduling,
shown to the person and handed to the backend as an absolute time: the
systemd timer and ``at`` then agree on it, and a repeating calendar
expression ("daily") means its next elapse only.

Read here, with no tool: "22:00", "today 22:00", "tomorrow 06:30",
"fri 22:00" / "friday 22:00" / systemd's "Fri *-*-* 22:00:00",
"2026-12-11 22:00[:00]", "2026-12-11" (midnight), "now + 5 minutes",
"in 2 hours". Anything else is handed to ``systemd-analyze calendar`` when the
controller has it (its full calendar syntax), and refused otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess

from planner.errors import HomelabError

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS = {"min": 60, "minute": 60, "minutes": 60, "mins": 60, "m": 60, "hour": 3600, "hours": 3600, "h": 3600,
          "day": 86400, "days": 86400, "d": 86400, "week": 604800, "weeks": 604800}
_TIME = r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?"
_RELATIVE = re.compile(r"^(?:now\s*\+\s*|in\s+)(?P<n>\d+)\s*(?P<unit>[a-z]+)$")
_DAY_TIME = re.compile(rf"^(?:(?P<word>today|tonight|tomorrow)\s+)?(?:at\s+)?{_TIME}$")
_WEEKDAY = re.compile(rf"^(?:next\s+)?(?P<day>[a-z]{{3,9}})(?:\s+\*-\*-\*)?\s+(?:at\s+)?{_TIME}$")
_DATE = re.compile(rf"^(?:\*-\*-\*|(?P<date>\d{{4}}-\d{{2}}-\d{{2}}))(?:[ t]{_TIME})?$")
#: Longer than this ahead is almost surely a typo (a year, not a day).
MAX_AHEAD = dt.timedelta(days=366)


class WhenError(HomelabError):
    """WHEN cannot be read, or is not in the future."""


_HINT = ('use "fri 22:00", "22:00", "tomorrow 06:30", "2026-12-11 22:00", "now + 5 minutes" '
         "or systemd calendar syntax (man systemd.time)")


def resolve(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """The one future local time ``text`` means, seconds included, as an aware datetime.

    ``now`` (aware, local) is fixed by tests; by default it is the controller's local time.
    """
    now = (now or dt.datetime.now().astimezone()).replace(microsecond=0)
    spoken = " ".join(text.strip().lower().split())
    if not spoken:
        raise WhenError("WHEN is empty", _HINT)
    when = _read(spoken, now)
    if when is None:
        when = _systemd_calendar(text.strip(), now)
    if when <= now:
        raise WhenError(f"{text!r} is {when:%a %Y-%m-%d %H:%M:%S %Z}, which is not in the future",
                        "give a time still to come (a bare time like 22:00 means the next one)")
    if when - now > MAX_AHEAD:
        raise WhenError(f"{text!r} is {when:%Y-%m-%d}, more than a year ahead", "give a date within the year")
    return when


def shown(when: dt.datetime) -> str:
    """How a resolved time is shown: "Fri 2026-12-11 22:00 UTC"."""
    return when.strftime("%a %Y-%m-%d %H:%M" + (":%S" if when.second else "") + " %Z").strip()


def _at(day: dt.date, m: re.Match[str], now: dt.datetime) -> dt.datetime:
    hour, minute, second = int(m["h"]), int(m["m"]), int(m["s"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise WhenError(f"{m[0]!r} is not a time of day", "write hours 0-23 and minutes 0-59, e.g. 22:00")
    return dt.datetime.combine(day, dt.time(hour, minute, second), now.tzinfo)


def _read(spoken: str, now: dt.datetime) -> dt.datetime | None:
    """The friendly forms; None when ``spoken`` is none of them."""
    if spoken == "now":
        raise WhenError("WHEN is now", "without --at, homelab apply runs the plan now")
    if m := _RELATIVE.match(spoken):
        if m["unit"] not in _UNITS:
            raise WhenError(f"{m['unit']!r} is not a unit of time", "use minutes, hours, days or weeks")
        # Whole minutes, rounded up: ``at`` runs jobs on the minute, and the time shown is the time it runs.
        when = now + dt.timedelta(seconds=int(m["n"]) * _UNITS[m["unit"]])
        return when + dt.timedelta(seconds=(60 - when.second) % 60)
    if m := _DAY_TIME.match(spoken):
        when = _at(now.date() + dt.timedelta(days=1 if m["word"] == "tomorrow" else 0), m, now)
        # A bare time already past today means tomorrow's; "today 08:00" at noon is an error below.
        return when + dt.timedelta(days=1) if when <= now and not m["word"] else when
    if m := _WEEKDAY.match(spoken):
        index = next((i for i, name in enumerate(_DAYS) if name.startswith(m["day"])), None)
        if index is None:
            return None
        ahead = (index - now.weekday()) % 7
        when = _at(now.date() + dt.timedelta(days=ahead), m, now)
        return when + dt.timedelta(days=7) if when <= now else when
    if m := _DATE.match(spoken):
        if m["date"] is None:  # "*-*-* 06:30": every day at 06:30, so the next one
            if m["h"] is None:
                return None
            when = _at(now.date(), m, now)
            return when + dt.timedelta(days=1) if when <= now else when
        try:
            day = dt.date.fromisoformat(m["date"])
        except ValueError:
            raise WhenError(f"{m['date']!r} is not a date", "write the date as YYYY-MM-DD") from None
        return dt.datetime.combine(day, dt.time(), now.tzinfo) if m["h"] is None else _at(day, m, now)
    return None


def _systemd_calendar(text: str, now: dt.datetime) -> dt.datetime:
    """The next elapse of a systemd calendar expression, asked of ``systemd-analyze``, when the controller has it."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        raise WhenError(f"cannot read WHEN {text!r}", _HINT)
    try:
        done = subprocess.run([tool, "calendar", "--iterations=1", f"--base-time=@{int(now.timestamp())}", text],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0:
        raise WhenError(f"cannot read WHEN {text!r}", _HINT)
    found = {}
    for line in done.stdout.splitlines():
        label, _, value = line.partition(":")
        found[label.strip()] = value.split()
    # "(in UTC): Fri 2026-12-11 22:00:00 UTC" appears when the local zone is not UTC; it is unambiguous.
    stamp = found.get("(in UTC)") or found.get("Next elapse")
    if not stamp or len(stamp) < 3:
        raise WhenError(f"{text!r} never elapses", _HINT)
    zone = dt.UTC if "(in UTC)" in found or stamp[-1] == "UTC" else now.tzinfo
    return dt.datetime.fromisoformat(f"{stamp[1]} {stamp[2]}").replace(tzinfo=zone).astimezone(now.tzinfo)
