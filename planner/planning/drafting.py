"""From plain words to a plan: the planner interface, and what is done with a draft.

A planner (the offline one, or an LLM through litellm) reads the intent and
a context pack and returns a *draft*: catalog steps with targets, variables
and a rationale; checklist items for the person; open questions with the
assumption taken; or a refusal with the closest catalog entries. A draft is
untrusted: it is held to the rules of :mod:`planner.planning.rules` (the
same for every planner), then goes through exactly the validation a plan
named on the command line goes through (catalog, argument specs, host patterns, no
Jinja). A planner that can repair its draft gets the validation errors back
once; after that the plan fails with the errors shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from planner.plans.planfile import ManualItem, OpenQuestion, Refusal, Usage


class DraftStep(BaseModel):
    """One step as a planner proposes it."""

    model_config = ConfigDict(extra="forbid")

    playbook: str
    limit: str = "all"
    vars: dict[str, Any] = Field(default_factory=dict)
    rationale: str = ""


class Draft(BaseModel):
    """What a planner returns. Exactly one of ``steps``/``manual`` (possibly both) or ``refusal`` matters."""

    model_config = ConfigDict(extra="forbid")

    steps: list[DraftStep] = Field(default_factory=list)
    manual: list[ManualItem] = Field(default_factory=list)
    questions: list[OpenQuestion] = Field(default_factory=list)
    refusal: Refusal | None = None
    explanation: str = ""


@dataclass(frozen=True)
class Drafted:
    """A draft and who made it, at what cost."""

    draft: Draft
    planner: str  # "offline" or "llm"
    model: str | None = None
    usage: Usage | None = None


class Planner(Protocol):
    """Anything that turns an intent into a draft."""

    name: str
    can_repair: bool

    def draft(self, intent: str, pack: Any, repair: list[str] | None = None) -> Drafted:
        """Draft a plan for ``intent``; ``repair`` holds the errors of the previous draft, when retried."""
        ...
