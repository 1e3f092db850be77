"""The knowledge base: known problems of this homelab, how to tell them and fix them, and when they came back.

Kept in ``docs/knowledge-base.yml`` (the repository's memory of incidents), read by ``homelab docs``
(TROUBLESHOOTING.md), by the planner's context and by ``homelab history``. People write the entries;
the tool adds to them what it learns, through the round-trip writer (comments and layout kept):

- each diagnosis finding of severity critical or warning (a ``health`` finding id, :data:`FINDING_IDS`)
  becomes an ``occurrences:`` item ``{date, host, symptom, kind: diagnosis, plan, summary}`` of the issue
  whose ``findings`` name the symptom and whose ``affected`` names the host or one of its groups;
- each applied fix of a playbook that ``resolves`` such findings, a ``kind: fix`` item with its
  ``outcome`` and who approved it (``approved_by``, the session log's decision);
- a symptom no issue explains gets an issue of its own, ``<finding-id>-<host>``, ``added_by: homelab``,
  whose root cause is "not yet known" until a person writes it.

Recurrence: the same symptom on the same host seen on ``knowledge.recurrence_count`` different days
within ``knowledge.recurrence_days`` (``.homelab/config.yml``; 3 in 30 by default). The dates a person
wrote under an issue's ``seen`` count too, for every host the issue affects.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from planner.errors import HomelabError, did_you_mean
from planner.errors import ValidationError as HomelabValidationError
from planner.knowledge.sessions import UNPRINTABLE

KB_FILE = Path("docs") / "knowledge-base.yml"
#: The finding ids a diagnosis reports (``discovered.health.findings[].id``): an issue's ``findings`` and an
#: occurrence's ``symptom`` are among them.
FINDING_IDS = ("cpu-runaway", "load-high", "memory-low", "swap-heavy", "oom-kills", "disk-full", "inodes-full",
               "iowait-high", "failed-units", "journal-errors",
               # check_address_persistence's (homelab_address.findings[].id): fixes of reserve_addresses count
               "address-moved", "no-reservation", "lease-expired", "dns-mismatch", "not-registered",
               "static-mismatch",
               # audit_monitoring's (homelab_monitoring_audit.findings[].id): fixes of sync_monitors count
               "monitor-missing", "monitor-stale", "monitor-different", "monitor-target-down", "exporter-down",
               "monitoring-down")
#: Only these severities are worth remembering; an ``info`` finding is the review's, not history's.
RECORDED_SEVERITIES = ("critical", "warning")
#: The one value of ``added_by`` the tool writes on an issue it created.
ADDED_BY = "homelab"
#: Plain titles for the issues the tool opens, by finding id.
_TITLES = {"cpu-runaway": "A runaway process keeps the CPU busy", "load-high": "Load far above the cores",
           "memory-low": "Memory runs low", "swap-heavy": "Heavy swapping",
           "oom-kills": "The OOM killer ends processes",
           "disk-full": "A filesystem is nearly full", "inodes-full": "A filesystem runs out of inodes",
           "iowait-high": "The CPU waits on I/O", "failed-units": "Units have failed",
           "journal-errors": "Errors pile up in the journal",
           "address-moved": "A host came back on another address", "no-reservation": "No DHCP reservation",
           "lease-expired": "A DHCP lease expired", "dns-mismatch": "DNS names another address",
           "not-registered": "Not registered in MAAS", "static-mismatch": "A static address differs",
           "monitor-missing": "Something in the inventory is not monitored",
           "monitor-stale": "A monitor watches something no longer there",
           "monitor-different": "A monitor checks something else than the inventory says",
           "monitor-target-down": "A monitor's target is down", "exporter-down": "The node exporter is down",
           "monitoring-down": "The monitoring itself is down"}
_SUMMARY_CHARS = 300


class KnowledgeError(HomelabError):
    """What the tool learnt could not be written into the knowledge base."""


def _finding_id(value: str) -> str:
    if value not in FINDING_IDS:
        raise ValueError(f"{value!r} is not a diagnosis finding id{did_you_mean(value, FINDING_IDS)} "
                         f"(one of {', '.join(FINDING_IDS)})")
    return value


class Occurrence(BaseModel):
    """One time the tool saw a symptom on a host (a diagnosis) or applied a fix for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    host: str = Field(min_length=1)
    symptom: str
    kind: Literal["diagnosis", "fix"]
    plan: str = Field(min_length=1)
    summary: str = ""
    outcome: str | None = None  # a fix's: ok, changed, failed, unreachable, outcome_unknown
    approved_by: str | None = None  # a fix's: the approval's decision in the session log

    @field_validator("symptom")
    @classmethod
    def _known_symptom(cls, value: str) -> str:
        return _finding_id(value)


class RcaRecord(BaseModel):
    """The incident review a person validated, which an issue was written from (``homelab rca validate``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(pattern=r"^docs/rca/[^/]+\.md$")
    date: dt.date  # the incident's first evidence
    plans: list[str] = []
    validated_by: str = Field(min_length=1)
    validated_at: str = Field(min_length=1)


class KnownIssue(BaseModel):
    """One known problem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    symptoms: list[str]
    affected: list[str] = Field(description="host or group names")
    diagnostic_flow: list[str]
    root_cause: str
    resolution: str
    seen: list[dt.date] = []  # dates a person wrote
    when_recurring: str | None = None
    playbooks: list[str] = []
    tags: list[str] = []
    findings: list[str] = []  # the diagnosis finding ids this issue explains
    occurrences: list[Occurrence] = []  # written by the tool
    added_by: Literal["homelab"] | None = None  # the tool opened it; a person may take it over by removing this
    rca: RcaRecord | None = None  # the validated incident review it was written from

    @field_validator("findings")
    @classmethod
    def _known_findings(cls, value: list[str]) -> list[str]:
        return [_finding_id(v) for v in value]

    def days(self) -> set[dt.date]:
        """Every day it was seen: a person's ``seen`` dates and the tool's occurrences, once per day."""
        return set(self.seen) | {o.date for o in self.occurrences}

    def sightings(self, host: str | None = None, symptom: str | None = None, plan: str | None = None,
                  with_person: bool = True) -> list[dt.date]:
        """When it was seen, oldest first: a person's ``seen`` dates, and each time the tool's diagnoses found
        it on a host after it was fixed there (or the first time), once per diagnosis however many of its
        symptoms that diagnosis found. Diagnosing again before any fix is the same problem looked at twice;
        coming back after a fix, even on the same day, is a recurrence; a fix that failed or never reached the
        host fixed nothing. ``host``, ``symptom`` and ``plan`` (left out: the
        diagnosis asking about its own problem) narrow what counts. A person's dates say no host: they count
        for a host only when ``affected`` names it itself (a group's other members were not seen)."""
        found = self.person_sightings(host) if with_person else []
        open_episodes: set[tuple[str, str]] = set()
        counted: set[tuple[str, object]] = set()
        for index, o in enumerate(sorted(self.occurrences, key=lambda o: o.date)):  # stable within a day
            if (host and o.host != host) or (symptom and o.symptom != symptom) or (plan and o.plan == plan):
                continue
            if o.kind == "fix":
                if o.outcome in (None, "changed", "ok"):
                    open_episodes.discard((o.host, o.symptom))
            elif (o.host, o.symptom) not in open_episodes:
                open_episodes.add((o.host, o.symptom))
                # One diagnosis that finds two of the problem's symptoms on a host (a runaway process and the
                # load it makes) saw the problem once.
                if (o.host, o.plan or index) not in counted:
                    counted.add((o.host, o.plan or index))
                    found.append(o.date)
        return sorted(found)

    def person_sightings(self, host: str | None = None) -> list[dt.date]:
        """A person's ``seen`` dates, for ``host`` only when ``affected`` names it (not through a group)."""
        return list(self.seen) if host is None or host in self.affected else []

    def seen_within(self, days: int, today: dt.date) -> int:
        """How many times it was seen in the last ``days`` days (today included)."""
        return sum(1 for d in self.sightings() if 0 <= (today - d).days < days)

    def recurring(self, today: dt.date, count: int, days: int) -> bool:
        """Seen ``count`` times or more within the last ``days`` days."""
        return self.seen_within(days, today) >= count

    def last_occurrence(self) -> Occurrence | None:
        """The latest thing the tool recorded here (a later fix wins over a diagnosis of the same day)."""
        return max(self.occurrences, key=lambda o: (o.date, o.kind == "fix"), default=None)

    def concerns(self, host: str, groups: Iterable[str]) -> bool:
        """Its ``affected`` names the host or one of its groups."""
        return bool(set(self.affected) & ({host} | set(groups)))


class KnowledgeBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issues: list[KnownIssue] = []

    def matching(self, hosts: set[str], groups: set[str], words: frozenset[str] | set[str] = frozenset()
                 ) -> list[KnownIssue]:
        """Entries that concern any of the hosts or groups, or share a tag with ``words``."""
        return [i for i in self.issues
                if set(i.affected) & (hosts | groups) or {t.lower() for t in i.tags} & {w.lower() for w in words}]

    def explaining(self, host: str, groups: Iterable[str], symptom: str) -> list[KnownIssue]:
        """The issues that explain ``symptom`` on ``host``: those naming the host itself first, in file order."""
        found = [i for i in self.issues if symptom in i.findings and i.concerns(host, groups)]
        return sorted(found, key=lambda i: host not in i.affected)


def load(root: Path) -> KnowledgeBase:
    """Read the knowledge base (an absent file is an empty one); errors point at the entry."""
    return _load(root)[0]


def _load(root: Path) -> tuple[KnowledgeBase, Any]:
    from planner import yamlio

    path = root / KB_FILE
    if not path.exists():
        return KnowledgeBase(), None
    from planner.problems import field_problems

    doc = None
    try:
        doc = yamlio.load(path, str(KB_FILE))
        return KnowledgeBase.model_validate(yamlio.plain(doc) or {}), doc
    except yamlio.YamlSyntaxError as err:
        raise HomelabValidationError(f"{KB_FILE} is not valid YAML", "fix the file", details=[str(err)]) from None
    except ValidationError as err:
        details = [f"{fp.where}: {fp.dotted}: {fp.msg}" for fp in field_problems(err, doc, str(KB_FILE))]
        raise HomelabValidationError(f"{KB_FILE} has {len(details)} problem(s)", "fix the entries named",
                                     details=details) from None


# -- recurrence ---------------------------------------------------------------------------------------------------

def settings(root: Path) -> tuple[int, int]:
    """``(recurrence_count, recurrence_days)`` from the project's config."""
    from planner.config import load_config

    knowledge = load_config(root).knowledge
    return knowledge.recurrence_count, knowledge.recurrence_days


def groups_of(root: Path, host: str, inventory: Path | None = None) -> set[str]:
    """The host's groups in ``inventory`` (default: ``$HOMELAB_INVENTORY``, else the project's inventory/);
    none when it cannot be read (then only entries naming the host itself match)."""
    import os

    from planner.inventory.hosts import load_inventory

    chosen = inventory or Path(os.environ.get("HOMELAB_INVENTORY") or root / "inventory")
    try:
        return set(load_inventory(chosen).groups_of(host)) if chosen.exists() else set()
    except (HomelabError, OSError, ValueError):
        return set()


def recurrence(root: Path, host: str, symptom: str, today: dt.date, *, plan: str | None = None,
               groups: Iterable[str] | None = None) -> list[dt.date]:
    """The times ``symptom`` was seen on ``host`` within the recurrence window ending ``today`` (included),
    oldest first: a person's ``seen`` dates of the issues that explain it there, and the tool's sightings on
    that host. A sighting is a diagnosis that found it after it was fixed (or the first one): diagnosing
    again before any fix is the same problem looked at twice, while the problem coming back after a fix,
    even on the same day, is the recurrence a person wants to hear about. ``plan`` leaves out what that
    plan itself recorded (the diagnosis that asks whether it is recurring is not one of the earlier ones)."""
    _, days = settings(root)
    wanted = groups_of(root, host) if groups is None else set(groups)
    issues = load(root).explaining(host, wanted, symptom)
    # A person's date written under two issues that explain the symptom is still one sighting.
    person = {d for issue in issues for d in issue.person_sightings(host)}
    found = [*person, *(d for issue in issues for d in issue.sightings(host, symptom, plan, with_person=False))]
    return sorted(d for d in found if 0 <= (today - d).days < days)


def is_recurring(root: Path, host: str, symptom: str, today: dt.date, *, plan: str | None = None,
                 groups: Iterable[str] | None = None) -> bool:
    """Whether :func:`recurrence` reaches ``knowledge.recurrence_count`` days."""
    count, _ = settings(root)
    return len(recurrence(root, host, symptom, today, plan=plan, groups=groups)) >= count


# -- what the tool learns -------------------------------------------------------------------------------------------

@dataclass
class Learned:
    """What one write added to the knowledge base: a line per occurrence, and the issues opened."""

    added: list[str] = field(default_factory=list)  # "cpu-runaway on k3s-vm-still-fawn → runaway-process-k3s-vm"
    opened: list[str] = field(default_factory=list)  # ids of issues the tool created
    path: Path | None = None


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _text(value: Any) -> str:
    # A finding's summary comes from the host: one line, no control characters, capped.
    flat = " ".join(UNPRINTABLE.sub(" ", str(value or "")).split())
    return flat if len(flat) <= _SUMMARY_CHARS else flat[:_SUMMARY_CHARS - 1] + "…"


def _date(when: dt.date | dt.datetime | str | None) -> dt.date:
    """The day of ``when`` in UTC; today for none, or for a time a host reported that cannot be read."""
    if isinstance(when, str):
        try:
            when = (dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if "T" in when
                    else dt.date.fromisoformat(when))
        except ValueError:
            when = None
    if when is None:
        return dt.datetime.now(dt.UTC).date()
    if isinstance(when, dt.datetime):
        return (when.astimezone(dt.UTC) if when.tzinfo else when).date()
    return when


def record_diagnosis(root: Path, host: str, findings: list[Any] | tuple[Any, ...], plan_id: str,
                     when: dt.date | dt.datetime | str | None = None, *,
                     groups: Iterable[str] | None = None) -> Learned:
    """Record what a diagnosis of ``host`` found (``discovered.health.findings``: mappings or objects with
    ``id``, ``severity``, ``summary``): one occurrence per critical or warning finding. The caller holds the
    inventory's apply lock (:class:`planner.knowledge.loop.Recorder` does)."""
    day = _date(when)
    new = []
    for finding in findings if isinstance(findings, list | tuple) else []:
        symptom, severity = _get(finding, "id"), _get(finding, "severity")
        if symptom in FINDING_IDS and severity in RECORDED_SEVERITIES:
            new.append(Occurrence(date=day, host=host, symptom=symptom, kind="diagnosis", plan=plan_id,
                                  summary=_text(_get(finding, "summary"))))
    return _add(root, host, groups, new)


def record_fix(root: Path, host: str, symptoms: Iterable[str], plan_id: str, outcome: str,
               approved_by: str | None, when: dt.date | dt.datetime | str | None = None, *,
               summary: str = "", groups: Iterable[str] | None = None) -> Learned:
    """Record that a fix for ``symptoms`` (finding ids) was applied to ``host``, how it went and who approved
    it. The caller holds the inventory's apply lock."""
    day = _date(when)
    new = [Occurrence(date=day, host=host, symptom=s, kind="fix", plan=plan_id, summary=_text(summary),
                      outcome=outcome, approved_by=_text(approved_by) or None)
           for s in dict.fromkeys(symptoms) if s in FINDING_IDS]
    return _add(root, host, groups, new)


def _new_issue(taken: set[str], occurrence: Occurrence) -> dict[str, Any]:
    base = re.sub(r"[^a-z0-9-]+", "-", f"{occurrence.symptom}-{occurrence.host}".lower()).strip("-")
    issue_id, n = base, 1
    while issue_id in taken:
        n += 1
        issue_id = f"{base}-{n}"
    summary = occurrence.summary or _TITLES[occurrence.symptom]
    return {"id": issue_id, "title": f"{_TITLES[occurrence.symptom]} on {occurrence.host}",
            "symptoms": [summary], "affected": [occurrence.host],
            "diagnostic_flow": [f"Diagnose the host again, read-only: `homelab plan --playbook diagnose_host --limit "
                                f"{occurrence.host}`; each finding names its runbook step in PROCEDURES.md."],
            "root_cause": "not yet known", "resolution": "not yet known", "playbooks": ["diagnose_host"],
            "tags": [occurrence.symptom], "findings": [occurrence.symptom], "added_by": ADDED_BY}


def _add(root: Path, host: str, groups: Iterable[str] | None, new: list[Occurrence]) -> Learned:
    """Append ``new`` to the issues that explain them (opening one where none does), in one atomic write."""
    from planner.yamlio.files import edit_file
    from planner.yamlio.text import YamlEditError

    learned = Learned()
    if not new:
        return learned
    base, doc = _load(root)
    wanted = groups_of(root, host) if groups is None else set(groups)
    issues = list(base.issues)
    # None: the item has no occurrences key yet (it is added); else how many items its list holds.
    lengths = [len(i.occurrences) if _has_key(doc, n, "occurrences") else None for n, i in enumerate(issues)]
    edits: list[tuple[tuple, Any]] = []
    for occ in new:
        if any(o.plan == occ.plan and o.host == occ.host and o.symptom == occ.symptom and o.kind == occ.kind
               for i in issues for o in i.occurrences):
            continue  # already recorded: the same plan, host and symptom is one occurrence, however often called
        item = occ.model_dump(mode="python", exclude_none=True)
        explaining = KnowledgeBase(issues=issues).explaining(host, wanted, occ.symptom)
        if explaining:
            at = issues.index(explaining[0])
            if lengths[at] is None:
                edits.append((("issues", at, "occurrences"), [item]))
            else:
                edits.append((("issues", at, "occurrences", lengths[at]), item))
            lengths[at] = (lengths[at] or 0) + 1
            issues[at] = issues[at].model_copy(update={"occurrences": [*issues[at].occurrences, occ]})
            learned.added.append(f"{occ.symptom} on {host} → {issues[at].id}")
            continue
        opened = {**_new_issue({i.id for i in issues}, occ), "occurrences": [item]}
        listed = bool(issues) or _has_issues(doc)
        edits.append((("issues", len(issues)), opened) if listed else (("issues",), [opened]))
        issues.append(KnownIssue.model_validate(opened))
        lengths.append(1)
        learned.opened.append(opened["id"])
        learned.added.append(f"{occ.symptom} on {host} → {opened['id']} (new)")
    if not edits:
        return learned
    path = root / KB_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        edit_file(path, edits, header=_HEADER)
    except (YamlEditError, OSError) as err:
        raise KnowledgeError(f"{KB_FILE}: what was learnt could not be written: {err}",
                             "fix the file (homelab docs reads it too); the next diagnosis records it again") from None
    learned.path = path
    return learned


def record_rca(root: Path, issue: Mapping[str, Any]) -> str:
    """Add the known issue a validated incident review gives (``rca: {path, …}`` set), its id made unique;
    returns the id. A review already recorded (the same ``rca.path``) is not added twice."""
    from planner.yamlio.files import edit_file
    from planner.yamlio.text import YamlEditError

    base, doc = _load(root)
    path = issue["rca"]["path"]
    done = next((i.id for i in base.issues if i.rca is not None and i.rca.path == path), None)
    if done is not None:
        return done
    taken, issue_id, n = {i.id for i in base.issues}, str(issue["id"]), 1
    while issue_id in taken:
        n += 1
        issue_id = f"{issue['id']}-{n}"
    item = {**issue, "id": issue_id}
    try:
        KnownIssue.model_validate(item)  # refused here, before anything is written
    except ValidationError as err:
        raise KnowledgeError(f"the incident review does not make a valid known issue: {err.errors()[0]['msg']}",
                             "fix the review's front matter and sections, then validate it again") from None
    listed = bool(base.issues) or _has_issues(doc)
    try:
        (root / KB_FILE).parent.mkdir(parents=True, exist_ok=True)
        edit_file(root / KB_FILE, [(("issues", len(base.issues)), item) if listed else (("issues",), [item])],
                  header=_HEADER)
    except (YamlEditError, OSError) as err:
        raise KnowledgeError(f"{KB_FILE}: the incident review could not be recorded: {err}",
                             "fix the file, then validate the review again") from None
    return issue_id


def _has_key(doc: Any, n: int, key: str) -> bool:
    """Whether issue ``n`` as written has ``key`` (so an empty ``occurrences: []`` is appended to, not replaced)."""
    try:
        return key in doc["issues"][n]
    except (KeyError, IndexError, TypeError):
        return False


def _has_issues(doc: Any) -> bool:
    return isinstance(doc, Mapping) and isinstance(doc.get("issues"), list)


_HEADER = ("Known problems of this homelab: how they show, how to tell them apart, what fixed them and when "
           "they were seen.\nKept by hand; the tool appends occurrences and opens issues it cannot match.")
