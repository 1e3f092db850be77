"""One host's thread: what was found on it, what was done about it, how it went and who approved each.

``homelab history --host H`` reads it from the two records the tool keeps: the session log (plans,
approvals, refusals, applies, with their times and decisions) and the knowledge base's occurrences (each
diagnosis finding and each fix, with its outcome and approval). An occurrence carries only its day, so it
is placed at the time of its plan's entry in the session log (a diagnosis with the plan that ran it, a fix
with the apply that made it) and, when the log has no such entry, at the start of its day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SESSION_LOG = "session log"
KNOWLEDGE_BASE = "knowledge base"
# At the same time, a plan comes before what it diagnosed, and an apply before the fixes it made.
_ORDER = {"plan": 0, "revise": 0, "diagnosis": 1, "fix": 3}


@dataclass(frozen=True)
class Item:
    """One step of the thread: a session-log entry (its fields kept) or a knowledge-base occurrence."""

    time: str  # ISO 8601 UTC; an occurrence the log cannot place has its day only (YYYY-MM-DD)
    kind: str  # a session entry's kind, or diagnosis | fix
    summary: str
    source: str  # SESSION_LOG | KNOWLEDGE_BASE
    plan: str | None = None
    intent: str | None = None
    hosts: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    decision: str | None = None
    outcome: dict[str, str] = field(default_factory=dict)
    approved_by: str | None = None  # an apply's or a fix's: the approval's decision
    symptom: str | None = None  # a diagnosis's or a fix's finding id
    issue: str | None = None  # the knowledge-base entry it was filed under

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def thread(root: Path, host: str, since: dt.date | None = None) -> list[Item]:
    """The host's thread, oldest first (from ``since`` on)."""
    from planner.knowledge import kb, sessions

    entries = sessions.read(root, host=host)
    approvals: dict[str, str] = {}
    items: list[Item] = []
    placed: dict[tuple[str, str], str] = {}  # (plan, diagnosis|fix) -> the time its log entry gives it
    for e in entries:
        if e.kind == "approval" and e.plan and e.decision:
            approvals[e.plan] = e.decision
        approved = (approvals.get(e.plan or "") or e.decision) if e.kind == "apply" else None
        items.append(Item(time=e.time, kind=e.kind, summary=e.summary, source=SESSION_LOG, plan=e.plan,
                          intent=e.intent, hosts=list(e.hosts), steps=list(e.steps), decision=e.decision,
                          outcome=dict(e.outcome), approved_by=approved))
        if e.plan and e.kind in ("plan", "revise"):
            placed.setdefault((e.plan, "diagnosis"), e.time)
        if e.plan and e.kind == "apply" and host in e.outcome:
            placed[(e.plan, "fix")] = e.time
    for issue in kb.load(root).issues:
        for o in issue.occurrences:
            if o.host != host:
                continue
            is_fix = o.kind == "fix"
            items.append(Item(time=placed.get((o.plan, o.kind), o.date.isoformat()), kind=o.kind,
                              summary=o.summary, source=KNOWLEDGE_BASE, plan=o.plan, hosts=[host],
                              outcome={host: o.outcome} if o.outcome else {},
                              approved_by=(o.approved_by or approvals.get(o.plan)) if is_fix else None,
                              symptom=o.symptom, issue=issue.id))
    if since is not None:
        items = [i for i in items if i.time[:10] >= since.isoformat()]
    return sorted(items, key=lambda i: (_utc(i.time), _ORDER.get(i.kind, 2)))


def _utc(time: str) -> str:
    """A sortable UTC time: a day alone sorts before that day's entries."""
    if len(time) == 10:
        return time
    try:
        return dt.datetime.fromisoformat(time.replace("Z", "+00:00")).astimezone(dt.UTC).isoformat()
    except ValueError:
        return time
