"""Make a plan: validate the steps, record the inputs, run the check review, seal, save.

Read steps run for real here (their tasks are read-only by construction), so
their findings are in the review at once; change steps run with
``--check --diff`` and wait for ``homelab apply``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from planner.catalog.entries import Catalog, load_catalog
from planner.catalog.taskscan import check_mode_violations, scan_playbook
from planner.errors import HomelabError
from planner.plans import planfile
from planner.plans.digests import digests, display_path, input_files, installed_versions, snapshot_inventory
from planner.plans.planfile import (
    Inputs,
    ManualItem,
    OpenQuestion,
    Plan,
    Review,
    Step,
    StepReview,
    TaskResult,
)
from planner.plans.review import ReviewCollector
from planner.plans.stepcheck import PlanValidationError, check_step
from planner.workspace import Workspace


@dataclass(frozen=True)
class StepRequest:
    """A step as asked for, before validation."""

    playbook: str
    limit: str = "all"
    vars: dict[str, Any] = field(default_factory=dict)
    rationale: str = ""


Progress = Callable[[str], None]
Events = Callable[[dict[str, Any]], None]


def validate_steps(ws: Workspace, catalog: Catalog, requests: list[StepRequest]) -> list[Step]:
    """Every step checked against the catalog, its argument specs, check-mode rules and the inventory."""
    if not requests:
        raise PlanValidationError("a plan needs at least one step", "homelab plan --playbook ID [--limit PATTERN]")
    steps = []
    for request in requests:
        entry = catalog.get(request.playbook)
        problems = check_mode_violations(ws.root, entry.playbook, entry.meta.risk)
        if problems:
            raise PlanValidationError(f"playbook {entry.id!r} is not safe to review in check mode",
                                      "fix the tasks named above", details=problems)
        checked = check_step(entry, request.limit, request.vars, ws.inventory)
        steps.append(Step(playbook=entry.id, limit=request.limit, vars=checked.vars, rationale=request.rationale,
                          risk=entry.meta.risk, hosts=list(checked.hosts)))
    return steps


def record_inputs(ws: Workspace, steps: list[Step]) -> Inputs:
    """Every input the steps depend on: digests, versions, the caller's ANSIBLE_*, and the snapshot they run from."""
    from planner.plans import environment, snapshot

    files = input_files(ws.root, ws.inventory, [ws.playbook(s.playbook) for s in steps])
    return Inputs(inventory=display_path(ws.inventory, ws.root.resolve()),
                  files=digests(files), versions=installed_versions(ws.root),
                  snapshot=snapshot.build(ws.state, files, snapshot_inventory(ws.inventory)),
                  environment=environment.recorded())


def run_step(ws: Workspace, plan: Plan, index: int, check: bool, purpose: str,
             on_result: Callable[[TaskResult], None] | None, cancel: Callable[[], bool],
             also: Callable[[dict[str, Any]], None] | None = None, timeout_s: int | None = None) -> StepReview:
    """Run one step through ansible-runner and collect its review (``also`` sees every event too).

    The run never reads the working tree: the plan's snapshot is materialized afresh into the run's
    private directory and the playbook, roles, inventory and ansible.cfg all come from there.
    """
    from planner.plans.runner import run_playbook
    from planner.plans.snapshot import materialize

    step = plan.steps[index]
    run_dir = ws.state / "runs" / f"{plan.id}-{purpose}-{index}-{planfile.new_id()}"
    run_dir.mkdir(mode=0o700, parents=True)
    try:
        project = materialize(ws.state, plan.inputs.snapshot, run_dir / "project")
    except BaseException:
        run_dir.rmdir()  # materialize removed what it wrote: leave no trace of a run that never started
        raise
    playbook = project / "playbooks" / f"{step.playbook}.yml"
    # Scanned from the snapshot's copy, so task paths match the events' task_path.
    collector = ReviewCollector(index, step.playbook, check, scan_playbook(project, playbook), on_result)

    def handle(event: dict[str, Any]) -> None:
        collector.handle(event)
        if also is not None:
            also(event)

    try:
        result = run_playbook(root=project, inventory=project / plan.inputs.snapshot.inventory, playbook=playbook,
                              limit=",".join(step.hosts), extravars=step.vars, check=check, run_dir=run_dir,
                              event_handler=handle, cancel=cancel, timeout_s=timeout_s)
    finally:
        # The snapshot lives on in .homelab/objects/; its written-out copy served this run only, and the
        # run directory keeps just ansible-runner's artifacts (no second plain copy of every input).
        shutil.rmtree(project, ignore_errors=True)
    return collector.finish(result, step.hosts)


def make_plan(ws: Workspace, requests: list[StepRequest], *, intent: str, planner: str = "manual",
              parent: str | None = None, excluded: list[str] | None = None, manual: list[ManualItem] | None = None,
              questions: list[OpenQuestion] | None = None, check: bool = True,
              on_result: Callable[[TaskResult], None] | None = None, cancel: Callable[[], bool] = lambda: False,
              on_event: Events | None = None) -> Plan:
    """Validate, review in check mode (unless ``check`` is False), seal and save a plan."""
    catalog = load_catalog(ws.root)
    # A plan that is only a checklist (every deployment turned manual by -e tier=manual) has no step to validate.
    steps = validate_steps(ws, catalog, requests) if requests or not manual else []
    inputs = record_inputs(ws, steps)
    plan = Plan(id=planfile.new_id(), created_at=planfile.now(), intent=intent, planner=planner, parent=parent,
                excluded=excluded or [], steps=steps, manual=manual or [], questions=questions or [],
                inputs=inputs)
    return review_and_save(ws, plan, check=check, on_result=on_result, cancel=cancel, on_event=on_event)


def review_and_save(ws: Workspace, plan: Plan, *, check: bool, on_result: Callable[[TaskResult], None] | None,
                    cancel: Callable[[], bool], on_event: Events | None = None) -> Plan:
    """Run the check-mode review of every step (unless ``check`` is False or there are none), seal, save.

    A read step runs for real, so what it found about the hosts is written back into their
    ``discovered:`` blocks (the sections its sidecar says it ``refreshes``) and the docs follow,
    through the running command's knowledge recorder. The discovered blocks are left out of the
    plan's digests, so this keeps the plan applyable. ``on_event`` sees every raw event (live progress).
    """
    if check and plan.steps:
        from planner.knowledge.facts import Gathered
        from planner.knowledge.loop import joined

        reviews = []
        with joined(ws) as recorder:
            i = 0
            while i < len(plan.steps):  # a read step's proposals add steps behind it, reviewed in their turn
                step = plan.steps[i]
                sections = _refreshed_sections(ws, step)
                gathered = Gathered() if sections else None
                reviews.append(run_step(ws, plan, i, check=step.risk != "read", purpose="check",
                                        on_result=on_result, cancel=cancel,
                                        also=both(gathered.handle if gathered else None, on_event)))
                if reviews[-1].status in ("successful", "failed") and step.risk == "read":
                    if gathered is not None:
                        recorder.findings(step.playbook, sections, gathered, step.hosts, plan.id)
                    recorder.record_reported(reviews[-1], plan.id)
                    propose(ws, plan, reviews[-1])
                i += 1
            filed = _file_documents(recorder, plan, reviews)
        plan.review = Review(checked_at=planfile.now(), steps=reviews, documents=filed)
    else:
        plan.review = Review(skipped=True)
    plan = planfile.seal(plan, ws.state)
    planfile.save(plan, ws.state)
    return plan


def propose(ws: Workspace, plan: Plan, review: StepReview) -> None:
    """Add the steps a read step proposed (its meta's ``proposes``), each validated like any step and for its
    host alone, a permanent fix only where the knowledge base says the problem recurs; then re-record the
    plan's inputs so the snapshot holds the new steps' playbooks. What is left out is said in the plan."""
    from planner.plans import proposals

    catalog = load_catalog(ws.root)
    step = plan.steps[review.step]
    unread: list[str] = []

    def recurring(host: str, playbook: str) -> Any:
        # A knowledge base a person broke by hand must not cost the review that already ran: the permanent
        # fix is left out, and the plan says why.
        try:
            return _recurring(ws, catalog, plan, host, playbook)
        except HomelabError as err:
            if not unread:
                unread.append(f"The knowledge base could not be read ({err.message}), so no permanent fix is "
                              "proposed.")
            return None

    outcome = proposals.collect(review, step.playbook, list(catalog.get(step.playbook).meta.proposes), step.hosts,
                                recurring)
    outcome.notes.extend(unread)
    added = []
    valid = []
    for item in outcome.steps:  # each host's proposal on its own: one host's bad proposal costs no other its fix
        try:
            validate_steps(ws, catalog, [StepRequest(item.playbook, item.host, item.vars, item.rationale)])
        except PlanValidationError as err:
            first = f" ({err.details[0]})" if err.details else ""
            outcome.notes.append(f"The {item.kind} fix {item.playbook} proposed for {item.host} was left out: "
                                 f"{err.message}{first}.")
            continue
        valid.append(item)
    for item in _merged(valid):
        [new] = validate_steps(ws, catalog, [StepRequest(item.playbook, item.host, item.vars, item.rationale)])
        if not any(s.playbook == new.playbook and s.hosts == new.hosts and s.vars == new.vars for s in plan.steps):
            plan.steps.append(new)
            added.append(new)
    plan.manual.extend(m for m in outcome.manual if all(m.title != have.title for have in plan.manual))
    if outcome.notes:
        plan.explanation = " ".join([plan.explanation, *outcome.notes]).strip()
    if added:
        plan.inputs = record_inputs(ws, plan.steps)


def _merged(steps: list[Any]) -> list[Any]:
    """Proposals of the same playbook, kind and variables from several hosts as one step over all of them
    (``host`` an Ansible pattern ``a,b``): one reservation run for the hosts that lack one, not one per host."""
    import json
    from dataclasses import replace

    groups: dict[str, list[Any]] = {}
    for item in steps:
        key = json.dumps([item.playbook, item.kind, item.vars], sort_keys=True, default=str)
        groups.setdefault(key, []).append(item)
    merged = []
    for items in groups.values():
        hosts = list(dict.fromkeys(i.host for i in items))
        merged.append(replace(items[0], host=",".join(hosts),
                              rationale=" ".join(dict.fromkeys(i.rationale for i in items))))
    return merged


def _recurring(ws: Workspace, catalog: Catalog, plan: Plan, host: str, playbook: str) -> Any:
    """How often the problems ``playbook`` resolves were seen on ``host`` before this plan: the first that
    recurs, else the one seen most (a :class:`planner.plans.proposals.Recurrence`), or None."""
    import datetime as dt

    from planner.knowledge import kb
    from planner.plans.proposals import Recurrence

    today = dt.date.fromisoformat(plan.created_at[:10])
    needed, days = kb.settings(ws.root)
    known = [Recurrence(symptom, kb.recurrence(ws.root, host, symptom, today, plan=plan.id), needed, days)
             for symptom in catalog.get(playbook).meta.resolves]
    return next((r for r in known if r.recurs), max(known, key=lambda r: len(r.dates), default=None))


def _file_documents(recorder: Any, plan: Plan, reviews: list[StepReview]) -> list[str]:
    """File the documents the read steps reported under docs/ and add their steps for the person to the
    plan's checklist (before it is sealed); a document that does not fit is left out, and said so."""
    from planner.plans import documents

    found = documents.reported(reviews)
    filed = []
    for item in found:
        if item.document is None:
            plan.explanation = (f"{plan.explanation} The report of {item.playbook} carried a document that was left "
                                f"out: {item.problem}.").strip()
            continue
        header = (f"<!-- Written by homelab from the review of plan {plan.id} (step {item.step + 1}, "
                  f"{item.playbook}). A later plan files a new report; edit nothing here. -->\n\n")
        path = documents.report_path(item.document, plan.created_at[:10])
        filed.append(recorder.file_report(path, header + item.document.markdown, item.playbook))
    plan.manual = documents.manual_items(found, plan.manual)
    return filed


def both(first: Events | None, second: Events | None) -> Events | None:
    """One event handler that calls both (either may be None)."""
    if first is None or second is None:
        return first or second

    def handle(event: dict[str, Any]) -> None:
        first(event)
        second(event)

    return handle


def _refreshed_sections(ws: Workspace, step: Step) -> tuple[str, ...]:
    """The ``discovered:`` sections a read step's findings refresh (its sidecar's ``refreshes``)."""
    if step.risk != "read":
        return ()
    from planner.catalog.entries import META_SUFFIX, load_entry

    playbook = ws.playbook(step.playbook)
    return load_entry(playbook.with_name(step.playbook + META_SUFFIX), ws.root).meta.refreshed_sections()


def exclude_hosts(ws: Workspace, parent: Plan, pattern: str, **kwargs: Any) -> Plan:
    """A new plan from ``parent`` without the hosts ``pattern`` selects, linked to it and checked again."""
    from planner.plans.stepcheck import resolve_hosts

    dropped = set(resolve_hosts(ws.inventory, pattern))
    requests = []
    for step in parent.steps:
        keep = [h for h in step.hosts if h not in dropped]
        if keep:
            requests.append(StepRequest(step.playbook, ",".join(keep), dict(step.vars), step.rationale))
    if not requests:
        raise PlanValidationError(f"excluding {pattern!r} leaves plan {parent.id} with no hosts",
                                  "exclude fewer hosts, or drop the plan")
    return make_plan(ws, requests, intent=parent.intent, planner=parent.planner, parent=parent.id,
                     excluded=sorted(set(parent.excluded) | (dropped & {h for s in parent.steps for h in s.hosts})),
                     manual=list(parent.manual), **kwargs)


def change_vars(ws: Workspace, parent: Plan, changes: list[dict[str, Any]], intent: str, **kwargs: Any) -> Plan:
    """A new plan from ``parent`` with each step's variables updated by ``changes`` (one mapping per step).

    Every step keeps its playbook, limit and rationale, so the targets stay the same; the plan is
    linked to ``parent``, validated against the argument specs again and checked again (read steps
    run for real, so what they report reflects the new values).
    """
    requests = [StepRequest(s.playbook, s.limit, {**s.vars, **c}, s.rationale)
                for s, c in zip(parent.steps, changes, strict=True)]
    return make_plan(ws, requests, intent=intent, planner=parent.planner, parent=parent.id,
                     excluded=list(parent.excluded), manual=list(parent.manual), **kwargs)
