"""What the tool remembers about some hosts, within a size budget (the planner's context).

For the hosts a request concerns: the latest session-log entries that touched
them, newest first, and the knowledge-base entries that name them or one of
their groups, each with its counts (days seen, within the recurrence window,
whether it recurs) and its latest occurrences on those hosts (capped). Whole
entries only, so nothing is cut mid-sentence; what did not fit is counted, so
the caller can say so.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from planner.knowledge import kb, sessions

DEFAULT_BUDGET_CHARS = 6000
#: The latest occurrences of a known issue a planner is shown (the counts cover the rest).
RECENT_OCCURRENCES = 5


@dataclass(frozen=True)
class Recall:
    entries: list[dict]
    issues: list[dict]
    used_chars: int
    budget_chars: int
    dropped: int  # entries and issues left out for the budget


def recall(root: Path, hosts: list[str], groups_of: dict[str, list[str]],
           budget_chars: int = DEFAULT_BUDGET_CHARS, today: dt.date | None = None) -> Recall:
    """Session entries and known issues for ``hosts``, newest first, whole, within ``budget_chars``."""
    wanted = set(hosts)
    groups = {g for h in hosts for g in groups_of.get(h, [])}
    today = today or dt.datetime.now(dt.UTC).date()
    count, days = kb.settings(root)
    issue_dicts = []
    for issue in kb.load(root).matching(wanted, groups):
        item = issue.model_dump(mode="json", exclude={"seen", "occurrences"})
        seen = issue.days()
        item["seen_count"] = len(seen)
        item["seen_in_window"] = issue.seen_within(days, today)
        item["window_days"] = days
        item["recurring"] = issue.recurring(today, count, days)
        item["last_seen"] = max(seen).isoformat() if seen else None
        here = [o for o in issue.occurrences if o.host in wanted]
        item["occurrences_on_these_hosts"] = len(here)
        item["recent_occurrences"] = [o.model_dump(mode="json", exclude_none=True)
                                      for o in sorted(here, key=lambda o: o.date, reverse=True)[:RECENT_OCCURRENCES]]
        issue_dicts.append(item)
    entry_dicts = [asdict(e) for e in reversed(sessions.read(root))
                   if wanted & (set(e.hosts) | set(e.outcome))]
    used, dropped = 0, 0
    kept_issues: list[dict[str, Any]] = []
    kept_entries: list[dict[str, Any]] = []
    # Known issues first: they carry the diagnosis; then as many recent entries as fit.
    for bucket, kept in ((issue_dicts, kept_issues), (entry_dicts, kept_entries)):
        for item in bucket:
            size = len(json.dumps(item, ensure_ascii=False))
            if used + size > budget_chars:
                dropped += 1
                continue
            used += size
            kept.append(item)
    return Recall(kept_entries, kept_issues, used, budget_chars, dropped)
