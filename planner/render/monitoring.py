"""A monitoring audit (``homelab_monitoring_audit`` and ``homelab_proposals``, audit_monitoring's report) as lines
a person reads.

First one line per monitoring component ("prometheus: up, node targets 9/10 up; stale: old-nas.maas:9100 (host
not in inventory); down: …", "uptime-kuma: up, 14 monitors (13 managed, 1 yours); missing: jellyfin …"), then
each finding with its evidence and runbook step, and the steps proposed. A host that is not the reporting one
shows only its own findings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from planner.inventory.discovered import CappedList, Finding, Text
from planner.render.health import PROPOSALS_KEY, ProposalsShown, one_line

MONITORING_KEY = "homelab_monitoring_audit"


class MonitoringReport(BaseModel):
    """One host's part of the audit, as homelab.ops.monitoring_audit reports it (untrusted: the monitors'
    names and errors come from Prometheus and Uptime Kuma)."""

    model_config = ConfigDict(extra="ignore")

    checked_at: Text | None = None
    components: CappedList[Text] = []
    findings: CappedList[Finding] = []


def monitoring_text(report: Any) -> str | None:
    """The audit as text, or None when ``report`` is none (or a malformed one: shown as JSON)."""
    if not isinstance(report, dict) or MONITORING_KEY not in report:
        return None
    try:
        audit = MonitoringReport.model_validate(report[MONITORING_KEY])
        proposals = ProposalsShown.model_validate(report.get(PROPOSALS_KEY) or {})
    except ValidationError:
        return None
    audit, proposals = one_line(audit), one_line(proposals)
    lines = list(audit.components)
    lines += [f"{f.severity} {f.id}: {f.summary}\n    evidence: {f.evidence}\n    runbook: {f.runbook}"
              for f in audit.findings]
    if audit.components and not audit.findings:
        lines.append("the monitoring matches the inventory: nothing wrong found")
    lines += [f"proposed ({p.kind}): {p.playbook} — {p.reason}" for p in proposals.steps]
    lines += [f"for the person: {m.title} — {m.reason}" for m in proposals.manual]
    return "\n".join(lines) + "\n"
