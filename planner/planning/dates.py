"""When a person's words mean, on the calendar: "next weekend" said on a given day, as concrete dates.

The ``when`` extractor keeps a time as it was said ("fri 22:00", "next weekend"), which is
what a person wrote but not what a scheduler or a later reader can act on: "next weekend"
means another weekend a week later. :func:`resolve` reads such a phrase against the day the
plan is made and returns both, readable: ``next weekend (Sat 2026-12-12 – Sun 2026-12-13)``.

The rules, stated once so that every plan reads a phrase the same way:

- a day name ("sat", "friday at 10pm") is the next such day *after* today: said on a
  Saturday, "sat" is a week later, since "delay until sat" on a Saturday never means today;
- "this weekend" (or "the weekend") is the coming Saturday and Sunday, or what is left of the
  weekend when said during it; "next weekend" is the one after that;
- "next week" is Monday to Sunday of the week after today's, "this week" today to Sunday;
- "today", "tonight", "tomorrow" and a bare time ("at 3am") are today or tomorrow, with the time;
- an ISO date is itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^(\d{2}:\d{2})$")
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})$")
SATURDAY, SUNDAY = 5, 6


@dataclass(frozen=True)
class Window:
    """A span of whole days, with a time of day on the first where one was said."""

    first: date
    last: date
    clock: str | None = None

    def label(self) -> str:
        """``Sat 2026-12-12 – Sun 2026-12-13``, or ``Fri 2026-12-11 22:00`` for one day."""
        first = f"{_DAYS[self.first.weekday()].title()} {self.first.isoformat()}"
        if self.clock:
            first += f" {self.clock}"
        if self.last == self.first:
            return first
        return f"{first} – {_DAYS[self.last.weekday()].title()} {self.last.isoformat()}"


def _next_weekday(today: date, weekday: int) -> date:
    """The next ``weekday`` strictly after ``today``."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _this_weekend(today: date) -> Window:
    if today.weekday() == SUNDAY:
        return Window(today, today)
    saturday = today + timedelta(days=SATURDAY - today.weekday())
    return Window(saturday, saturday + timedelta(days=1))


def window(phrase: str, today: date) -> Window | None:
    """The days ``phrase`` (as the ``when`` extractor writes it) means when said on ``today``; None if unknown."""
    words = phrase.strip().lower().split()
    if not words:
        return None
    clock = words[-1] if _CLOCK.match(words[-1]) else None
    head = " ".join(words[:-1] if clock else words)
    if not head:
        return Window(today, today, clock)  # "at 3am": today, at that time
    if _ISO.match(head):
        try:
            day = date.fromisoformat(head)
        except ValueError:
            return None
        return Window(day, day, clock)
    if head in _DAYS:
        day = _next_weekday(today, _DAYS.index(head))
        return Window(day, day, clock)
    if head in ("today", "tonight"):
        return Window(today, today, clock)
    if head == "tomorrow":
        day = today + timedelta(days=1)
        return Window(day, day, clock)
    if head in ("this weekend", "the weekend"):
        found = _this_weekend(today)
        return Window(found.first, found.last, clock)
    if head == "next weekend":
        saturday = _next_weekday(_this_weekend(today).last, SATURDAY)
        return Window(saturday, saturday + timedelta(days=1), clock)
    if head == "this week":
        return Window(today, today + timedelta(days=SUNDAY - today.weekday()), clock)
    if head == "next week":
        monday = today + timedelta(days=7 - today.weekday())
        return Window(monday, monday + timedelta(days=6), clock)
    return None


def resolve(phrase: str, today: date) -> str:
    """``phrase`` with the dates it means: ``next weekend (Sat 2026-12-12 – Sun 2026-12-13)``.

    A phrase these rules do not know is returned as it was said, never guessed at.
    """
    found = window(phrase, today)
    return f"{phrase} ({found.label()})" if found is not None else phrase
