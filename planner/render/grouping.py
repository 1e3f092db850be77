"""The review grouped for reading: the same task with the same outcome on many hosts is shown once.

Every rendering for people (terminal, markdown, HTML) reads the review through
this module, so the three agree on what is one group and how its hosts are
named. The plan document itself (JSON) is never grouped: it keeps every
host's every task.

A group is keyed by everything a reviewer compares: step, role, task, status,
the diff text, the unknown reason, the message and the report. Two hosts whose
results differ in any of these land in different groups; variants of one task
are kept next to each other so that the difference stands out.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

from planner.plans.planfile import Diff, HostSummary, Plan, StepReview, TaskResult
from planner.render import interesting, unified

#: A host name ending in a number: three or more in a row are written as a run, k3s-vm-gen-{01..07}.
_NUMBERED = re.compile(r"^(.*?)(\d+)$")
#: The controller's private temp directory that Ansible names a rendered template's diff header after:
#: different on every host and every run, and meaningless to a reviewer.
_TEMP_DIR = re.compile(r"\S*/ansible-local-[^/\s]+/tmp[^/\s]*/")
_DEFAULT_HEADERS = "--- before\n+++ after\n"
#: Stands for each host's own name in a diff shown once for several hosts (motd, hostname files).
HOST_PLACEHOLDER = "{host}"


@dataclass(frozen=True)
class TaskGroup:
    """One task's outcome, shared by ``hosts`` (in inventory order)."""

    step: int
    playbook: str
    role: str | None
    task: str
    status: str
    diffs: tuple[str, ...]
    unknown_reason: str | None
    msg: str | None
    report: str | None
    hosts: tuple[str, ...]
    results: tuple[TaskResult, ...]
    variant: int = 1  # 1 for the outcome on most hosts, 2 for the next, …
    variants: int = 1
    named: bool = False  # the diffs say {host} where each host's own name stands


@dataclass(frozen=True)
class StepSummary:
    """A step at a glance, like Terraform's "Plan: 7 to change": distinct tasks per outcome, and its hosts."""

    step: int
    playbook: str
    changes: int
    unknowns: int
    failures: int
    unreachable: int
    hosts: tuple[str, ...]
    error: str | None

    def line(self) -> str:
        """'apply_baseline: 7 to change · 0 unknown · 0 failed · on 9 hosts'."""
        text = (f"{self.playbook}: {self.changes} to change · {self.unknowns} unknown · {self.failures} failed · "
                f"on {count(len(self.hosts), 'host')}")
        if self.unreachable:
            text += f" ({self.unreachable} unreachable)"
        return text


@dataclass(frozen=True)
class HostRow:
    """Hosts with identical counts in the per-host table (failed and unreachable hosts stand alone)."""

    hosts: tuple[str, ...]
    changed: int
    unknown: int
    failed: int
    ok: int
    skipped: int
    unreachable: bool


def count(n: int, noun: str) -> str:
    """'1 host', '9 hosts'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def report_text(report: object) -> str | None:
    """A report as text: its document's markdown where it carries one, else JSON (indented) for structured ones."""
    if report is None:
        return None
    from planner.plans.documents import markdown_of
    from planner.render.address import address_text
    from planner.render.health import health_text
    from planner.render.monitoring import monitoring_text

    # A report that carries a document is shown as that document: it already says all the rest.
    document = markdown_of(report)
    if document is not None:
        return document
    # A diagnosis is shown as its findings and proposals, not as the host's whole health section.
    diagnosis = health_text(report)
    if diagnosis is not None:
        return diagnosis
    # An address check is shown as its one line per host and its findings.
    checked = address_text(report)
    if checked is not None:
        return checked
    # A monitoring audit is shown as its one line per component and its findings.
    audited = monitoring_text(report)
    if audited is not None:
        return audited
    return report if isinstance(report, str) else json.dumps(report, indent=2, sort_keys=True)


def shown(task: TaskResult) -> bool:
    """What the grouped review shows: changes, unknowns, failures, and what read-only steps found."""
    return interesting(task) or task.report is not None


def diff_text(diff: Diff, host: str) -> tuple[str, bool]:
    """A diff as shown for a group: Ansible's temp path left out of its headers, and the host's own
    name written as ``{host}`` (a whole word only), so that hosts differing only in their name share
    one diff. Returns the text and whether the name was replaced. Putting each host's name back gives
    its diff again (a diff that already says ``{host}`` is left as it is); only Ansible's placeholder
    headers (``before``/``after``) and its temp path, which name nothing, are left out."""
    text = _TEMP_DIR.sub("", unified(diff))
    if text.startswith(_DEFAULT_HEADERS):  # Ansible's placeholder headers name no file: nothing to read
        text = text[len(_DEFAULT_HEADERS):]
    if HOST_PLACEHOLDER in text:
        return text, False
    named = re.sub(rf"(?<![\w.-]){re.escape(host)}(?![\w-])", HOST_PLACEHOLDER, text)
    return named, named != text


def groups(step: StepReview, order: list[str]) -> list[TaskGroup]:
    """The step's shown results grouped by identical outcome, in order of each task's first appearance.

    ``order`` is the host order to list hosts in (the plan's). A task that runs twice on a host
    (a loop over includes, two tasks of one name) counts its runs apart, so no result is merged away.
    """
    seen: dict[tuple[str, str | None, str], int] = {}  # (host, role, task) → runs so far
    by_task: dict[tuple[str | None, str, int], dict[tuple, list[TaskResult]]] = {}
    for task in step.tasks:
        run = seen.get((task.host, task.role, task.task), 0)
        seen[(task.host, task.role, task.task)] = run + 1
        if not shown(task):
            continue
        texts = [diff_text(d, task.host) for d in task.diffs]
        # Whether a name was replaced is part of the key: a diff that says "{host}" itself stays apart.
        key = (task.status, tuple(t for t, _ in texts), task.unknown_reason, task.msg, report_text(task.report),
               any(n for _, n in texts))
        by_task.setdefault((task.role, task.task, run), {}).setdefault(key, []).append(task)
    rank = {h: i for i, h in enumerate(order)}
    out = []
    for (role, name, _run), variants in by_task.items():
        # The outcome most hosts share comes first; the others follow it, so their differences stand out.
        ordered = sorted(variants.items(), key=lambda kv: -len(kv[1]))
        for i, ((status, diffs, reason, msg, report, named), results) in enumerate(ordered):
            results.sort(key=lambda r: rank.get(r.host, len(rank)))
            out.append(TaskGroup(step.step, step.playbook, role, name, status, diffs, reason, msg, report,
                                 tuple(r.host for r in results), tuple(results), i + 1, len(variants), named))
    return out


def delta(base: TaskGroup, other: TaskGroup) -> str | None:
    """``other``'s diff written as the lines where it differs from ``base``'s (an earlier variant of the
    same task, shown in full above it): a marker ``~ for lines 12-14:`` (or ``~ after line 7:``) naming
    the lines of ``base``'s diff that are replaced, then the lines that stand there instead. None when
    the two are not diffs of one kind of outcome, or when the difference is no shorter than the diff."""
    if not (base.diffs and other.diffs and base.status == other.status and base.unknown_reason ==
            other.unknown_reason and base.msg == other.msg and base.report == other.report):
        return None
    a = "".join(base.diffs).splitlines(keepends=True)
    b = "".join(other.diffs).splitlines(keepends=True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        where = (f"after line {i1}" if i1 == i2 else f"for line {i1 + 1}" if i2 == i1 + 1
                 else f"for lines {i1 + 1}-{i2}")
        if j2 - j1 == 1:  # one line: on the marker's own line
            out.append(f"~ {where}: {b[j1]}")
        else:
            out.append(f"~ {where}:" + (" (nothing)" if j1 == j2 else "") + "\n")
            out += b[j1:j2]
    text = "".join(line if line.endswith("\n") else line + "\n" for line in out)
    return text if len(text.splitlines()) < len(b) else None


def closest(earlier: list[TaskGroup], group: TaskGroup) -> tuple[TaskGroup, str] | None:
    """The earlier variant from which ``group`` differs in the fewest lines, and that difference."""
    best: tuple[TaskGroup, str] | None = None
    for base in earlier:
        text = delta(base, group)
        if text is not None and (best is None or len(text.splitlines()) < len(best[1].splitlines())):
            best = (base, text)
    return best


def summary(plan: Plan, step: StepReview) -> StepSummary:
    """Distinct tasks that change, are unknown or fail in ``step``, and the hosts it ran on."""
    tasks = step.tasks

    def distinct(*statuses: str) -> int:
        return len({(t.role, t.task) for t in tasks if t.status in statuses})

    return StepSummary(step.step, step.playbook, distinct("changed"), distinct("unknown"), distinct("failed"),
                       sum(1 for s in step.hosts.values() if s.unreachable), tuple(step_hosts(plan, step)),
                       step.error)


def step_hosts(plan: Plan, step: StepReview) -> list[str]:
    """The hosts a step ran on, in the plan's order."""
    if 0 <= step.step < len(plan.steps):
        return list(plan.steps[step.step].hosts)
    return list(step.hosts)


def compact(hosts: list[str] | tuple[str, ...]) -> str:
    """Host names, comma-separated, with runs of three or more numbered names written as
    ``k3s-vm-gen-{01..21}``. Exact, never lossy: a reader (or a shell) expands a run back into every name.
    """
    parts: list[str] = []
    i = 0
    while i < len(hosts):
        m = _NUMBERED.match(hosts[i])
        j = i
        if m:
            prefix, digits = m.group(1), m.group(2)
            while j + 1 < len(hosts):
                n = _NUMBERED.match(hosts[j + 1])
                if not (n and n.group(1) == prefix and len(n.group(2)) == len(digits)
                        and int(n.group(2)) == int(digits) + (j + 1 - i)):
                    break
                j += 1
        if m and j - i >= 2:
            last = _NUMBERED.match(hosts[j])
            assert last is not None
            parts.append(f"{m.group(1)}{{{m.group(2)}..{last.group(2)}}}")
        else:
            parts.extend(hosts[i:j + 1])
        i = j + 1
    return ", ".join(parts)


def on_hosts(hosts: tuple[str, ...] | list[str], among: list[str]) -> str:
    """The shortest honest phrase for ``hosts`` out of ``among``: 'on all 9 hosts', 'on maas',
    'on 8 hosts: a, b, …', 'on all hosts but maas, uptime-kuma'. Every host is always named or implied."""
    wanted = set(hosts)
    chosen = [h for h in among if h in wanted] + [h for h in hosts if h not in set(among)]
    if set(chosen) >= set(among) and len(among) > 1:
        return f"on all {len(among)} hosts"
    if len(chosen) == 1:
        return f"on {chosen[0]}"
    listed = f"on {len(chosen)} hosts: {compact(chosen)}"
    missing = [h for h in among if h not in wanted]
    but = f"on all hosts but {compact(missing)}"
    return but if len(but) < len(listed) else listed


def host_rows(plan: Plan, steps: list[StepReview] | None = None) -> list[HostRow]:
    """The per-host counts table, hosts with the same counts on one row, failed or unreachable hosts alone."""
    steps = plan.review.steps if steps is None else steps
    rows: dict[tuple, list[str]] = {}
    for host in ordered_hosts(plan):
        sums: list[HostSummary] = [s.hosts[host] for s in steps if host in s.hosts]
        counts = tuple(sum(getattr(x, k) for x in sums) for k in ("changed", "unknown", "failed", "ok", "skipped"))
        unreachable = any(x.unreachable for x in sums)
        alone = unreachable or counts[2] > 0
        rows.setdefault((counts, unreachable, host if alone else None), []).append(host)
    return [HostRow(tuple(hosts), counts[0], counts[1], counts[2], counts[3], counts[4], unreachable)
            for (counts, unreachable, _), hosts in rows.items()]


def host_label(row: HostRow) -> str:
    """'maas', or '29 hosts: a, b, …' (every name, numbered runs compacted)."""
    if len(row.hosts) == 1:
        return row.hosts[0]
    return f"{len(row.hosts)} hosts: {compact(row.hosts)}"


def ordered_hosts(plan: Plan) -> list[str]:
    """Every host the plan targets, in inventory order (the order its steps list them)."""
    return list(dict.fromkeys(h for s in plan.steps for h in s.hosts))


def _kept(step: StepReview, keep: set[str]) -> StepReview:
    return step.model_copy(update={"hosts": {h: v for h, v in step.hosts.items() if h in keep},
                                   "tasks": [t for t in step.tasks if t.host in keep]})


def for_hosts(plan: Plan, hosts: list[str]) -> Plan:
    """A copy of ``plan`` that keeps only ``hosts``: their steps, results and apply outcomes.

    For reading one host's review (``homelab show --host``); such a copy is never saved or applied.
    """
    keep = set(hosts)
    steps = [s.model_copy(update={"hosts": [h for h in s.hosts if h in keep]}) for s in plan.steps]
    review = plan.review.model_copy(update={"steps": [_kept(s, keep) for s in plan.review.steps]})
    applies = [a.model_copy(update={"hosts": {h: v for h, v in a.hosts.items() if h in keep},
                                    "steps": [_kept(s, keep) for s in a.steps]}) for a in plan.applies]
    return plan.model_copy(update={"steps": steps, "review": review, "applies": applies})
