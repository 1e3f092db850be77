"""Steps a read step proposes: the routine fix a diagnosis names, added to the plan before it is sealed.

A read playbook's report task (a ``debug`` whose ``msg`` is a mapping) may carry, for its host,
``homelab_proposals: {steps: [{playbook, kind, vars, reason}], manual: [{title, reason}]}``. The
planner treats that like a model's draft, since a host wrote it: the proposing playbook's meta must
list the playbook under ``proposes``, the step targets the proposing host alone, and its variables
go through the same validation as any plan's (argument specs, no Jinja, the inventory). What passes
becomes a step of the plan, reviewed in check mode like every other; what does not is left out and
said so in the plan's explanation.

``kind: standard`` is the routine fix (stop the runaway processes); ``kind: permanent`` (resource
limits) is offered only when the knowledge base says the problem recurs on that host
(:func:`planner.knowledge.kb.recurrence`), and the plan says how often and when it was seen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from planner.inventory.discovered import CONTROL
from planner.plans.documents import carried
from planner.plans.planfile import ManualItem, StepReview

PROPOSALS_KEY = "homelab_proposals"

def _inert(value: Any) -> Any:
    """A host's text, one line, every control character visible and inert (it reaches the terminal)."""
    if not isinstance(value, str):
        return value
    return " ".join(CONTROL.sub("\ufffd", value).split())


_Text = Annotated[str, BeforeValidator(_inert), StringConstraints(strip_whitespace=True, max_length=500)]


class ProposedStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    playbook: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
    kind: Literal["standard", "permanent"] = "standard"
    vars: dict[str, Any] = Field(default_factory=dict)
    reason: _Text = ""


class ProposedManual(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, BeforeValidator(_inert), StringConstraints(strip_whitespace=True, min_length=1,
                                                                     max_length=500)]
    reason: _Text = ""


class Proposals(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[ProposedStep] = Field(default_factory=list, max_length=20)
    manual: list[ProposedManual] = Field(default_factory=list, max_length=50)


@dataclass(frozen=True)
class Proposal:
    """One proposed step as the planner will add it: host, playbook, variables, why."""

    host: str
    playbook: str
    kind: str
    vars: dict[str, Any]
    rationale: str


@dataclass
class Outcome:
    """What a read step's proposals came to: steps to add, checklist items, and sentences for the plan."""

    steps: list[Proposal] = field(default_factory=list)
    manual: list[ManualItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Recurrence:
    """How often a problem a playbook resolves was seen on a host before: its earlier sightings within the
    knowledge base's window, and how many make it recurring (``knowledge:`` in the config)."""

    symptom: str
    dates: list[dt.date]
    needed: int
    days: int

    @property
    def recurs(self) -> bool:
        return len(self.dates) >= self.needed


#: ``(host, playbook proposed) -> Recurrence`` of the problem that playbook resolves there (the one seen most),
#: or None when the playbook resolves nothing the knowledge base can count.
Recurring = Callable[[str, str], Recurrence | None]


def collect(review: StepReview, proposer: str, allowed: list[str], hosts: list[str], recurring: Recurring) -> Outcome:
    """The proposals of one read step's review, checked against what its meta allows and the hosts it ran on.

    Variables are not validated here (:func:`planner.plans.build.propose` does it with the catalog), only
    the shape, the playbook allow-list and the host.
    """
    out = Outcome()
    seen: set[tuple[str, str]] = set()
    for task in review.tasks:
        try:
            proposals = carried(task.report, PROPOSALS_KEY, Proposals)
        except ValueError as err:
            out.notes.append(f"{proposer} on {task.host} proposed something that does not fit and was left out: {err}.")
            continue
        if proposals is None or (task.host, task.task) in seen:
            continue
        seen.add((task.host, task.task))
        if task.host not in hosts:
            out.notes.append(f"{proposer} reported proposals for {task.host}, a host it did not run on; left out.")
            continue
        for step in proposals.steps:
            if step.playbook not in allowed:
                out.notes.append(f"{proposer} on {task.host} proposed {step.playbook}, which its catalog entry "
                                 "does not list under proposes; left out.")
                continue
            why = f"Proposed by {proposer} on {task.host}: {step.reason}".rstrip(": ")
            if step.kind == "permanent":
                # A permanent fix is offered only for a problem that keeps coming back; else the plan says so.
                known = recurring(task.host, step.playbook)
                if known is None or not known.recurs:
                    times = "" if known is None else (f"seen {len(known.dates)}× in {known.days} days there, "
                                                        if known.dates else "not seen there before, ")
                    needed = f"{known.needed}×" if known else "often enough"
                    out.notes.append(f"The permanent fix {step.playbook} proposed for {task.host} waits until the "
                                     f"problem keeps coming back ({times}{needed} makes it recurring).")
                    continue
                seen_on = ", ".join(d.isoformat() for d in known.dates)
                note = (f"{known.symptom} seen {len(known.dates)}× in {known.days} days on {task.host} "
                        f"({seen_on}): the permanent fix is proposed as its own step.")
                out.notes.append(note)
                why = f"{why} {note}"
            out.steps.append(Proposal(task.host, step.playbook, step.kind, dict(step.vars), why))
        for item in proposals.manual:
            if not any(m.title == item.title for m in out.manual):
                out.manual.append(ManualItem(title=item.title, reason=item.reason or "work for the person",
                                             rule=f"proposed by {proposer}"))
    return out
