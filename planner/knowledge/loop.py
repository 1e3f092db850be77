"""The knowledge loop: what the tool records and learns flows into the docs before the command ends.

The tool itself writes four of the things the docs are made from: the session log (every plan,
revision, refusal, approval and apply), the facts under each host's ``discovered:`` key (``homelab
facts``, the read-back after an apply, a plan's read steps), the knowledge base, and the service
record (``services:`` items an applied trial reports, :mod:`planner.knowledge.services`). Every such
write goes through a :class:`Recorder`, which knows which docs each one feeds (:data:`FEEDS`) and
regenerates just those when the work is done, so ``homelab docs --check`` passes after any
``homelab`` command. A doc that cannot be regenerated (a hand-kept file unreadable, a hand-written
section without its end marker) is reported, never raised: the command's own result stands.

A command opens one recorder with :func:`recording` and renders what it reports (when the command
ends in an error, only a doc that could not be regenerated is reported). Library code that
writes while a command runs (a plan's read steps, in :mod:`planner.plans.build`) joins that recorder
through :func:`joined`, or gets one of its own when it runs on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from planner.errors import HomelabError
from planner.knowledge.docsgen import INFRASTRUCTURE, PROCEDURES, SERVICES, TROUBLESHOOTING
from planner.knowledge.facts import Gathered, WriteBack
from planner.workspace import Workspace

SESSION_LOG = "session log"
FACTS = "facts"
KNOWLEDGE_BASE = "knowledge base"
SERVICE_RECORD = "service record"
INCIDENT_REVIEW = "incident review"
#: The section of ``discovered:`` a diagnosis refreshes; its findings feed the knowledge base.
HEALTH = "health"
#: Which docs each thing the tool writes is made into.
FEEDS: dict[str, tuple[str, ...]] = {
    SESSION_LOG: (TROUBLESHOOTING,),  # the recent sessions of each known issue's hosts, and "today"
    FACTS: (INFRASTRUCTURE, SERVICES),  # discovered next to documented, drift, what runs where
    KNOWLEDGE_BASE: (TROUBLESHOOTING,),
    SERVICE_RECORD: (INFRASTRUCTURE, SERVICES),  # services: of the inventory, after an applied trial
    # A validated incident review: its known issue (TROUBLESHOOTING) and the runbook naming it (PROCEDURES).
    INCIDENT_REVIEW: (TROUBLESHOOTING, PROCEDURES),
}


@dataclass(frozen=True)
class DocsUpdate:
    """One regeneration: the docs rewritten, each one's diff, or why it could not be done."""

    changed: list[str]
    diffs: dict[str, str]
    problem: HomelabError | None = None
    sources: tuple[str, ...] = ()  # what was written that these docs are made from


@dataclass(frozen=True)
class Findings:
    """Facts a plan's read step wrote back: which sections, and what was written (or why nothing was);
    for a diagnosis (the ``health`` section), what the knowledge base learnt from it."""

    playbook: str
    sections: tuple[str, ...]
    result: WriteBack | None
    problem: str | None = None
    learned: tuple[str, ...] = ()  # "cpu-runaway on k3s-vm-still-fawn → runaway-process-k3s-vm"
    learn_problem: str | None = None


@dataclass(frozen=True)
class Lessons:
    """What the knowledge base learnt of a diagnosis or of an apply's fixes (or why it could not be written)."""

    learned: tuple[str, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class ReadBack:
    """After an apply: the hosts read back and what was written (or why nothing was)."""

    hosts: list[str]
    result: WriteBack | None
    problem: str | None = None


def regenerate(ws: Workspace, only: Iterable[str] | None = None, *, write: bool = True) -> DocsUpdate:
    """Generate the docs (all, or ``only`` these), diff them against the files and write the changed ones
    unless told not to. Raises HomelabError when an input cannot be read (``homelab docs`` reports it)."""
    from planner.knowledge import docsgen

    generated = docsgen.generate(ws.root, ws.inventory, only=only)
    changed = docsgen.stale(ws.root, generated)
    diffs = {path: docsgen.diff(ws.root, path, generated[path]) for path in changed}
    if write:
        changed = docsgen.write(ws.root, generated)
    return DocsUpdate(changed, diffs)


def read_back_hosts(plan: Any) -> list[str]:
    """The hosts to read back after an apply: those it changed, and those where it failed (a task before the
    failure may have changed something). A host where every task was ok is as it was before the apply, so its
    facts stand (`homelab facts` refreshes them any time): reading it back would cost a second run over it,
    which on a converged homelab is most of an apply's time. Unreachable hosts and those of unknown outcome
    cannot be read."""
    return sorted(h for h, o in plan.applies[-1].hosts.items() if o.outcome in ("changed", "failed"))


def planfile_today() -> str:
    """Today's date (UTC), as the service record's ``deployed:`` says it."""
    from planner.plans.planfile import now

    return now()[:10]


def _ignore(_: Any) -> None:
    return None


class Recorder:
    """The one way the tool writes what the docs are made from; regenerates the docs each write feeds."""

    def __init__(self, ws: Workspace, on_docs: Callable[[DocsUpdate], None] = _ignore,
                 on_findings: Callable[[Findings], None] = _ignore):
        self.ws = ws
        self.on_docs = on_docs
        self.on_findings = on_findings
        self.pending: set[str] = set()

    def wrote(self, *what: str) -> None:
        """Note a write (one of :data:`FEEDS`' keys) made some other way; its docs follow at :meth:`flush`."""
        unknown = set(what) - set(FEEDS)
        if unknown:
            raise ValueError(f"nothing is made from {', '.join(sorted(unknown))}")
        self.pending |= set(what)

    # -- the session log ----------------------------------------------------------------------------

    def log_plan(self, plan: Any, kind: str = "plan") -> None:
        """A plan was made (or a revision of one)."""
        from planner.knowledge import sessions

        sessions.log_plan(self.ws.root, plan, kind)
        self.wrote(SESSION_LOG)

    def log_event(self, kind: str, summary: str, plan: Any = None, decision: str | None = None,
                  outcome: dict[str, str] | None = None, hosts: Iterable[str] = ()) -> None:
        """A refusal, approval, apply or facts run."""
        from planner.knowledge import sessions

        sessions.log_event(self.ws.root, kind, summary, plan, decision=decision, outcome=outcome, hosts=hosts)
        self.wrote(SESSION_LOG)

    # -- facts --------------------------------------------------------------------------------------

    def gather(self, hosts: list[str], plan_id: str = "facts", cancel: Callable[[], bool] = lambda: False,
               notice: Callable[[str], None] = lambda m: None) -> WriteBack:
        """Read ``hosts`` with gather_facts and write what they are (``homelab facts``)."""
        from planner.knowledge.facts import refresh

        result = refresh(self.ws, hosts, plan_id, cancel=cancel, notice=notice)
        self._facts_written(result)
        return result

    def read_back(self, plan: Any, notice: Callable[[str], None] = lambda m: None) -> ReadBack:
        """After an apply: read back every host it reached. A failed read-back is reported, not raised:
        the apply itself is done and recorded."""
        touched = read_back_hosts(plan)
        if not touched:
            return ReadBack([], None)
        try:
            return ReadBack(touched, self.gather(touched, plan.id, notice=notice))
        except HomelabError as problem:
            return ReadBack(touched, None, problem.message)

    def findings(self, playbook: str, sections: tuple[str, ...], gathered: Gathered, hosts: list[str],
                 plan_id: str) -> Findings:
        """What a plan's read step found, written back for just the ``sections`` its sidecar declares,
        under the inventory's lock and through the same writer as ``homelab facts``."""
        from planner.inventory.discovered import SECTIONS
        from planner.knowledge.facts import write_back
        from planner.plans.lock import apply_lock

        whole = set(sections) == set(SECTIONS)
        diagnosis = HEALTH in sections
        try:
            with apply_lock(self.ws.state, self.ws.inventory, plan_id):
                before = {h: _health(self.ws, h).get("checked_at") for h in hosts} if diagnosis else {}
                result = write_back(self.ws, gathered.finish(hosts), hosts, None if whole else sections)
                learned = self.record_diagnoses(result, before, plan_id) if diagnosis else Lessons()
        except HomelabError as problem:  # another apply holds the inventory: the review stands, facts wait
            found = Findings(playbook, sections, None, problem.message)
        else:
            self._facts_written(result)
            found = Findings(playbook, sections, result, learned=learned.learned, learn_problem=learned.problem)
        self.on_findings(found)
        return found

    def record_diagnoses(self, result: WriteBack, before: dict[str, Any], plan_id: str) -> Lessons:
        """Each answering host's fresh ``health`` findings into the knowledge base (caller holds the lock).
        A host whose health was not read again this time (same ``checked_at``) adds nothing."""
        from planner.knowledge import kb

        lines: list[str] = []
        try:
            for host in sorted(set(result.written) | set(result.unchanged)):
                if host in result.stale:
                    continue
                health = _health(self.ws, host)
                if not health.get("checked_at") or health.get("checked_at") == before.get(host):
                    continue
                done = kb.record_diagnosis(self.ws.root, host, health.get("findings") or [], plan_id,
                                           health["checked_at"], groups=kb.groups_of(self.ws.root, host,
                                                                                     self.ws.inventory))
                lines += done.added
        except HomelabError as problem:  # the knowledge base cannot be read or written: the facts stand
            return Lessons(tuple(lines), problem.message)
        finally:
            if lines:
                self.wrote(KNOWLEDGE_BASE)
        return Lessons(tuple(lines))

    def record_reported(self, review: Any, plan_id: str) -> Lessons:
        """A read step's findings that no write-back carries (a report's own ``findings``, as
        check_address_persistence's ``homelab_address``) into the knowledge base as a diagnosis's are;
        the ``health`` section's are recorded when it is written back (:meth:`record_diagnoses`)."""
        from planner.knowledge import kb
        from planner.knowledge.rca.evidence import sections
        from planner.plans.lock import apply_lock
        from planner.render.health import HEALTH_KEY

        per_host: dict[str, list[Any]] = {}
        for task in review.tasks:
            for key, section in sections(task.report):
                if key != HEALTH_KEY:
                    per_host.setdefault(task.host, []).extend(section["findings"])
        if not per_host:
            return Lessons()
        lines: list[str] = []
        try:
            with apply_lock(self.ws.state, self.ws.inventory, plan_id):
                for host, found in sorted(per_host.items()):
                    done = kb.record_diagnosis(self.ws.root, host, found, plan_id,
                                               groups=kb.groups_of(self.ws.root, host, self.ws.inventory))
                    lines += done.added
        except HomelabError as problem:  # another apply holds the inventory, or the file is broken: the review stands
            return Lessons(tuple(lines), problem.message)
        finally:
            if lines:
                self.wrote(KNOWLEDGE_BASE)
        return Lessons(tuple(lines))

    def _facts_written(self, result: WriteBack) -> None:
        if result.written:
            self.wrote(FACTS)

    # -- the service record -------------------------------------------------------------------------

    def record_services(self, plan: Any) -> Any:
        """After an apply: what its steps reported of the services they run (``homelab_service``) written into
        ``services:`` of the inventory, under its lock. A problem is reported, not raised: the apply stands."""
        from planner.knowledge.services import Recorded, record
        from planner.plans.lock import apply_lock

        try:
            with apply_lock(self.ws.state, self.ws.inventory, plan.id):
                done = record(self.ws.inventory, plan, planfile_today())
        except HomelabError as problem:  # another apply holds the inventory
            return Recorded(problem=problem.message)
        if done.written:
            self.wrote(SERVICE_RECORD)
        return done

    # -- the knowledge base -------------------------------------------------------------------------

    def record_fixes(self, plan: Any, approved_by: str | None = None) -> Lessons:
        """After an apply: each applied step whose playbook ``resolves`` diagnosis findings is recorded as a fix
        of those findings on each of its hosts, with the host's outcome and who approved the apply
        (``approved_by``, else the decision of the plan's last approval in the session log). Under the
        inventory's lock; a problem is reported, not raised: the apply stands."""
        from planner.knowledge import kb
        from planner.plans.lock import apply_lock

        record = plan.applies[-1] if plan.applies else None
        fixes = [(step, resolves) for step in plan.steps
                 if step.risk == "change" and (resolves := resolved_findings(self.ws.root, step.playbook))]
        if record is None or not fixes:
            return Lessons()
        decision = approved_by or approval_of(self.ws.root, plan.id)
        when = record.finished_at or record.started_at
        lines: list[str] = []
        try:
            with apply_lock(self.ws.state, self.ws.inventory, plan.id):
                diagnosed = kb.load(self.ws.root)
                for step, resolves in fixes:
                    for host in step.hosts:
                        outcome = host_outcome(record, plan.steps.index(step), host)
                        if outcome is None:
                            continue  # the apply never reached this step on this host
                        seen = {o.symptom for i in diagnosed.issues for o in i.occurrences
                                if o.plan == plan.id and o.host == host and o.kind == "diagnosis"}
                        done = kb.record_fix(self.ws.root, host, [s for s in resolves if s in seen] or resolves,
                                             plan.id, outcome, decision, when, summary=f"{step.playbook}: {outcome}",
                                             groups=kb.groups_of(self.ws.root, host, self.ws.inventory))
                        lines += done.added
        except HomelabError as problem:
            return Lessons(tuple(lines), problem.message)
        finally:
            if lines:
                self.wrote(KNOWLEDGE_BASE)
        return Lessons(tuple(lines))

    # -- reports ------------------------------------------------------------------------------------

    def file_report(self, path: str, markdown: str, source: str) -> str:
        """A read step's markdown report filed at ``path`` (under docs/, atomically), said like any doc
        written; returns ``path``. Nothing is made from it, so no other doc follows."""
        from planner.knowledge import docsgen

        written = docsgen.write(self.ws.root, {path: markdown})
        self.on_docs(DocsUpdate(written, {}, sources=(source,)))
        return path

    # -- the docs -----------------------------------------------------------------------------------

    def flush(self, quiet: bool = False, tell: bool = True) -> DocsUpdate | None:
        """Regenerate the docs fed by what was written since the last flush (None when nothing was).

        Never raises for a doc that cannot be made: the update carries the problem instead. ``quiet``
        reports only such a problem (a command that ends in an error says that error, not which docs moved);
        ``tell=False`` reports nothing, leaving the returned update to the caller.
        """
        if not self.pending:
            return None
        sources = tuple(sorted(self.pending))
        docs = sorted({doc for what in sources for doc in FEEDS[what]})
        self.pending.clear()
        try:
            update = replace(regenerate(self.ws, docs), sources=sources)
        except HomelabError as problem:
            update = DocsUpdate([], {}, problem, sources)
        except (OSError, UnicodeDecodeError) as err:  # a doc that cannot be read or written
            update = DocsUpdate([], {}, HomelabError(f"{err}", "fix the file, then run `homelab docs`"), sources)
        if tell and (not quiet or update.problem is not None):
            self.on_docs(update)
        return update


def _health(ws: Workspace, host: str) -> dict[str, Any]:
    """The host's ``discovered.health`` as written (plain data: read as the contract has it, whatever the
    discovered model makes of it), or {}."""
    from planner.knowledge.facts import DISCOVERED_KEY, host_vars_file
    from planner.yamlio.reading import load_fast

    try:
        data = load_fast(host_vars_file(ws.inventory, host))
    except Exception:  # noqa: BLE001 - a missing or broken file holds no diagnosis; `inventory validate` says why
        return {}
    block = data.get(DISCOVERED_KEY) if isinstance(data, dict) else None
    health = block.get(HEALTH) if isinstance(block, dict) else None
    return health if isinstance(health, dict) else {}


def resolved_findings(root: Any, playbook: str, *, known_only: bool = True) -> list[str]:
    """The finding ids a catalog playbook's sidecar says it ``resolves`` (none when it says nothing, or
    something that is not a list); only the diagnosis's known ids (:data:`kb.FINDING_IDS`) unless
    ``known_only`` is false (an incident review cites any read step's finding ids)."""
    from planner.catalog.entries import META_SUFFIX
    from planner.knowledge.kb import FINDING_IDS
    from planner.yamlio.reading import load_fast

    try:
        meta = load_fast(root / "playbooks" / f"{playbook}{META_SUFFIX}")
    except Exception:  # noqa: BLE001 - the catalog loader reports a broken sidecar; here it resolves nothing
        return []
    resolves = meta.get("resolves") if isinstance(meta, dict) else None
    if not isinstance(resolves, list):
        return []
    return [r for r in resolves if isinstance(r, str) and (r in FINDING_IDS or not known_only)]


def approval_of(root: Any, plan_id: str) -> str | None:
    """The decision of the plan's latest approval in the session log: a person's, or the policy rule's."""
    from planner.knowledge.sessions import read

    approvals = [e for e in read(root) if e.kind == "approval" and e.plan == plan_id and e.decision]
    return approvals[-1].decision if approvals else None


def host_outcome(record: Any, step: int, host: str) -> str | None:
    """How one step of an apply went on one host: from the step's own summary where the apply reached it."""
    ran = next((s for s in record.steps if s.step == step), None)
    summary = ran.hosts.get(host) if ran is not None else None
    if summary is None:
        return None
    if summary.unreachable:
        return "unreachable"
    if summary.failed:
        return "failed"
    if summary.unknown:
        return "outcome_unknown"
    return "changed" if summary.changed else "ok"


_OPEN: ContextVar[Recorder | None] = ContextVar("homelab_recorder", default=None)


@contextmanager
def recording(ws: Workspace, on_docs: Callable[[DocsUpdate], None] = _ignore,
              on_findings: Callable[[Findings], None] = _ignore) -> Iterator[Recorder]:
    """A command's recorder: open for the block, flushed when it ends, however it ends."""
    recorder = Recorder(ws, on_docs, on_findings)
    token = _OPEN.set(recorder)
    try:
        yield recorder
    except HomelabError as err:  # a refusal or an error: the docs still follow, quietly; a problem making
        _OPEN.reset(token)       # them is said after the error, which the person needs to read first
        update = recorder.flush(quiet=True, tell=False)
        if update is not None and update.problem is not None:
            err.said_after.append(partial(on_docs, update))
        raise
    except BaseException:  # Ctrl-C and the like: the docs still follow, quietly
        _OPEN.reset(token)
        recorder.flush(quiet=True)
        raise
    _OPEN.reset(token)
    recorder.flush()


@contextmanager
def joined(ws: Workspace) -> Iterator[Recorder]:
    """The recorder of the command running on ``ws``, when there is one (its docs follow when it ends);
    else a recorder of its own for the block."""
    current = _OPEN.get()
    if current is not None and current.ws == ws:
        yield current
        return
    with recording(ws) as recorder:
        yield recorder
