"""The approval policy: ``.homelab/policy.yml``, which reviewed change plans may apply without the prompt.

A person delegates routine fixes by naming them::

    auto_apply: false        # true: `homelab plan` applies a covered plan right after its review
    critical: [maas, k3s]    # hosts or groups a person always approves (the default when the key is absent)
    rules:
      - name: baseline-on-hypervisors
        playbooks: [apply_baseline]
        targets: [proxmox]             # hosts or groups
        unless_vars: [VARIABLE]        # a step setting any of these (not to its default) is not covered
        max_hosts: 3

The file is read from the project root and checked against the catalog (each playbook exists and is a
``change`` playbook: read steps need no approval) and the inventory (every target and critical name is a
host or a group); a mistake names its ``file:line:col``. Without the file no rule covers anything, and
the default critical list still stands.

A plan is *covered* (:func:`decide`) only when it has change steps, a finished check-mode review and no
open question, and every change step is covered by one rule: its playbook listed, every host inside the
rule's targets, no host critical (itself or through a group), no more hosts than ``max_hosts``, none of
``unless_vars`` set — and the review saw every one of those hosts through: nothing failed, nothing
unreachable, no task whose outcome check mode could not see (``unknown``). Anything else waits for a
person, and the decision says the first reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic import ValidationError as PydanticValidationError

from planner.errors import ValidationError, did_you_mean
from planner.paths import STATE_NAME

POLICY_NAME = "policy.yml"
#: Where the file lives, relative to the project root, as every message names it.
POLICY_SHOWN = f"{STATE_NAME}/{POLICY_NAME}"
#: The hosts and groups a person always approves when the file does not say otherwise: MAAS (DHCP and DNS
#: for everything) and the k3s servers (the cluster's quorum).
DEFAULT_CRITICAL = ("maas", "k3s")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class PolicyError(ValidationError):
    """``.homelab/policy.yml`` is invalid: nothing is approved by it until it is fixed (exit 2)."""


class Rule(BaseModel):
    """Playbooks that may run on these targets without the prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    playbooks: Annotated[list[Name], Field(min_length=1)]
    targets: Annotated[list[Name], Field(min_length=1)]
    unless_vars: list[Name] = []
    max_hosts: Annotated[int, Field(ge=1)] | None = None


class Policy(BaseModel):
    """The whole file, with its defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_apply: bool = False
    critical: list[Name] = list(DEFAULT_CRITICAL)
    rules: list[Rule] = []

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in value:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}; the session log names the rule that "
                                 "approved a plan, so each name must be unique")
            seen.add(rule.name)
        return value


@dataclass(frozen=True)
class LoadedPolicy:
    """The policy in force: the file's (validated) or, without one, the defaults."""

    policy: Policy
    present: bool  # False: no file, so no rule covers anything

    @property
    def critical_shown(self) -> str:
        """``critical: [maas, k3s]``, as the file has it (or would), for reasons a person reads."""
        return f"critical: [{', '.join(self.policy.critical)}]"


def policy_path(root: Path) -> Path:
    """Where the policy lives: ``.homelab/policy.yml`` under the project root."""
    return root / STATE_NAME / POLICY_NAME


def load_policy(root: Path, catalog: Any, inventory: Any) -> LoadedPolicy:
    """The policy for the project at ``root``, checked against ``catalog`` and ``inventory``.

    ``catalog`` is a :class:`planner.catalog.entries.Catalog`, ``inventory`` a
    :class:`planner.inventory.hosts.Inventory`. Raises :class:`PolicyError` listing every problem with
    its ``file:line:col``.
    """
    from planner.config import read_mapping
    from planner.problems import field_problems

    doc, data = read_mapping(policy_path(root), POLICY_SHOWN, PolicyError, "auto_apply: false")
    if doc is None:
        return LoadedPolicy(Policy(), present=False)
    try:
        policy = Policy.model_validate(data)
    except PydanticValidationError as err:
        problems = []
        for fp in field_problems(err, doc, POLICY_SHOWN):
            message = fp.msg
            if fp.kind == "extra_forbidden":
                known = Rule.model_fields if fp.loc[:1] == ("rules",) else Policy.model_fields
                message = f"unknown key{did_you_mean(str(fp.loc[-1]), known)} (known: {', '.join(known)})"
            problems.append(f"{fp.where or POLICY_SHOWN}: {fp.dotted}: {message}")
        raise _invalid(problems) from None
    problems = [f"{_where(doc, loc)}: {message}" for loc, message in _reference_problems(policy, catalog, inventory)]
    if problems:
        raise _invalid(problems)
    return LoadedPolicy(policy, present=True)


def _invalid(problems: list[str]) -> PolicyError:
    return PolicyError(f"{POLICY_SHOWN} is invalid ({len(problems)} problem{'s' if len(problems) > 1 else ''}); "
                       "nothing is approved by it until it is fixed",
                       "fix the lines named above (the README's \"Approval policy\" lists the keys), then "
                       "homelab policy check", details=problems)


def _where(doc: Any, loc: tuple[Any, ...]) -> str:
    from planner import yamlio

    return str(yamlio.locate(doc, loc, POLICY_SHOWN))


def _reference_problems(policy: Policy, catalog: Any, inventory: Any) -> list[tuple[tuple[Any, ...], str]]:
    """What the policy names that the catalog or the inventory does not have: (location, message) each."""
    names = set(inventory.hosts) | set(inventory.groups)
    out: list[tuple[tuple[Any, ...], str]] = []

    def unknown_target(loc: tuple[Any, ...], name: str) -> None:
        if name not in names:
            out.append((loc, f"{name!r} is no host or group of the inventory{did_you_mean(name, names)}"))

    for i, name in enumerate(policy.critical):
        unknown_target(("critical", i), name)
    for r, rule in enumerate(policy.rules):
        declared: set[str] = set()
        for p, playbook in enumerate(rule.playbooks):
            entry = catalog.entries.get(playbook)
            if entry is None:
                out.append((("rules", r, "playbooks", p), f"no playbook {playbook!r} in the catalog"
                            f"{did_you_mean(playbook, catalog.entries)}"))
                continue
            if entry.meta.risk != "change":
                out.append((("rules", r, "playbooks", p), f"{playbook} is a read playbook: it runs during the "
                            "review and needs no approval, so a rule may list only change playbooks"))
            declared |= set(entry.options)
        for t, target in enumerate(rule.targets):
            unknown_target(("rules", r, "targets", t), target)
        for v, var in enumerate(rule.unless_vars):
            if declared and var not in declared:
                out.append((("rules", r, "unless_vars", v), f"{var!r} is not a variable of "
                            f"{', '.join(rule.playbooks)}{did_you_mean(var, declared)}"))
    return out


@dataclass(frozen=True)
class StepDecision:
    """One change step: the rule that covers it, or why none does."""

    step: int  # index in the plan's steps
    playbook: str
    rule: str | None
    reason: str | None


@dataclass(frozen=True)
class Decision:
    """Whether a plan may apply without the prompt; ``reason`` is the first thing that says no."""

    steps: tuple[StepDecision, ...]
    reason: str | None

    @property
    def covered(self) -> bool:
        """True when the policy approves the whole plan."""
        return self.reason is None

    @property
    def rules(self) -> list[str]:
        """The names of the rules that cover its steps, each once, in step order."""
        return list(dict.fromkeys(s.rule for s in self.steps if s.rule))

    @property
    def approval(self) -> str:
        """The session log's decision for a covered plan."""
        rules = self.rules
        which = f"rule {rules[0]}" if len(rules) == 1 else f"rules {', '.join(rules)}"
        return f"approved by policy {which} ({POLICY_SHOWN})"


def decide(plan: Any, loaded: LoadedPolicy, catalog: Any, inventory: Any) -> Decision:
    """Whether ``loaded`` covers ``plan`` (a :class:`planner.plans.planfile.Plan`), and per step why."""
    changes = [i for i, s in enumerate(plan.steps) if s.risk == "change"]
    whole = _plan_reason(plan, loaded, changes)
    if whole is not None:
        return Decision((), whole)
    decided = tuple(_step_decision(plan, i, loaded, catalog, inventory) for i in changes)
    first = next((f"step {d.step + 1} ({d.playbook}): {d.reason}" for d in decided if d.reason), None)
    return Decision(decided, first)


def _plan_reason(plan: Any, loaded: LoadedPolicy, changes: list[int]) -> str | None:
    """What keeps the whole plan from the policy, before any step is looked at."""
    if not changes:
        return "the plan has no change step: nothing to approve"
    if not loaded.present:
        return f"there is no {POLICY_SHOWN}, so no rule covers anything"
    if not loaded.policy.rules:
        return f"{POLICY_SHOWN} has no rules"
    if plan.review.skipped:
        return "the plan was not reviewed (--no-check)"
    if plan.questions:
        return f"the plan leaves a question for a person: {plan.questions[0].question}"
    # A read step that failed or never finished is a diagnosis the person has not seen through either: the
    # fix it led to may rest on half the facts.
    for review in plan.review.steps:
        if plan.steps[review.step].risk == "read" and (review.error or review.status != "successful"):
            return (f"step {review.step + 1} ({review.playbook}) did not run through in the review "
                    f"({review.error or review.status})")
    return None


def _step_decision(plan: Any, index: int, loaded: LoadedPolicy, catalog: Any, inventory: Any) -> StepDecision:
    step = plan.steps[index]
    reason = _critical(step.hosts, loaded, inventory)
    rule = None
    if reason is None:
        listing = [r for r in loaded.policy.rules if step.playbook in r.playbooks]
        if not listing:
            reason = f"no rule of {POLICY_SHOWN} lists {step.playbook}"
        else:
            misses = [(r, _rule_miss(r, step, catalog, inventory)) for r in listing]
            rule = next((r.name for r, miss in misses if miss is None), None)
            reason = None if rule else "; ".join(f"rule {r.name}: {miss}" for r, miss in misses)
    if reason is None:
        reason = _review_miss(plan, index, step.hosts)
    return StepDecision(index, step.playbook, rule if reason is None else None, reason)


def _critical(hosts: Iterable[str], loaded: LoadedPolicy, inventory: Any) -> str | None:
    critical = loaded.policy.critical
    for host in hosts:
        if host in critical:
            return f"{host} is critical (policy: {loaded.critical_shown})"
        through = sorted(inventory.groups_of(host) & set(critical)) if host in inventory.hosts else []
        if through:
            return f"{host} is critical through group {through[0]} (policy: {loaded.critical_shown})"
    return None


def _rule_miss(rule: Rule, step: Any, catalog: Any, inventory: Any) -> str | None:
    """Why ``rule`` does not cover ``step`` (whose playbook it lists), or None when it does."""
    allowed = {h for t in rule.targets for h in inventory.members(t)}
    outside = [h for h in step.hosts if h not in allowed]
    if outside:
        return f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} not in its targets " \
               f"({', '.join(rule.targets)})"
    if rule.max_hosts is not None and len(step.hosts) > rule.max_hosts:
        return f"the step has {len(step.hosts)} hosts, more than its max_hosts {rule.max_hosts}"
    options = catalog.entries[step.playbook].options if step.playbook in catalog.entries else {}
    set_here = [v for v in rule.unless_vars
                if v in step.vars and (v not in options or step.vars[v] != options[v].default)]
    if set_here:
        return f"the step sets {', '.join(set_here)} (unless_vars)"
    return None


def _review_miss(plan: Any, index: int, hosts: list[str]) -> str | None:
    """What the review of step ``index`` did not see through on ``hosts``, or None when it saw all of it."""
    review = next((r for r in plan.review.steps if r.step == index), None)
    if review is None or review.error or review.status not in ("successful", "failed"):
        status = "missing" if review is None else review.error or review.status
        return f"its check run did not finish ({status})"
    for host in hosts:
        summary = review.hosts.get(host)
        if summary is None:
            return f"the review has no result for {host}"
        if summary.unreachable or summary.failed:
            return f"the review shows {host} {'unreachable' if summary.unreachable else 'failed'}"
        blind = next((t for t in review.tasks if t.host == host and t.status == "unknown"), None)
        if blind is not None:
            return (f"the review could not see what {blind.task!r} would do on {host}"
                    f" ({blind.unknown_reason or 'unknown in check mode'})")
    return "its check run failed" if review.status == "failed" else None
