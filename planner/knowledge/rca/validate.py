"""``homelab rca validate FILE``: the person's word on an incident review, and what the homelab learns from it.

The file must parse (front matter, every section of :data:`SECTIONS` present and not empty) and be a draft.
Then the knowledge base gains the known issue it describes (symptom, cause, resolution, the review's path,
date and plans: :func:`planner.knowledge.kb.record_rca`), the front matter says ``status: validated``, who
and when, and TROUBLESHOOTING.md and PROCEDURES.md are regenerated with it. A refused file is left as it was.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import ExitCode, HomelabError, ValidationError
from planner.knowledge.rca.document import FRONT_KEYS, RCA_DIR, SECTIONS, TO_CONFIRM

_FRONT_LINE = re.compile(r"^(?P<key>[a-z_]+):\s*(?P<value>.*?)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TEXT_CHARS = 1500


class AlreadyValidatedError(HomelabError):
    """The review was validated before: validating it again would record its issue twice."""

    exit_code = ExitCode.REFUSED


@dataclass(frozen=True)
class Review:
    """An incident review as read from its file."""

    path: Path
    text: str
    front: dict[str, Any]
    title: str
    sections: dict[str, str]  # name -> body text
    questions: int = 0  # "> To confirm:" lines left

    @property
    def status(self) -> str:
        return str(self.front.get("status", ""))


@dataclass
class Validated:
    """What validating did: the issue recorded and the docs regenerated."""

    path: Path
    issue: str
    validated_by: str
    validated_at: str
    docs: list[str] = field(default_factory=list)
    docs_problem: str | None = None
    questions: int = 0


def _value(raw: str) -> Any:
    if raw.startswith("[") and raw.endswith("]"):
        return [v.strip() for v in raw[1:-1].split(",") if v.strip()]
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    return raw


def parse(path: Path) -> Review:
    """Read a review; every problem found is one detail of a :class:`ValidationError` (exit 2)."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValidationError(f"{shown} cannot be read: {err}", "give the path of a review under docs/rca/") from None
    lines = text.split("\n")
    problems: list[str] = []
    front: dict[str, Any] = {}
    end = lines.index("---", 1) if lines and lines[0] == "---" and "---" in lines[1:] else None
    if end is None:
        problems.append(f"{shown}:1: no front matter (a '---' line, the keys, then '---')")
        end = -1
    for n, line in enumerate(lines[1:end], start=2):
        match = _FRONT_LINE.match(line)
        if not match:
            problems.append(f"{shown}:{n}: front matter line {line!r} is not 'key: value'")
            continue
        front[match["key"]] = _value(match["value"])
    missing_keys = [k for k in FRONT_KEYS if k not in front] if end != -1 else []
    problems += [f"{shown}: front matter has no {k!r}" for k in missing_keys]
    if front.get("status") not in (None, "draft", "validated"):
        problems.append(f"{shown}: status is {front['status']!r}; a review is 'draft' or 'validated'")
    title, current, fenced = "", None, False
    found: dict[str, list[str]] = {}
    for line in lines[end + 1:]:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading and len(heading[1]) == 1 and not title:
            title = heading[2]
        elif heading and len(heading[1]) == 2:
            current = heading[2]
            found.setdefault(current, [])
        elif current is not None:
            found[current].append(line)
    sections = {name: "\n".join(body).strip() for name, body in found.items()}
    for name in SECTIONS:
        if name not in sections:
            problems.append(f"{shown}: section '## {name}' is missing")
        elif not sections[name]:
            problems.append(f"{shown}: section '## {name}' is empty")
    if problems:
        raise ValidationError(f"{shown} is not a complete incident review ({len(problems)} problem(s))",
                              "write each section named (docs/rca/README.md has the format), then validate again",
                              details=problems)
    return Review(path, text, front, title, sections, sum(line.startswith(TO_CONFIRM) for line in lines))


def _person(root: Path) -> str:
    """Who validates: git's user.name for the project, else the login name."""
    import getpass
    import subprocess

    try:
        name = subprocess.run(["git", "-C", str(root), "config", "user.name"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = ""
    return name or os.environ.get("USER") or getpass.getuser()


def _paragraphs(body: str) -> list[str]:
    """A section's text as plain paragraphs and list items, the open questions left out."""
    out: list[str] = []
    block: list[str] = []
    for line in [*body.split("\n"), ""]:
        stripped = line.strip()
        item = re.match(r"^[-*]\s+(\[[ xX]\]\s+)?|^\d+\.\s+", stripped)
        if not stripped or stripped.startswith(TO_CONFIRM) or item:
            if block:
                out.append(" ".join(block))
            block = [stripped[item.end():]] if item else []
            continue
        block.append(stripped)
    return [p[:_TEXT_CHARS] for p in out if p]


def _one(body: str) -> str:
    text = " ".join(_paragraphs(body))
    return text if len(text) <= _TEXT_CHARS else text[:_TEXT_CHARS - 1] + "…"


def issue_of(review: Review, root: Path, who: str, when: str) -> dict[str, Any]:
    """The knowledge base's issue entry for a review."""
    rel = review.path.resolve().relative_to(root.resolve()).as_posix()
    hosts = [h for h in review.front.get("hosts") or [] if h]
    plans = [p for p in review.front.get("plans") or [] if p]
    summary = _paragraphs(review.sections["Summary"])
    title = re.sub(r"^Incident review:\s*", "", review.title).strip() or review.path.stem
    return {"id": re.sub(r"[^a-z0-9-]+", "-", f"rca-{review.path.stem}".lower()).strip("-"),
            "title": title, "symptoms": summary[:1] or [title], "affected": hosts or ["all"],
            "diagnostic_flow": _paragraphs(review.sections["Detection"]) or [_one(review.sections["Detection"])],
            "root_cause": _one(review.sections["Root cause"]) or "not yet known",
            "resolution": _one(review.sections["Resolution"]) or "not yet known",
            "playbooks": _playbooks(root, plans), "tags": ["rca"],
            "rca": {"path": rel, "date": _day(review.front.get("date")), "plans": plans,
                    "validated_by": who, "validated_at": when}}


def _day(value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"the review's date {value!r} is not a day", "write it as YYYY-MM-DD") from None


def _playbooks(root: Path, plans: list[str]) -> list[str]:
    """The catalog playbooks the review's plans ran (those whose plan files this checkout still has)."""
    from planner.paths import state_dir
    from planner.plans import planfile

    found = [p for p in planfile.list_plans(state_dir(root)) if p.id in set(plans)]
    return list(dict.fromkeys(s.playbook for p in found for s in p.steps))


def _flip(review: Review, who: str, when: str) -> str:
    def set_key(text: str, key: str, value: str) -> str:
        return re.sub(rf"(?m)^{key}:.*$", lambda _: f"{key}: {value}", text, count=1)

    head, sep, rest = review.text.partition("\n---\n")
    quoted = '"' + who.replace("\\", "\\\\").replace('"', '\\"') + '"'
    for key, value in (("status", "validated"), ("validated_by", quoted), ("validated_at", when)):
        head = set_key(head, key, value)
    return head + sep + rest


def validate(ws: Any, path: Path, now: dt.datetime | None = None) -> Validated:
    """Validate the review at ``path``: refused (the file untouched) unless complete and a draft."""
    from planner.knowledge import docsgen, kb
    from planner.knowledge.loop import INCIDENT_REVIEW, recording

    review = parse(path)
    if review.status == "validated":
        raise AlreadyValidatedError(f"{path} was validated already (by {review.front.get('validated_by') or '?'} "
                                    f"at {review.front.get('validated_at') or '?'})",
                                    "its known issue is in docs/knowledge-base.yml; write a new review with "
                                    "`homelab rca PLAN_ID` for a new incident")
    if not review.path.resolve().is_relative_to((ws.root / RCA_DIR).resolve()):
        raise ValidationError(f"{path} is not under {RCA_DIR}/", f"reviews live in {RCA_DIR}/ (homelab rca writes "
                              "them there), so the docs can link them")
    who = _person(ws.root)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0).isoformat()
    entry = issue_of(review, ws.root, who, when)
    done = Validated(path, "", who, when, questions=review.questions)
    with recording(ws, on_docs=lambda update: _docs(done, update)) as recorder:
        done.issue = kb.record_rca(ws.root, entry)
        # Written as the docs are (temp file + rename): a reader never sees half a review.
        docsgen.write(ws.root, {path.resolve().relative_to(ws.root.resolve()).as_posix(): _flip(review, who, when)})
        recorder.wrote(INCIDENT_REVIEW)
    return done


def _docs(done: Validated, update: Any) -> None:
    done.docs = list(update.changed)
    done.docs_problem = update.problem.message if update.problem is not None else None
