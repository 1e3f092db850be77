"""Documents a read step reports: a markdown report to file under docs/, and the person's steps in it.

A read playbook's report task (a ``debug`` whose ``msg`` is a mapping) may carry a
``homelab_document`` key: ``{name, markdown, manual: [{title, reason}]}``. After the check run
the tool files the markdown as ``docs/reports/<name>-<date>.md`` (through the knowledge
recorder, like every doc it writes) and turns ``manual`` into the plan's checklist items, before
the plan is sealed. What a playbook reports is not trusted blindly: a document that does not
fit the model is left out and said so, and the review stands either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from planner.plans.planfile import ManualItem, StepReview

DOCUMENT_KEY = "homelab_document"
REPORTS_DIR = "docs/reports"
_MAX_MARKDOWN = 500_000


class ReportStep(BaseModel):
    """One step of the report for the person."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class ReportDocument(BaseModel):
    """The document a report task carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    markdown: Annotated[str, StringConstraints(min_length=1, max_length=_MAX_MARKDOWN)]
    manual: list[ReportStep] = Field(default_factory=list, max_length=200)


@dataclass(frozen=True)
class Reported:
    """A document found in a step's review (or why the one found was left out)."""

    step: int
    playbook: str
    document: ReportDocument | None
    problem: str | None = None


def document_of(report: Any) -> ReportDocument | None:
    """The document a report carries, or None; raises ValueError for one that does not fit."""
    return carried(report, DOCUMENT_KEY, ReportDocument)


def carried[M: BaseModel](report: Any, key: str, model: type[M]) -> M | None:
    """What a report task's message carries under ``key``, validated by ``model``; None when it carries nothing
    there. Raises ValueError, naming the first field that does not fit, for one that does not."""
    if not isinstance(report, dict) or key not in report:
        return None
    try:
        return model.model_validate(report[key])
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{key}.{where}: {msg}" if where else f"{key}: {msg}") from None


def reported(steps: list[StepReview]) -> list[Reported]:
    """Every document the read steps reported, in step order, each once."""
    out = []
    for step in steps:
        for task in step.tasks:
            try:
                document = document_of(task.report)
            except ValueError as err:
                out.append(Reported(step.step, step.playbook, None, str(err)))
                continue
            if document is not None and all(r.document != document for r in out):
                out.append(Reported(step.step, step.playbook, document))
    return out


def report_path(document: ReportDocument, date: str) -> str:
    """Where the document is filed, relative to the project: ``docs/reports/<name>-<YYYY-MM-DD>.md``."""
    return f"{REPORTS_DIR}/{document.name}-{date}.md"


def manual_items(found: list[Reported], have: list[ManualItem]) -> list[ManualItem]:
    """``have`` and the person's steps of every document, each title once, with the playbook as the rule."""
    out = list(have)
    for item in found:
        for step in item.document.manual if item.document else []:
            if not any(m.title == step.title for m in out):
                out.append(ManualItem(title=step.title, reason=step.reason or "work for the person",
                                      rule=f"report of {item.playbook}"))
    return out


def markdown_of(report: Any) -> str | None:
    """A report's document as the markdown to show, or None when it carries none (or a broken one)."""
    try:
        document = document_of(report)
    except ValueError:
        return None
    return document.markdown if document else None
