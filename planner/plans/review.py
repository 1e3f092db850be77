"""Turn ansible-runner's event stream into a review, per host and task.

Fed by the runner's event handler (structured events, not log scraping). It
records ok / changed / skipped / failed / unreachable, every diff Ansible
reported, and — the part a person most needs — what check mode could *not*
see: tasks skipped because their module does not support check mode,
commands without ``creates``/``removes``, and service tasks for units an
earlier task would create. Those are "unknown", never "no change". Results
hidden by ``no_log`` are censored by Ansible before they reach us, every
event is masked (:mod:`planner.plans.masking`) before it arrives, and only
the fields listed here are ever copied, so nothing hidden leaks into a plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planner.catalog.taskscan import TaskInfo
from planner.plans.planfile import Diff, HostSummary, StepReview, TaskResult, TaskStatus
from planner.plans.runner import Event, RunResult

_EVENT_STATUS: dict[str, TaskStatus] = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}
_NOT_IN_CHECK = ("does not support check mode", "would have run if not in check mode", "check mode")
_MISSING_UNIT = ("could not find the requested service", "unit file", "not found")
_MAX_TEXT = 200_000  # a diff side larger than this is cut: a review must stay readable and small


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "\n[… cut by homelab: diff too large]\n"


def _diffs(res: dict[str, Any]) -> list[Diff]:
    found: list[Diff] = []
    raw = res.get("diff")
    for item in raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []:
        if not isinstance(item, dict):
            continue
        diff = Diff(before_header=_text(item.get("before_header")), after_header=_text(item.get("after_header")),
                    before=_text(item.get("before")), after=_text(item.get("after")),
                    prepared=_text(item.get("prepared")))
        if diff.prepared or diff.before != diff.after:
            found.append(diff)
    for result in res.get("results") or []:
        if isinstance(result, dict):
            found.extend(_diffs(result))
    return found


class ReviewCollector:
    """Collects one step's events; ``finish`` returns its StepReview."""

    def __init__(self, step: int, playbook: str, check: bool, tasks: list[TaskInfo],
                 on_result: Callable[[TaskResult], None] | None = None):
        self.step, self.playbook, self.check = step, playbook, check
        # A read step runs for real: what its report tasks print is the finding the person asked for.
        self.reports = not check
        self.tasks = {t.path: t for t in tasks}
        self.on_result = on_result
        self.results: list[TaskResult] = []
        self.hosts: dict[str, HostSummary] = {}

    def _classify(self, status: TaskStatus, res: dict[str, Any], info: TaskInfo | None,
                  ignored: bool) -> tuple[TaskStatus, str | None]:
        msg = str(res.get("msg") or res.get("skip_reason") or "").lower()
        if not self.check:
            return status, None
        if info is not None and info.runs_in_check_mode:
            return status, None  # it really ran: its result is real
        if status == "skipped" and info is not None and info.skipped_by_check:
            # ansible-runner's skipped events carry no result: the module's documentation says why instead.
            return "unknown", f"skipped by check mode: {info.action} does not support check mode (it runs at apply)"
        if status == "skipped" and any(s in msg for s in _NOT_IN_CHECK):
            return "unknown", "skipped by check mode: " + str(res.get("msg") or "the module cannot run in check mode")
        if info is not None and info.unseen_by_check and status in ("ok", "skipped"):
            return "unknown", "a command without creates/removes: check mode cannot tell what it would change"
        if status == "failed" and not ignored and all(s in msg for s in _MISSING_UNIT[:1]):
            return "unknown", "the service does not exist yet (an earlier task would create it)"
        return status, None

    def handle(self, event: Event) -> None:
        """Process one runner event (others are ignored)."""
        kind = event.get("event", "")
        if kind not in _EVENT_STATUS:
            return
        data = event.get("event_data") or {}
        host = str(data.get("host") or "?")
        res = data.get("res")
        if not isinstance(res, dict):
            res = {}
        status: TaskStatus = _EVENT_STATUS[kind]
        if status == "ok" and res.get("changed"):
            status = "changed"
        info = self.tasks.get(str(data.get("task_path") or ""))
        ignored = bool(data.get("ignore_errors"))
        status, reason = self._classify(status, res, info, ignored)
        censored = "censored" in res
        result = TaskResult(
            host=host, task=str(data.get("task") or ""), action=str(data.get("task_action") or ""),
            role=data.get("role") or None, status=status,
            diffs=[] if censored else _diffs(res),
            ran_for_real=bool(info and info.runs_in_check_mode) or not self.check,
            unknown_reason=reason,
            msg=None if censored or status not in ("failed", "unreachable", "unknown") else _text(res.get("msg")),
            report=res.get("msg") if self.reports and not censored and status == "ok"
            and str(data.get("task_action", "")).endswith("debug") else None,
        )
        self.results.append(result)
        summary = self.hosts.setdefault(host, HostSummary())
        if status == "unreachable":
            summary.unreachable = True
        elif status == "failed" and ignored:
            summary.ok += 1
        else:
            setattr(summary, status, getattr(summary, status) + 1)
        if self.on_result:
            self.on_result(result)

    def finish(self, result: RunResult, targets: list[str]) -> StepReview:
        """The step's review; hosts that reported nothing are listed too."""
        for host in targets:
            self.hosts.setdefault(host, HostSummary())
        # No stats means ansible-playbook never finished its run: what happened is unknown.
        status = (result.status if result.stats is not None or result.status in ("canceled", "timeout")
                  else "outcome_unknown")
        return StepReview(step=self.step, playbook=self.playbook, check=self.check, status=status,
                          rc=result.rc, hosts=dict(sorted(self.hosts.items())), tasks=self.results,
                          error=result.output_tail or None)
