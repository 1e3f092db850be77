"""Daily session logs: ``docs/sessions/YYYY-MM-DD.md``, appended, never rewritten.

Every plan, revision, refusal, approval and apply adds one entry: readable
markdown for people, preceded by an HTML comment holding the same entry as
JSON so ``homelab history`` and the planner's context read it back exactly.
Entries never carry variable values (a value may be a secret), only names.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SESSIONS_DIR = Path("docs") / "sessions"
_MARK = "<!-- homelab-entry "
_KINDS = ("plan", "revise", "refusal", "approval", "apply", "facts", "schedule")


@dataclass(frozen=True)
class Entry:
    """One thing that happened in a session."""

    time: str  # UTC, ISO 8601
    kind: str  # one of _KINDS
    summary: str
    plan: str | None = None
    intent: str | None = None
    hosts: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # "playbook on N host(s)", variable names only
    decision: str | None = None  # what the person decided (approved, refused, excluded hosts…)
    outcome: dict[str, str] = field(default_factory=dict)  # host -> outcome

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.time.replace("Z", "+00:00"))


#: Longest text shown in an entry's readable lines (the JSON line keeps it whole).
_SHOWN_CHARS = 500
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _shown(text: str) -> str:
    """Text for a readable line: one line, no control characters (an ANSI escape stays out of the terminal
    that shows the log), '<' escaped so neither an entry mark nor HTML can be forged, and capped."""
    flat = " ".join(UNPRINTABLE.sub(" ", text).split())
    if len(flat) > _SHOWN_CHARS:
        flat = flat[:_SHOWN_CHARS] + "…"
    return flat.replace("&", "&amp;").replace("<", "&lt;")


def _markdown(entry: Entry) -> str:
    when = entry.when.strftime("%H:%M:%S")
    head = f"### {when} UTC · {entry.kind}" + (f" · plan {entry.plan}" if entry.plan else "")
    # '--' is escaped so nothing inside can end the comment early.
    lines = [_MARK + json.dumps(asdict(entry), sort_keys=True, ensure_ascii=False).replace("--", "-\\u002d") + " -->",
             head, "", _shown(entry.summary)]
    if entry.intent:
        lines.append(f"- intent: {_shown(entry.intent)}")
    for step in entry.steps:
        lines.append(f"- step: {_shown(step)}")
    if entry.decision:
        lines.append(f"- decision: {_shown(entry.decision)}")
    if entry.outcome:
        lines.append("- outcome: " + _shown(", ".join(f"{h} {o}" for h, o in sorted(entry.outcome.items()))))
    return "\n".join(lines) + "\n\n"


def append(root: Path, entry: Entry) -> Path:
    """Add ``entry`` to its day's log (created with a title); returns the file."""
    if entry.kind not in _KINDS:
        raise ValueError(f"unknown session entry kind {entry.kind!r}")
    directory = root / SESSIONS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    day = entry.when.date().isoformat()
    path = directory / f"{day}.md"
    text = _markdown(entry)
    # O_APPEND: two commands logging at once each add whole entries, never interleaved bytes.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if os.fstat(fd).st_size == 0:
            text = (f"# Session log {day}\n\nWritten by homelab as things happen: plans, decisions, applies. "
                    "Each entry is appended; edit freely above or below them.\n\n") + text
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return path


def _parse(line: str) -> Entry | None:
    body = line.strip()[len(_MARK):-len("-->")].strip()
    try:
        data: dict[str, Any] = json.loads(body)
        return Entry(**{k: v for k, v in data.items() if k in Entry.__dataclass_fields__})
    except (ValueError, TypeError):
        return None  # a hand-edited or damaged entry is skipped, not fatal


def read(root: Path, since: dt.date | None = None, host: str | None = None,
         groups_of: dict[str, list[str]] | None = None) -> list[Entry]:
    """Entries in time order, optionally from ``since`` on and concerning ``host``."""
    directory = root / SESSIONS_DIR
    if not directory.is_dir():
        return []
    entries: list[Entry] = []
    for path in sorted(directory.glob("*.md")):
        try:
            day = dt.date.fromisoformat(path.stem)
        except ValueError:
            continue
        if since and day < since:
            continue
        # Split on newlines only: splitlines() also breaks at U+2028 and friends, which JSON may hold raw.
        for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
            if line.startswith(_MARK):
                entry = _parse(line)
                if entry and (host is None or host in entry.hosts or host in entry.outcome):
                    entries.append(entry)
    return sorted(entries, key=lambda e: e.time)


def steps_of(plan: Any) -> list[str]:
    """A plan's steps as log lines: playbook, hosts and variable *names*."""
    out = []
    for s in plan.steps:
        names = f" (vars: {', '.join(sorted(s.vars))})" if s.vars else ""
        out.append(f"{s.playbook} on {len(s.hosts)} host(s){names}")
    return out


def log_plan(root: Path, plan: Any, kind: str = "plan") -> None:
    """Record a plan that was made (or a revision of one)."""
    hosts = plan.hosts
    summary = f"Plan {plan.id} made by the {plan.planner} planner" + (
        f", revising {plan.parent} without {', '.join(plan.excluded)}" if plan.parent else "") + "."
    append(root, Entry(time=plan.created_at, kind=kind, summary=summary, plan=plan.id, intent=plan.intent,
                       hosts=hosts, steps=steps_of(plan)))


def log_event(root: Path, kind: str, summary: str, plan: Any = None, decision: str | None = None,
              outcome: dict[str, str] | None = None, hosts: Iterable[str] = ()) -> None:
    """Record a refusal, approval, apply or facts run."""
    from planner.plans.planfile import now

    plan_hosts = plan.hosts if plan is not None else []
    append(root, Entry(time=now(), kind=kind, summary=summary, plan=plan.id if plan is not None else None,
                       intent=plan.intent if plan is not None else None,
                       hosts=sorted(set(plan_hosts) | set(hosts) | set(outcome or {})), decision=decision,
                       outcome=dict(outcome or {})))
