"""What a remediation apply did, in the session log's words.

The remediate role's last task prints ``homelab_remediation`` per host: the
processes it stopped, those already gone, those skipped because their pid now
belongs to another process, and the limits it put in place. The apply keeps
that report with its task results; this turns it into one sentence for the
apply's session-log entry, so the log says exactly what happened, by pid,
unit and host.
"""

from __future__ import annotations

from typing import Any

#: The key of the remediate role's report (roles/remediate/tasks/main.yml).
REPORT_KEY = "homelab_remediation"


def _process(item: Any) -> str:
    if not isinstance(item, dict):
        return "?"
    unit = f" ({item['unit']})" if item.get("unit") else ""
    return f"pid {item.get('pid', '?')}{unit}"


def reports(record: Any) -> dict[str, dict[str, Any]]:
    """Each host's remediation report of an apply record (none when no step printed one)."""
    out: dict[str, dict[str, Any]] = {}
    for step in getattr(record, "steps", []) or []:
        for task in step.tasks:
            report = task.report
            if isinstance(report, dict) and isinstance(report.get(REPORT_KEY), dict):
                out[task.host] = report[REPORT_KEY]
    return out


def logged(record: Any) -> str:
    """The session log's words for what the apply stopped, found gone, skipped and limited; "" when nothing."""
    parts = []
    for host, report in sorted(reports(record).items()):
        said = []
        for key, words in (("stopped", "stopped"), ("already_gone", "already gone"),
                           ("skipped", "skipped, not the reviewed process")):
            items = report.get(key) or []
            if items:
                said.append(f"{words} {', '.join(_process(i) for i in items)}")
        limits = [x for x in report.get("limits") or [] if isinstance(x, dict)]
        if limits:
            said.append("limits on " + ", ".join(
                f"{x.get('unit')} ({'drop-in changed' if x.get('changed') else 'unchanged'})" for x in limits))
        if said:
            parts.append(f"{host}: {'; '.join(said)}")
    return f" Remediation: {'. '.join(parts)}." if parts else ""
