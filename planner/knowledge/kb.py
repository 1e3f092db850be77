"""The knowledge base: known problems of this homelab, how to tell them and fix them.

Kept by people in ``docs/knowledge-base.yml`` (the repository's memory of
incidents), read by ``homelab docs`` (TROUBLESHOOTING.md) and by the planner's
context. Each entry lists the dates it was seen, so recurring problems stand
out: seen three times in 30 days, the entry's ``when_recurring`` advice is
offered ("add resource limits?").
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import ValidationError as HomelabValidationError

KB_FILE = Path("docs") / "knowledge-base.yml"
RECURRING_COUNT = 3
RECURRING_DAYS = 30


class KnownIssue(BaseModel):
    """One known problem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    symptoms: list[str]
    affected: list[str] = Field(description="host or group names")
    diagnostic_flow: list[str]
    root_cause: str
    resolution: str
    seen: list[dt.date] = []
    when_recurring: str | None = None
    playbooks: list[str] = []
    tags: list[str] = []

    def seen_within(self, days: int, today: dt.date) -> int:
        """How many times it was seen in the last ``days`` days (today included)."""
        return sum(1 for d in self.seen if 0 <= (today - d).days < days)

    def recurring(self, today: dt.date) -> bool:
        return self.seen_within(RECURRING_DAYS, today) >= RECURRING_COUNT


class KnowledgeBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issues: list[KnownIssue] = []

    def matching(self, hosts: set[str], groups: set[str], words: frozenset[str] | set[str] = frozenset()
                 ) -> list[KnownIssue]:
        """Entries that concern any of the hosts or groups, or share a tag with ``words``."""
        return [i for i in self.issues
                if set(i.affected) & (hosts | groups) or {t.lower() for t in i.tags} & {w.lower() for w in words}]


def load(root: Path) -> KnowledgeBase:
    """Read the knowledge base (an absent file is an empty one); errors point at the entry."""
    from planner import yamlio

    path = root / KB_FILE
    if not path.exists():
        return KnowledgeBase()
    from planner.problems import field_problems

    doc = None
    try:
        doc = yamlio.load(path, str(KB_FILE))
        return KnowledgeBase.model_validate(yamlio.plain(doc) or {})
    except yamlio.YamlSyntaxError as err:
        raise HomelabValidationError(f"{KB_FILE} is not valid YAML", "fix the file", details=[str(err)]) from None
    except ValidationError as err:
        details = [f"{fp.where}: {fp.dotted}: {fp.msg}" for fp in field_problems(err, doc, str(KB_FILE))]
        raise HomelabValidationError(f"{KB_FILE} has {len(details)} problem(s)", "fix the entries named",
                                     details=details) from None
