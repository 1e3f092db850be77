"""The incident review as a markdown file: ``docs/rca/YYYY-MM-DD-<slug>.md``, the house format.

Front matter (``status``, ``id``, ``date``, ``hosts``, ``plans``, ``validated_by``, ``validated_at``), a
title, then the sections of :data:`SECTIONS` in that order. Every claim names its evidence: a plan id, a fact
(host · field = value), a session-log line (day, time, kind), a finding id with its evidence. What the data
does not say is a question for the person (``> To confirm: …``), never a guess. Text a host reported is
escaped so it reads as text, whatever markdown or HTML it holds. docs/rca/README.md describes the format.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from planner.knowledge.rca.evidence import Fact, Finding, Fix, Incident, LogLine
from planner.knowledge.rca.evidence import utc as _utc
from planner.knowledge.sessions import UNPRINTABLE

RCA_DIR = Path("docs") / "rca"
SECTIONS = ("Summary", "Impact", "Timeline", "Detection", "Root cause", "Resolution", "Prevention",
            "Follow-ups")
FRONT_KEYS = ("status", "id", "date", "hosts", "plans", "validated_by", "validated_at")
TO_CONFIRM = "> To confirm:"
#: Longest piece of host text quoted in a review.
_QUOTED_CHARS = 400
# Markdown's inline punctuation: escaped, each can only be itself. '<', '>' and '&' become entities.
_MARKUP = re.compile(r"([\\`*_\[\]{}#|~!])")
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto)(:)|\b(www)(\.)")


def inert(value: Any) -> str:
    """Host-reported (or person-typed) text as inert markdown: one line, no control characters, capped, every
    character that could open markup escaped, and no bare link (a linter's MD034, a renderer's autolink)."""
    flat = " ".join(UNPRINTABLE.sub(" ", str(value)).split())
    if len(flat) > _QUOTED_CHARS:
        flat = flat[:_QUOTED_CHARS - 1] + "…"
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _MARKUP.sub(r"\\\1", flat)
    return _AUTOLINK.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"{m[3]}\\{m[4]}", flat)


def code(value: Any) -> str:
    """A name a host reported (a finding id, a report field) as a code span: shown as it is, but one line and
    without the backticks that could close the span early."""
    flat = " ".join(UNPRINTABLE.sub(" ", str(value)).split()).replace("`", "'")[:_QUOTED_CHARS]
    return f"`{flat}`"


def quoted(value: Any) -> str:
    return f"“{inert(value)}”"


def plan_ref(plan: str) -> str:
    return f"plan `{plan}`"


def cite_finding(f: Finding) -> str:
    text = f"finding {code(f.id)} ({inert(f.severity)}) on {inert(f.host)}, {plan_ref(f.plan)}: {quoted(f.summary)}"
    return text + (f"; evidence: {quoted(f.evidence)}" if f.evidence else "")


def cite_fact(f: Fact) -> str:
    return f"fact {inert(f.host)} · {code(f.field)} = {quoted(f.value)} ({plan_ref(f.plan)})"


def when(time: str) -> str:
    """An ISO time as the review shows it: ``YYYY-MM-DD HH:MM:SS UTC``."""
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(time.replace("Z", "+00:00")).astimezone(dt.UTC).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return inert(time)


def cite_log(line: LogLine) -> str:
    return f"session log {line.time[:10]} {line.time[11:19]} UTC · {line.kind}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80].strip("-") or "incident"


def target(root: Path, incident: Incident) -> Path:
    """``docs/rca/<first evidence's day>-<main symptom>-<host>.md``, never an existing file: -2, -3, …"""
    main = incident.main
    base = f"{incident.first_seen.isoformat()}-{slug(f'{main.id}-{main.host}')}"
    directory = root / RCA_DIR
    path, n = directory / f"{base}.md", 1
    while path.exists():
        n += 1
        path = directory / f"{base}-{n}.md"
    return path


# -- rendering ----------------------------------------------------------------------------------------------------

def _fix_sentence(fix: Fix) -> str:
    outcomes = ", ".join(f"{inert(h)} {inert(o)}" for h, o in sorted(fix.outcomes.items())) or "no host outcome"
    return (f"`{fix.playbook}` applied on {', '.join(inert(h) for h in fix.hosts)} by {plan_ref(fix.plan)}, "
            f"apply {inert(fix.status)} at {when(fix.applied_at)} ({outcomes})")


def _confirm(question: str) -> list[str]:
    return ["", f"{TO_CONFIRM} {question}"]


def _summary(inc: Incident) -> list[str]:
    main = inc.main
    lines = [f"On {inc.first_seen}, {plan_ref(main.plan)} (`{main.playbook}`) found {inert(main.severity)} "
             f"{code(main.id)} on {inert(main.host)}: {quoted(main.summary)}."
             + (f" {len(inc.findings) - 1} more finding(s) are listed under Root cause." if len(inc.findings) > 1
                else "")]
    if inc.fixes:
        lines += ["", "Fixed by " + "; then ".join(_fix_sentence(f) for f in inc.fixes) + "."]
    else:
        lines += ["", "No applied fix follows the diagnosis in the plans."]
        lines += _confirm("was it fixed by hand, or is it still open?")
    return lines


def _impact(inc: Incident) -> list[str]:
    lines = [f"- {cite_finding(f)}" for f in inc.findings if f.severity in ("critical", "warning")] or \
            ["- No critical or warning finding: " + "; ".join(cite_finding(f) for f in inc.findings[:3])]
    lines += _confirm("what did people or services notice (which services, how slow or down), and for how long?")
    return lines


def _timeline(inc: Incident) -> list[str]:
    events: list[tuple[str, str]] = [(_utc(p.review.checked_at or p.created_at),
                                      f"{plan_ref(p.id)}'s read steps ran (`"
                                      + "`, `".join(s.playbook for s in p.steps if s.risk == "read") + "`)")
                                     for p in inc.diagnoses]
    for line in inc.log:
        said = quoted(line.summary) + (f", decision {quoted(line.decision)}" if line.decision else "")
        events.append((_utc(line.time), f"session log · {line.kind}" + (f", {plan_ref(line.plan)}" if line.plan else "")
                       + f": {said}"))
    for fix in inc.fixes:
        events.append((_utc(fix.applied_at), f"apply of {plan_ref(fix.plan)} finished: {inert(fix.status)}"))
    ordered = sorted(events, key=lambda e: e[0])
    lines = [f"- {when(t)}: {what}" for t, what in ordered]
    return lines + _confirm("when did it start, before the first evidence above?")


def _detection(inc: Incident) -> list[str]:
    lines = []
    for p in inc.diagnoses:
        lines.append(f"- {plan_ref(p.id)}, made by the {inert(p.planner)} planner at {when(p.created_at)} from the "
                     f"request {quoted(p.intent)}.")
    return lines + _confirm("what made someone ask: an alert, a person's report, a routine check?")


def _root_cause(inc: Incident, known: list[tuple[str, str]]) -> list[str]:
    lines = ["What the diagnosis found:", ""]
    lines += [f"- {cite_finding(f)}" for f in inc.findings]
    facts = [f for f in inc.facts if f.host in {x.host for x in inc.findings}]
    if facts:
        lines += ["", "What the hosts reported beside it:", ""]
        lines += [f"- {cite_fact(f)}" for f in facts]
    if known:
        lines += ["", "The knowledge base's explanation of the same finding on these hosts:", ""]
        lines += [f"- issue `{issue_id}` (docs/knowledge-base.yml): {inert(cause)}" for issue_id, cause in known]
    main = inc.main
    return lines + _confirm(f"why did {code(main.id)} happen on {inert(main.host)}: what started it, and why then?")


def known_causes(root: Path, inc: Incident) -> list[tuple[str, str]]:
    """``(issue id, root cause)`` of the knowledge base's issues that explain a finding on its host."""
    from planner.knowledge import kb

    try:
        base = kb.load(root)
    except Exception:  # noqa: BLE001 - a knowledge base that does not read adds no explanation here
        return []
    out = []
    for f in inc.findings:
        for issue in base.issues:
            if f.id in issue.findings and f.host in issue.affected and issue.root_cause != "not yet known":
                out.append((issue.id, issue.root_cause))
    return list(dict.fromkeys(out))


def _resolution(inc: Incident) -> list[str]:
    if not inc.fixes:
        return ["No change plan was applied to these hosts after the diagnosis."] + \
            _confirm("what was done, by whom, and did it work?")
    lines = []
    for fix in inc.fixes:
        resolves = f", which resolves `{'`, `'.join(fix.resolves)}`" if fix.resolves else ""
        lines.append(f"- {_fix_sentence(fix)}{resolves}.")
        lines += [f"  - {cite_fact(f)}" for f in fix.facts]
    approvals = [line for line in inc.log if line.kind == "approval"]
    lines += [f"- Approved: {cite_log(a)}, {plan_ref(a.plan or '')}: {quoted(a.decision or a.summary)}"
              for a in approvals]
    failed = [h for fix in inc.fixes for h, o in fix.outcomes.items() if o not in ("ok", "changed")]
    if failed:
        lines += _confirm(f"the fix did not finish on {', '.join(inert(h) for h in failed)}: what happened there?")
    return lines + _confirm("is the host healthy again (a later diagnosis, or a person's check)?")


def _prevention(inc: Incident) -> list[str]:
    lines = [f"- Left to the person by the plan: {quoted(m)}" for m in inc.manual]
    return lines + _confirm("what keeps it from coming back (a limit, a reservation, an alert), and who does it?")


def _follow_ups(inc: Incident) -> list[str]:
    lines = [f"- [ ] {quoted(m)}" for m in inc.manual]
    lines.append("- [ ] Answer each “To confirm” above, then `homelab rca validate` this file.")
    return lines


def render(inc: Incident, rca_id: str, known: list[tuple[str, str]] | None = None) -> str:
    """The review's markdown, front matter first (``status: draft``); ``known``: :func:`known_causes`."""
    main = inc.main
    front = ["---", "status: draft", f"id: {rca_id}", f"date: {inc.first_seen.isoformat()}",
             f"hosts: [{', '.join(inc.hosts)}]", f"plans: [{', '.join(inc.plans)}]",
             'validated_by: ""', 'validated_at: ""', "---", ""]
    body = [f"# Incident review: {inert(main.id)} on {inert(main.host)}", ""]
    parts = {"Summary": _summary, "Impact": _impact, "Timeline": _timeline, "Detection": _detection,
             "Root cause": lambda i: _root_cause(i, known or []), "Resolution": _resolution,
             "Prevention": _prevention, "Follow-ups": _follow_ups}
    for name in SECTIONS:
        lines = parts[name](inc)
        while lines and not lines[0]:  # a section with nothing but a question: one blank line, not two
            lines = lines[1:]
        body += [f"## {name}", "", *lines, ""]
    return "\n".join(front + body).rstrip("\n") + "\n"


def write(root: Path, inc: Incident) -> Path:
    """Write the review to a new file (never over one); returns its path."""
    import os

    path = target(root, inc)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(inc, path.stem, known_causes(root, inc))
    # O_EXCL: a review written meanwhile by another command is never overwritten.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
