"""The plan file: versioned JSON, sealed, one per plan under ``.homelab/plans/``.

A plan is applyable only with the inputs it was reviewed against. The file
holds the intent, who made it, the validated steps, the person's manual
checklist, the check-mode review and the digests of every input. Everything
the person reviewed is sealed with an HMAC keyed by a per-checkout secret
(``.homelab/plan.key``), so a plan edited by hand is detected; apply records
are appended outside the seal. Files of a ``format_version`` this code does
not know are refused, never guessed at.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from planner.errors import ExitCode, HomelabError
from planner.paths import private_file

#: 2: a plan carries the snapshot of its inputs and the ANSIBLE_* variables seen at review.
FORMAT_VERSION: Literal[2] = 2
_SEALED_EXCLUDE = {"seal", "status", "applies"}


class PlanFileError(HomelabError):
    """A plan file is missing, unreadable, of an unknown version or tampered with."""

    exit_code = ExitCode.REFUSED


class NoPlansError(PlanFileError):
    """``latest`` asked for before any plan was made: nothing to refuse, so bad input (exit 2), not exit 4."""

    exit_code = ExitCode.USAGE


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_Model):
    """One catalog playbook with its targets and validated variables."""

    playbook: str
    limit: str
    vars: dict[str, Any] = {}
    rationale: str = ""
    risk: Literal["read", "change"]
    hosts: list[str]


class ManualItem(_Model):
    """Work for the person; never executed by the tool."""

    title: str
    reason: str
    rule: str | None = None


class OpenQuestion(_Model):
    """Something the request left open, and the assumption the plan took instead of asking."""

    question: str
    assumption: str


class Refusal(_Model):
    """Why no step was planned, and the catalog entries that came closest."""

    reason: str
    closest: list[str] = []


class Usage(_Model):
    """What drafting cost, where the provider says: tokens, and money where litellm knows the price."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    attempts: int = 1


class Diff(_Model):
    """One diff as Ansible reported it: before/after with headers, or a prepared text."""

    before_header: str | None = None
    after_header: str | None = None
    before: str | None = None
    after: str | None = None
    prepared: str | None = None


TaskStatus = Literal["ok", "changed", "skipped", "failed", "unreachable", "unknown"]


class TaskResult(_Model):
    """What one task reported (or could not report) for one host."""

    host: str
    task: str
    action: str = ""
    role: str | None = None
    status: TaskStatus
    diffs: list[Diff] = []
    ran_for_real: bool = False
    unknown_reason: str | None = None
    msg: str | None = None
    report: Any = None  # what a read-only report task (debug) said, shown as a finding


class HostSummary(_Model):
    """Counts for one host in one step."""

    ok: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0
    unknown: int = 0
    unreachable: bool = False


class StepReview(_Model):
    """The check run of one step (for a read step, its real run)."""

    step: int
    playbook: str
    check: bool
    status: str
    rc: int | None
    hosts: dict[str, HostSummary] = {}
    tasks: list[TaskResult] = []
    error: str | None = None


class Review(_Model):
    """The check-mode review of a plan."""

    checked_at: str | None = None
    skipped: bool = False
    steps: list[StepReview] = []
    #: The documents its read steps reported, filed under docs/ (never plan inputs), project-relative.
    documents: list[str] = []


class SnapshotFile(_Model):
    """One file of a snapshot: the object holding its bytes, its executable bit, and where it came from."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    executable: bool = False
    source: str  # the display path it was read from, as in Inputs.files


class Snapshot(_Model):
    """The files a plan's runs read, as a manifest of content-addressed objects under ``.homelab/objects/``.

    Keys are paths inside the snapshot's project directory (``ansible.cfg``, ``playbooks/…``, ``roles/…``,
    ``collections/…``, ``inventory/…``); ``id`` is the sha256 of the manifest itself.
    """

    id: str
    inventory: str  # what is passed with -i, relative to the project directory
    files: dict[str, SnapshotFile]


class Inputs(_Model):
    """What the run depends on: file digests, versions, the snapshot it runs from, the caller's ANSIBLE_*."""

    inventory: str
    files: dict[str, str]
    versions: dict[str, str]
    snapshot: Snapshot
    environment: dict[str, str] = {}  # ANSIBLE_* seen at review: value, or sha256:<digest> when secret


class HostOutcome(_Model):
    """How one host fared in an apply."""

    outcome: Literal["ok", "changed", "failed", "unreachable", "outcome_unknown"]
    changed: int = 0
    failed: int = 0
    duration_s: float | None = None


class Surprise(_Model):
    """One task result of an apply that the review did not show (see ``planner.plans.surprises``).

    ``kind`` is ``changed`` (the review said ok or skipped), ``failed`` (failed or unreachable where the
    review expected it to work), ``not_in_review`` (the review never had this task for this host), or
    ``did_not_happen`` (a change the review showed that the apply did not make: information, not a surprise).
    """

    kind: Literal["changed", "failed", "not_in_review", "did_not_happen"]
    step: int
    playbook: str
    host: str
    task: str
    role: str | None = None
    reviewed: TaskStatus | None
    applied: TaskStatus | None
    reason: str


class ApplyRecord(_Model):
    """One apply of the plan."""

    started_at: str
    finished_at: str | None = None
    status: Literal["running", "succeeded", "hosts_failed", "interrupted", "outcome_unknown"]
    rc: int | None = None
    steps: list[StepReview] = []
    hosts: dict[str, HostOutcome] = {}
    #: What the hosts did that the review did not show; ``surprise_count`` is its length, for scripts.
    surprises: list[Surprise] = []
    surprise_count: int = 0
    #: Changes the review showed that did not happen (information only).
    did_not_happen: list[Surprise] = []
    #: The bound on the whole apply (``homelab apply --timeout``), and whether the run passed it and was stopped.
    timeout_s: int | None = None
    timed_out: bool = False


class Plan(_Model):
    """A plan document; see the module docstring for its invariants."""

    format_version: Literal[2] = FORMAT_VERSION
    id: str
    created_at: str
    intent: str
    planner: str
    model: str | None = None  # the LLM that drafted it; None for the offline planner and named steps
    usage: Usage | None = None
    explanation: str = ""
    questions: list[OpenQuestion] = []
    refusal: Refusal | None = None
    parent: str | None = None
    excluded: list[str] = []
    steps: list[Step]
    manual: list[ManualItem] = []
    review: Review = Field(default_factory=Review)
    inputs: Inputs
    seal: str = ""
    status: Literal["planned", "applying", "applied", "failed", "interrupted", "outcome_unknown"] = "planned"
    applies: list[ApplyRecord] = []

    @property
    def hosts(self) -> list[str]:
        """Every host the plan's steps target, sorted."""
        return sorted({h for s in self.steps for h in s.hosts})


def now() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def new_id() -> str:
    """A short random plan id."""
    return secrets.token_hex(4)


def _key(state: Path) -> bytes:
    path = state / "plan.key"
    if not path.exists():
        fd = private_file(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _sealed_bytes(plan: Plan) -> bytes:
    data = plan.model_dump(mode="json", exclude=_SEALED_EXCLUDE)
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def seal(plan: Plan, state: Path) -> Plan:
    """Return the plan with its seal set over everything the person reviews."""
    mac = hmac.new(_key(state), _sealed_bytes(plan), hashlib.sha256).hexdigest()
    return plan.model_copy(update={"seal": mac})


def plans_dir(state: Path) -> Path:
    """Where plan files live."""
    return state / "plans"


def save(plan: Plan, state: Path) -> Path:
    """Write the plan atomically (temp file + rename)."""
    path = plans_dir(state) / f"{plan.id}.json"
    tmp = path.with_suffix(".json.tmp")
    with os.fdopen(private_file(tmp), "w") as fh:
        fh.write(plan.model_dump_json(indent=2) + "\n")
    tmp.replace(path)
    return path


def _resolve(state: Path, ref: str) -> Path:
    directory = plans_dir(state)
    if ref == "latest":
        found = list_plans(state)
        if not found:
            raise NoPlansError("there are no plans yet",
                               'make one first: homelab plan "…" or homelab plan --playbook ID')
        return directory / f"{found[-1].id}.json"
    matches = sorted(directory.glob(f"{ref}*.json")) if ref and ref.isalnum() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise HomelabError(f"plan id {ref!r} is ambiguous: {', '.join(m.stem for m in matches)}",
                           "give more characters of the id")
    raise HomelabError(f"no plan {ref!r}", "homelab plans lists them")


def load(state: Path, ref: str, verify: bool = True) -> Plan:
    """Load a plan by id, id prefix or ``latest``; refuse unknown versions and broken seals."""
    path = _resolve(state, ref)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:  # not UTF-8 is as damaged as bad JSON
        raise PlanFileError(f"{path} is not a readable plan file ({err})", "homelab plan again") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version != FORMAT_VERSION:
        raise PlanFileError(f"{path} has format_version {version!r}; this homelab reads {FORMAT_VERSION}",
                            "make the plan again with this version, or use the homelab that made it")
    try:
        plan = Plan.model_validate(raw)
    except PydanticValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise PlanFileError(f"{path} is not a valid plan file: {where}: {first['msg']}"
                            + (f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""),
                            "it was edited by hand or damaged; homelab plan again") from None
    if verify and not hmac.compare_digest(seal(plan, state).seal, plan.seal):
        raise PlanFileError(f"plan {plan.id} was changed after it was made ({path})",
                            "a plan is applied exactly as reviewed; homelab plan again")
    return plan


def list_plans(state: Path, unreadable: list[tuple[Path, str]] | None = None) -> list[Plan]:
    """Every readable plan, oldest first.

    Unreadable files are skipped, not fatal (one damaged file must not block every plan command); pass
    ``unreadable`` to collect each one with the reason, so a listing can show them instead of hiding them.
    """
    plans = []
    for path in sorted(plans_dir(state).glob("*.json")) if plans_dir(state).is_dir() else []:
        try:
            plans.append(Plan.model_validate_json(path.read_text()))
        except (OSError, UnicodeDecodeError, PydanticValidationError) as err:  # not UTF-8 is damaged too
            if unreadable is not None:
                why = (f"{err.error_count()} problem(s), e.g. {err.errors()[0]['msg']}"
                       if isinstance(err, PydanticValidationError) else str(err))
                unreadable.append((path, why))
    return sorted(plans, key=lambda p: (p.created_at, p.id))
