"""What an incident review may cite: the findings of diagnosis plans, the fixes applied after them, the log.

Any read step's report is a diagnosis when a section of it carries ``findings: [{id, severity, summary,
evidence}]`` (diagnose_host's ``homelab_health`` does; so may any read playbook's report): the review reads
findings through that one shape, keyed by finding id and evidence, never by playbook name. A fix is a change
step applied after the diagnosis on one of its hosts, in the diagnosis's own plan (the step it proposed) or a
later plan whose playbook ``resolves`` one of the finding ids. Everything here is plain data taken from the
plan files and the session log, with secrets dropped as the context pack drops them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import HomelabError

#: How long after the last diagnosis a later plan's apply still counts as its fix.
FOLLOW_DAYS = 7
#: Facts cited per host and report section: the review points at evidence, it does not copy the report.
MAX_FACTS = 12
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


class RcaInputError(HomelabError):
    """The plans or dates asked for give nothing to review (exit 2: nothing was written)."""


@dataclass(frozen=True)
class Finding:
    """One finding of a read step, as its host reported it."""

    plan: str
    host: str
    id: str
    severity: str
    summary: str
    evidence: str
    section: str  # the report key it was under (homelab_health, …)
    playbook: str
    time: str  # the plan's check time (its read steps ran then)


@dataclass(frozen=True)
class Fact:
    """One value a host reported: host, field (a dotted path in its report) and value."""

    plan: str
    host: str
    field: str
    value: str


@dataclass(frozen=True)
class Fix:
    """One change step of a plan, applied after the diagnosis, on the incident's hosts."""

    plan: str
    playbook: str
    hosts: list[str]
    resolves: list[str]
    applied_at: str  # the apply record's finish (or start) time
    status: str  # the apply record's status
    outcomes: dict[str, str]  # host -> outcome
    facts: list[Fact] = field(default_factory=list)  # what the apply's report tasks said


@dataclass(frozen=True)
class LogLine:
    """One session-log entry cited: its day and time, kind, plan and words."""

    time: str
    kind: str
    plan: str | None
    summary: str
    decision: str | None


@dataclass(frozen=True)
class Incident:
    """Everything one review is written from."""

    diagnoses: list[Any]  # the diagnosis plans, oldest first
    findings: list[Finding]
    facts: list[Fact]
    fixes: list[Fix]
    log: list[LogLine]
    manual: list[str]  # checklist items of the plans: work the tool left to the person

    @property
    def hosts(self) -> list[str]:
        return sorted({f.host for f in self.findings})

    @property
    def plans(self) -> list[str]:
        return list(dict.fromkeys([p.id for p in self.diagnoses] + [f.plan for f in self.fixes]))

    @property
    def main(self) -> Finding:
        """The worst finding, the first one seen among equals: what the review is named after."""
        return min(self.findings, key=lambda f: (_SEVERITY_RANK.get(f.severity, 3), f.time))

    @property
    def first_seen(self) -> dt.date:
        return dt.date.fromisoformat(min(f.time for f in self.findings)[:10])


# -- the one interface to a read step's findings --------------------------------------------------------------

def _scrubbed(value: Any) -> Any:
    from planner.planning.context import scrub

    return scrub(value)


def sections(report: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """The sections of a report task's message that carry findings: ``(key, section)``."""
    if not isinstance(report, Mapping):
        return
    if isinstance(report.get("findings"), list):
        yield "report", report
    for key, value in report.items():
        if isinstance(value, Mapping) and isinstance(value.get("findings"), list):
            yield str(key), value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def findings_of(plan: Any) -> list[Finding]:
    """Every finding the plan's read steps reported, per host, worst first within a host."""
    time = plan.review.checked_at or plan.created_at
    out: list[Finding] = []
    for review in plan.review.steps:
        step = plan.steps[review.step] if review.step < len(plan.steps) else None
        if step is None or step.risk != "read":
            continue
        for task in review.tasks:
            for key, section in sections(_scrubbed(task.report)):
                for item in section["findings"]:
                    if isinstance(item, Mapping) and isinstance(item.get("id"), str) and item["id"]:
                        out.append(Finding(plan.id, task.host, item["id"], _text(item.get("severity")) or "info",
                                           _text(item.get("summary")), _text(item.get("evidence")), key,
                                           review.playbook, time))
    return sorted(out, key=lambda f: (f.host, _SEVERITY_RANK.get(f.severity, 3)))


def flatten(value: Any, prefix: str, limit: int = MAX_FACTS) -> list[tuple[str, str]]:
    """A report's scalar values as ``(dotted.field, value)``, at most ``limit``, in the report's order."""
    out: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(node, Mapping):
            for key, child in node.items():
                if key != "findings":  # cited as findings, with their evidence
                    walk(child, f"{path}.{key}")
        elif isinstance(node, list):
            for n, child in enumerate(node):
                walk(child, f"{path}[{n}]")
        elif node not in (None, "", [], {}):
            out.append((path, str(node)))

    walk(value, prefix)
    return out


def facts_of(plan: Any, hosts: set[str]) -> list[Fact]:
    """What the read steps' reports said about ``hosts``, beside the findings: pids, units, counts."""
    out: list[Fact] = []
    for review in plan.review.steps:
        for task in review.tasks:
            if task.host not in hosts:
                continue
            for key, section in sections(_scrubbed(task.report)):
                out += [Fact(plan.id, task.host, name, value) for name, value in flatten(section, key)]
    return out


# -- gathering an incident ------------------------------------------------------------------------------------

def _plans(state: Path) -> list[Any]:
    from planner.plans import planfile

    return planfile.list_plans(state)


def _resolves(root: Path, playbook: str) -> list[str]:
    from planner.knowledge.loop import resolved_findings

    return resolved_findings(root, playbook, known_only=False)


def _fixes(root: Path, diagnoses: list[Any], found: list[Finding], candidates: list[Any]) -> list[Fix]:
    hosts = {f.host for f in found}
    ids = {f.id for f in found}
    start = min(p.created_at for p in diagnoses)
    last = max(dt.datetime.fromisoformat(p.created_at) for p in diagnoses)
    until = (last + dt.timedelta(days=FOLLOW_DAYS)).isoformat()
    diagnosis_ids = {p.id for p in diagnoses}
    out: list[Fix] = []
    for plan in candidates:
        if not plan.applies or not (start <= plan.created_at <= until):
            continue
        record = plan.applies[-1]
        for n, step in enumerate(plan.steps):
            resolves = _resolves(root, step.playbook)
            on = sorted(set(step.hosts) & hosts)
            if step.risk != "change" or not on or not (plan.id in diagnosis_ids or ids & set(resolves)):
                continue
            ran = next((s for s in record.steps if s.step == n), None)
            outcomes = {h: record.hosts[h].outcome for h in on if h in record.hosts}
            facts = [Fact(plan.id, t.host, name, value) for t in (ran.tasks if ran else []) if t.host in on
                     for key, value_ in _report_items(t.report) for name, value in flatten(value_, key)]
            out.append(Fix(plan.id, step.playbook, on, [r for r in resolves if r in ids],
                           record.finished_at or record.started_at, record.status, outcomes, facts))
    return out


def _report_items(report: Any) -> list[tuple[str, Any]]:
    """An apply's report task message, section by section (secrets dropped)."""
    clean = _scrubbed(report)
    return [(str(k), v) for k, v in clean.items()] if isinstance(clean, Mapping) else []


def _log(root: Path, plans: set[str], hosts: set[str], start: str, end: str) -> list[LogLine]:
    from planner.knowledge import sessions

    lines = []
    for e in sessions.read(root, since=dt.date.fromisoformat(start[:10])):
        ours = e.plan in plans or (e.kind == "facts" and hosts & (set(e.hosts) | set(e.outcome)))
        if ours and utc(e.time) <= end:
            lines.append(LogLine(e.time, e.kind, e.plan, e.summary, e.decision))
    return lines


def utc(time: str) -> str:
    """An ISO time in UTC, so times written with other offsets sort together."""
    return dt.datetime.fromisoformat(time.replace("Z", "+00:00")).astimezone(dt.UTC).isoformat()


def incident(root: Path, state: Path, diagnoses: list[Any], host: str | None = None) -> Incident:
    """The incident the diagnosis plans found (on ``host`` alone when given): their findings and facts, the
    fixes after them, the log."""
    found = [f for p in diagnoses for f in findings_of(p) if host is None or f.host == host]
    hosts = {f.host for f in found}
    facts = [fact for p in diagnoses for fact in facts_of(p, hosts)]
    fixes = _fixes(root, diagnoses, found, _plans(state))
    plan_ids = {p.id for p in diagnoses} | {f.plan for f in fixes}
    times = [utc(p.created_at) for p in diagnoses] + [utc(f.applied_at) for f in fixes]
    end = (dt.datetime.fromisoformat(max(times)) + dt.timedelta(minutes=5)).isoformat()
    manual = list(dict.fromkeys(m.title for p in diagnoses for m in p.manual))
    return Incident(diagnoses, found, facts, fixes, _log(root, plan_ids, hosts, min(times), end), manual)


def from_plan(root: Path, state: Path, ref: str) -> Incident:
    """The incident of one diagnosis plan (``PLAN_ID``); refused when it has no read step or no findings."""
    from planner.plans import planfile

    plan = planfile.load(state, ref, verify=False)
    if not any(s.risk == "read" for s in plan.steps):
        raise RcaInputError(f"plan {plan.id} has no read step ({', '.join(s.playbook for s in plan.steps)}): "
                            "an incident review starts from a diagnosis",
                            "give the plan of the diagnosis (homelab plans lists them), e.g. one made by "
                            '`homelab plan "why is HOST slow"`')
    if not findings_of(plan):
        raise RcaInputError(f"plan {plan.id}'s read steps reported no findings: nothing to review",
                            "an incident review needs a diagnosis that found something; homelab show "
                            f"{plan.id} shows what it reported")
    return incident(root, state, [plan])


def parse_since(value: str, today: dt.date) -> dt.date:
    """``--since DATE``: a day (YYYY-MM-DD) not after ``today``."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise RcaInputError(f"--since {value!r} is not a date", "write it as YYYY-MM-DD, e.g. "
                            f"--since {today.isoformat()}") from None
    if day > today:
        raise RcaInputError(f"--since {day} is in the future (today is {today})",
                            "give the day the incident started, today or earlier")
    return day


def since(root: Path, state: Path, day: dt.date, host: str | None = None) -> Incident:
    """The incident of every diagnosis plan from ``day`` on (on ``host`` when given) that found something."""
    chosen = [p for p in _plans(state) if utc(p.created_at)[:10] >= day.isoformat()
              and any(s.risk == "read" for s in p.steps)
              and any(host is None or f.host == host for f in findings_of(p))]
    if not chosen:
        where = f" on {host}" if host else ""
        raise RcaInputError(f"no diagnosis found anything{where} since {day}",
                            "give an earlier --since, another --host, or a plan id (homelab plans lists them)")
    return incident(root, state, chosen, host)
