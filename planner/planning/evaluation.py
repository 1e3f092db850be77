"""Score a planner against golden intents: right playbooks, right hosts, right values, refusals.

Each case's intent is drafted and validated exactly as ``homelab plan`` would
(the same context pack, the same validation and repair round), but nothing
is checked on the hosts, nothing is saved and nothing runs. A case passes
when every dimension it states passes:

- playbook: the steps' playbooks, in order, equal ``expect.playbooks``
  (no steps when it is absent);
- targets: every step's resolved hosts equal ``expect.hosts`` resolved
  through the inventory, or every step's limit is ``expect.limit``;
- vars: each of ``expect.vars`` is in the vars of one of the steps;
- refusal: the draft refuses, or holds only checklist items, exactly when
  ``expect.refusal`` is true (and its reason holds ``expect.says``, when given);
- manual: the draft holds checklist items exactly when ``expect.manual`` is true.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from planner.errors import ExitCode, HomelabError, ValidationError

DIMENSIONS = ("playbook", "targets", "vars", "refusal", "manual")
#: The same environment failure (model unreachable, no key) this many cases in a row ends the run.
STOP_AFTER_SAME_FAILURE = 3


class PassRateTooLow(HomelabError):
    """The planner passed fewer cases than --min-pass-rate asks."""

    exit_code = ExitCode.HOSTS_FAILED


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playbooks: list[str] = []
    hosts: list[str] | None = None
    limit: str | None = None
    vars: dict[str, Any] = {}
    refusal: bool = False
    #: Words the refusal's reason must hold: a refusal for the right reason, not any refusal.
    says: str | None = None
    manual: bool = False

    @model_validator(mode="after")
    def _one_target_form(self) -> Expect:
        if self.hosts is not None and self.limit is not None:
            raise ValueError("give hosts or limit, not both")
        if self.says is not None and not self.refusal:
            raise ValueError("says is what a refusal says: give refusal: true too")
        if (self.hosts is not None or self.limit is not None or self.vars) and not self.playbooks:
            raise ValueError("hosts, limit and vars are scored on steps: give playbooks too")
        return self


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    intent: str = Field(min_length=1)
    expect: Expect = Expect()


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[Case] = Field(min_length=1)


def load_cases(path: Path) -> list[Case]:
    """The cases of a golden-intents file, or a ValidationError naming each problem."""
    from planner import yamlio

    display = str(path)
    if not path.is_file():
        raise ValidationError(f"no golden-intents file at {display}", "give the path of a YAML file with `cases:`, "
                              "e.g. tests/evals/intents.yml")
    try:
        doc = yamlio.load(path, display)
    except yamlio.YamlSyntaxError as err:
        raise ValidationError(f"{err.location}: {err.problem}", "fix the YAML of the golden-intents file") from None
    try:
        cases = CaseFile.model_validate(yamlio.plain(doc) if doc is not None else {}).cases
    except PydanticValidationError as exc:
        details = []
        for e in exc.errors():
            where = yamlio.locate(doc, tuple(e["loc"]), display)
            details.append(f"{where}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
                           f"{e['msg'].removeprefix('Value error, ')}")
        raise ValidationError(f"{display} is not a valid golden-intents file",
                              "see the format in the header of tests/evals/intents.yml", details=details) from None
    seen: set[str] = set()
    dupes = [c.id for c in cases if c.id in seen or seen.add(c.id)]  # type: ignore[func-returns-value]
    if dupes:
        raise ValidationError(f"{display}: duplicate case ids: {', '.join(sorted(set(dupes)))}",
                              "give every case its own id")
    return cases


@dataclass
class CaseResult:
    """How one case went."""

    case: Case
    checks: dict[str, bool]
    steps: list[dict[str, Any]] = field(default_factory=list)
    refusal: str | None = None
    manual: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    error: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    @property
    def refused(self) -> bool:
        return self.refusal is not None or (not self.steps and bool(self.manual))

    @property
    def tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    def expected_text(self) -> str:
        e = self.case.expect
        parts = []
        if e.playbooks:
            target = (",".join(e.hosts) if e.hosts is not None else e.limit) or "?"
            parts.append(" + ".join(e.playbooks) + f" @ {target}")
            parts.extend(f"{k}={v}" for k, v in e.vars.items())
        if e.refusal and not e.manual:
            parts.append("refuse")
        if e.manual:
            parts.append("manual")
        return "; ".join(parts) or "nothing"

    def got_text(self) -> str:
        if self.error:
            return f"error: {self.error}"
        parts = [f"{s['playbook']} @ {s['limit']}" + "".join(f" {k}={v}" for k, v in s["vars"].items())
                 for s in self.steps]
        if self.manual:
            parts.append(f"manual ({len(self.manual)})")
        if self.refusal is not None:
            parts.append(f"refused: {self.refusal}")
        return "; ".join(parts) or "nothing"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.case.id, "intent": self.case.intent,
            "expected": self.case.expect.model_dump(exclude_defaults=True),
            "got": {"playbooks": [s["playbook"] for s in self.steps], "steps": self.steps, "refusal": self.refusal,
                    "manual": self.manual, "questions": self.questions},
            "checks": self.checks, "passed": self.passed, "error": self.error,
            "latency_ms": self.latency_ms, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "cost_usd": self.cost_usd,
        }


@dataclass
class Report:
    """Every case's result and the totals."""

    planner: str
    model: str | None
    source: str
    results: list[CaseResult]

    @property
    def pass_rate(self) -> float:
        return sum(r.passed for r in self.results) / len(self.results) if self.results else 0.0

    def dimensions(self) -> dict[str, dict[str, Any]]:
        out = {}
        for dim in DIMENSIONS:
            scored = [r.checks[dim] for r in self.results if dim in r.checks]
            out[dim] = {"passed": sum(scored), "total": len(scored),
                        "rate": round(sum(scored) / len(scored), 4) if scored else None}
        return out

    def totals(self) -> dict[str, Any]:
        latencies = [r.latency_ms for r in self.results]
        tokens = [r.tokens for r in self.results if r.tokens is not None]
        costs = [r.cost_usd for r in self.results if r.cost_usd is not None]
        return {
            "cases": len(self.results),
            "passed": sum(r.passed for r in self.results),
            "pass_rate": round(self.pass_rate, 4),
            "dimensions": self.dimensions(),
            "refusals": {"expected": sum(r.case.expect.refusal for r in self.results),
                         "drafted": sum(r.refused for r in self.results),
                         "correct": sum(r.checks["refusal"] for r in self.results)},
            "errors": sum(r.error is not None for r in self.results),
            "latency_ms": {"mean": round(sum(latencies) / len(latencies), 1) if latencies else None,
                           "max": round(max(latencies), 1) if latencies else None},
            "tokens": sum(tokens) if tokens else None,
            "cost_usd": round(sum(costs), 6) if costs else None,
        }

    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    def as_dict(self) -> dict[str, Any]:
        return {"planner": self.planner, "model": self.model, "file": self.source, "totals": self.totals(),
                "cases": [r.as_dict() for r in self.results]}


def _score(case: Case, result: CaseResult, expected_hosts: set[str] | None) -> dict[str, bool]:
    e = case.expect
    got = [s["playbook"] for s in result.steps]
    checks = {"playbook": got == e.playbooks}
    if e.playbooks and (e.hosts is not None or e.limit is not None):
        checks["targets"] = bool(result.steps) and all(
            s["limit"] == e.limit if e.limit is not None else set(s["hosts"]) == expected_hosts
            for s in result.steps)
    if e.vars:
        checks["vars"] = all(any(k in s["vars"] and s["vars"][k] == v for s in result.steps) for k, v in e.vars.items())
    checks["refusal"] = result.refused == e.refusal and (e.says is None or e.says in (result.refusal or ""))
    checks["manual"] = bool(result.manual) == e.manual
    return checks


def evaluate(ws: Any, cases: list[Case], planner: Any, source: str = "",
             on_case: Any = None) -> Report:
    """Draft and validate each case with ``planner``; nothing is checked on hosts, saved or run."""
    from planner.planning import context
    from planner.planning.intent import DraftRejected, draft_plan
    from planner.plans.stepcheck import resolve_hosts

    expected_hosts: dict[str, set[str]] = {}
    for case in cases:
        if case.expect.hosts is not None:
            try:
                expected_hosts[case.id] = set(resolve_hosts(ws.inventory, ",".join(case.expect.hosts)))
            except HomelabError as err:
                raise ValidationError(f"case {case.id!r}: expected hosts {case.expect.hosts} are not in the inventory",
                                      err.hint or "name hosts and groups of the inventory") from None
    results = []
    model = getattr(planner, "model", None)
    last_failure: type | None = None
    streak = 0
    environment_errors: list[HomelabError] = []
    for number, case in enumerate(cases, start=1):
        if on_case is not None:
            on_case(number, len(cases), case)
        pack = context.build(ws.root, ws.inventory, case.intent)
        result = CaseResult(case, {})
        started = time.perf_counter()
        try:
            drafted, steps = draft_plan(ws, case.intent, planner, pack)
        except DraftRejected as err:
            last_failure, streak = None, 0
            result.error = "; ".join([err.message, *err.details])
        except HomelabError as err:
            # A model that timed out or answered 429 once fails its case and the others still count;
            # the same environment failure case after case means the model is not there at all.
            if err.exit_code == ExitCode.ENVIRONMENT:
                environment_errors.append(err)
                streak = streak + 1 if type(err) is last_failure else 1
                last_failure = type(err)
                if streak >= STOP_AFTER_SAME_FAILURE:
                    raise
            else:
                last_failure, streak = None, 0
            result.error = err.message
        else:
            last_failure, streak = None, 0
            draft = drafted.draft
            model = drafted.model or model
            result.steps = [{"playbook": s.playbook, "limit": s.limit, "hosts": list(s.hosts), "vars": dict(s.vars)}
                            for s in steps]
            result.refusal = draft.refusal.reason if draft.refusal is not None else None
            result.manual = [m.title for m in draft.manual]
            result.questions = [q.question for q in draft.questions]
            if drafted.usage is not None:
                result.prompt_tokens = drafted.usage.prompt_tokens
                result.completion_tokens = drafted.usage.completion_tokens
                result.cost_usd = drafted.usage.cost_usd
        result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        result.checks = _score(case, result, expected_hosts.get(case.id))
        if result.error is not None:
            # Nothing was drafted, so nothing was right: an empty answer would otherwise "pass"
            # refusal and manual for every case that expects neither.
            result.checks = dict.fromkeys(result.checks, False)
        results.append(result)
    if results and len(environment_errors) == len(results):
        # Every case failed for the environment (fewer cases than the streak that stops the run):
        # the model cannot be reached, which is exit 3, not a score.
        raise environment_errors[-1]
    return Report(planner.name, model, source, results)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def render(report: Report, out: Any) -> None:
    """The cases as a table and the totals below it, on a rich console."""
    from rich.table import Table

    table = Table(title=f"{report.planner} planner" + (f" ({report.model})" if report.model else "")
                  + f" on {report.source}", title_justify="left")
    for column, kwargs in (("case", {}), ("intent", {"max_width": 48}), ("expected", {"max_width": 40}),
                           ("got", {"max_width": 48}), ("result", {}), ("ms", {"justify": "right"}),
                           ("tokens", {"justify": "right"}), ("cost", {"justify": "right"})):
        table.add_column(column, overflow="fold", **kwargs)
    for r in report.results:
        failed = [d for d, ok in r.checks.items() if not ok]
        verdict = "[green]pass[/green]" if r.passed else f"[red]FAIL[/red] ({', '.join(failed)})"
        table.add_row(r.case.id, r.case.intent, r.expected_text(), r.got_text(), verdict, f"{r.latency_ms:.0f}",
                      "-" if r.tokens is None else str(r.tokens),
                      "-" if r.cost_usd is None else f"${r.cost_usd:.4f}")
    out.print(table)
    t = report.totals()
    dims = ", ".join(f"{d} {_rate(v['rate'])} ({v['passed']}/{v['total']})" for d, v in t["dimensions"].items()
                     if v["total"])
    out.print(f"Pass rate: {_rate(t['pass_rate'])} ({t['passed']}/{t['cases']} cases)")
    out.print(f"By dimension: {dims}")
    out.print(f"Refusals: {t['refusals']['drafted']} drafted, {t['refusals']['expected']} expected, "
              f"{t['refusals']['correct']}/{t['cases']} right; errors: {t['errors']}")
    out.print(f"Latency: mean {t['latency_ms']['mean']} ms, max {t['latency_ms']['max']} ms"
              + (f"; tokens {t['tokens']}" if t["tokens"] is not None else "")
              + (f"; cost ${t['cost_usd']:.4f}" if t["cost_usd"] is not None else ""))
