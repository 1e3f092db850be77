"""A diagnosis (``homelab_health`` and ``homelab_proposals``, diagnose_host's report) as lines a person reads.

The report is the host's whole health section, too long to read as JSON: the review shows each finding
with its severity, summary and evidence, then the steps proposed and the ones left to the person.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from planner.inventory.discovered import CappedList, Health, Text

HEALTH_KEY = "homelab_health"
PROPOSALS_KEY = "homelab_proposals"


class _Proposed(BaseModel):
    model_config = ConfigDict(extra="ignore")

    playbook: Text
    kind: Text = ""
    reason: Text = ""


class _Manual(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: Text
    reason: Text = ""


class ProposalsShown(BaseModel):
    """The proposals a read step reported, as the review shows them (the planner validates them apart)."""

    model_config = ConfigDict(extra="ignore")

    steps: CappedList[_Proposed] = []
    manual: CappedList[_Manual] = []


def one_line[M: BaseModel](model: M) -> M:
    """``model`` with every text from the host on one line: a newline in a process name must not make a
    line of the review of its own (the model's Text has already made control characters inert)."""
    def flat(value: Any) -> Any:
        if isinstance(value, str):
            return " ".join(value.split())
        if isinstance(value, list):
            return [flat(v) for v in value]
        if isinstance(value, BaseModel):
            return value.model_copy(update={k: flat(v) for k, v in value.__dict__.items()})
        return value

    result: M = flat(model)
    return result


def health_text(report: Any) -> str | None:
    """The diagnosis as text, or None when ``report`` is no diagnosis (or a malformed one: shown as JSON)."""
    if not isinstance(report, dict) or HEALTH_KEY not in report:
        return None
    try:
        health = Health.model_validate(report[HEALTH_KEY])
        proposals = ProposalsShown.model_validate(report.get(PROPOSALS_KEY) or {})
    except ValidationError:
        return None
    load = " ".join(f"{v:.2f}" for v in health.load)
    health, proposals = one_line(health), one_line(proposals)
    lines = [f"checked {health.checked_at}: load {load} on {health.cores} cores, "
             f"{len(health.runaway)} runaway process(es)"]
    lines += [f"{f.severity} {f.id}: {f.summary}\n    evidence: {f.evidence}\n    runbook: {f.runbook}"
              for f in health.findings] or ["nothing wrong found"]
    lines += [f"proposed ({p.kind}): {p.playbook} — {p.reason}" for p in proposals.steps]
    lines += [f"for the person: {m.title} — {m.reason}" for m in proposals.manual]
    lines += [f"not looked at: {s}" for s in health.skipped]
    return "\n".join(lines) + "\n"
