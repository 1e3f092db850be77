"""``homelab eval``: the golden intents, the scoring, and the offline planner's pass rate."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from planner.errors import ExitCode, HomelabError, ValidationError
from planner.planning.drafting import Draft, Drafted, DraftStep
from planner.planning.evaluation import Case, evaluate, load_cases, render
from planner.planning.offline import OfflinePlanner
from planner.plans.planfile import ManualItem, Refusal
from planner.workspace import Workspace
from tests.conftest import ROOT

INTENTS = ROOT / "tests" / "evals" / "intents.yml"
MIN_PASS_RATE = 0.85
# The offline planner whatever a developer's own config names.
OFFLINE = {"HOMELAB_MODEL": "offline"}


@pytest.fixture
def ws(tmp_path):
    return Workspace(ROOT, tmp_path / "state", ROOT / "inventory")


def test_golden_intents_cover_the_catalog():
    from planner.catalog.entries import load_catalog

    cases = load_cases(INTENTS)
    for entry_id, entry in load_catalog(ROOT).entries.items():
        # An entry's plan is the entry and the companions its meta file names.
        plan = [entry_id, *entry.meta.companions]
        assert sum(c.expect.playbooks == plan for c in cases) >= 3, entry_id
    assert sum(c.expect.refusal for c in cases) >= 6
    assert sum(c.expect.manual for c in cases) >= 3


def test_offline_planner_pass_rate(ws):
    report = evaluate(ws, load_cases(INTENTS), OfflinePlanner(), source="tests/evals/intents.yml")
    out = io.StringIO()
    render(report, Console(file=out, width=200, highlight=False, no_color=True))
    print(out.getvalue())
    assert report.pass_rate >= MIN_PASS_RATE, [r.case.id for r in report.failures()]
    assert not (ws.state).exists(), "an evaluation saves nothing"


class Scripted:
    """A planner that returns one fixed draft."""

    name = "scripted"
    can_repair = False

    def __init__(self, draft: Draft):
        self._draft = draft

    def draft(self, intent, pack, repair=None):
        return Drafted(self._draft, planner=self.name)


def _case(**expect) -> Case:
    return Case.model_validate({"id": "c", "intent": "anything", "expect": expect})


def _checks(ws, draft: Draft, **expect) -> dict[str, bool]:
    return evaluate(ws, [_case(**expect)], Scripted(draft)).results[0].checks


def test_targets_by_resolved_hosts_or_by_limit(ws):
    step = Draft(steps=[DraftStep(playbook="gather_facts", limit="k3s")])
    assert _checks(ws, step, playbooks=["gather_facts"], limit="k3s")["targets"]
    assert _checks(ws, step, playbooks=["gather_facts"],
                   hosts=["k3s-vm-chief-horse", "k3s-vm-still-fawn", "k3s-vm-pumped-piglet"])["targets"]
    assert not _checks(ws, step, playbooks=["gather_facts"], hosts=["k3s-vm-still-fawn"])["targets"]
    assert not _checks(ws, step, playbooks=["gather_facts"], limit="all")["targets"]


def test_vars_are_a_subset(ws):
    step = Draft(steps=[DraftStep(playbook="apply_baseline", vars={"baseline_timezone": "Europe/Berlin",
                                                                   "baseline_admin_user": "admin"})])
    assert _checks(ws, step, playbooks=["apply_baseline"], vars={"baseline_timezone": "Europe/Berlin"})["vars"]
    assert not _checks(ws, step, playbooks=["apply_baseline"], vars={"baseline_timezone": "Etc/UTC"})["vars"]


def test_manual_only_counts_as_a_refusal(ws):
    manual = Draft(manual=[ManualItem(title="Replace the switch", reason="hardware", rule="manual: physical work")])
    assert all(_checks(ws, manual, refusal=True, manual=True).values())
    refused = Draft(refusal=Refusal(reason="no", closest=["gather_facts"]))
    checks = _checks(ws, refused, refusal=True, manual=True)
    assert checks["refusal"] and not checks["manual"]
    step = Draft(steps=[DraftStep(playbook="gather_facts")])
    checks = _checks(ws, step, refusal=True)
    assert not checks["refusal"] and not checks["playbook"]


def test_an_invalid_draft_fails_its_case_only(ws):
    bad = Draft(steps=[DraftStep(playbook="gather_facts", vars={"no_such_var": 1})])
    result = evaluate(ws, [_case(playbooks=["gather_facts"])], Scripted(bad)).results[0]
    assert not result.passed and "no_such_var" in (result.error or "")


class Unreachable(HomelabError):
    exit_code = ExitCode.ENVIRONMENT


class Flaky:
    """A planner whose model fails on the listed calls (1-based)."""

    name = "flaky"
    can_repair = False

    def __init__(self, failing: set[int]):
        self.failing, self.calls = failing, 0

    def draft(self, intent, pack, repair=None):
        self.calls += 1
        if self.calls in self.failing:
            raise Unreachable("the model did not answer")
        return Drafted(Draft(steps=[DraftStep(playbook="gather_facts")]), planner=self.name)


def test_one_model_failure_fails_its_case_only(ws):
    cases = [_case(playbooks=["gather_facts"]).model_copy(update={"id": f"c{i}"}) for i in range(4)]
    report = evaluate(ws, cases, Flaky({2}))
    assert [r.passed for r in report.results] == [True, False, True, True]
    assert report.totals()["errors"] == 1


def test_the_same_failure_in_a_row_ends_the_run(ws):
    cases = [_case(playbooks=["gather_facts"]).model_copy(update={"id": f"c{i}"}) for i in range(5)]
    with pytest.raises(Unreachable):
        evaluate(ws, cases, Flaky({2, 3, 4}))


def test_bad_case_files_are_reported(tmp_path):
    bad = tmp_path / "cases.yml"
    bad.write_text("cases:\n  - id: x\n    intent: y\n    expect: {hosts: [maas], limit: all, playbooks: [a]}\n")
    with pytest.raises(ValidationError) as err:
        load_cases(bad)
    assert "hosts or limit" in " ".join(err.value.details)
    dupes = tmp_path / "dupes.yml"
    dupes.write_text("cases:\n  - {id: x, intent: a}\n  - {id: x, intent: b}\n")
    with pytest.raises(ValidationError, match="duplicate"):
        load_cases(dupes)


def test_cli_json(homelab, tmp_path):
    # The CLI's JSON over a sample of the golden intents (the pass-rate gate over all of them is
    # test_offline_planner_pass_rate, in-process): the whole file twice would cost make test a minute and a half.
    import yaml

    golden = yaml.safe_load(INTENTS.read_text())
    sample = tmp_path / "sample.yml"
    sample.write_text(yaml.safe_dump({**golden, "cases": golden["cases"][::20]}))
    result = homelab("eval", str(sample), "--format", "json", env=OFFLINE)
    assert result.rc == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["planner"] == "offline"
    assert report["totals"]["pass_rate"] >= MIN_PASS_RATE
    assert report["totals"]["cases"] == len(report["cases"]) == len(load_cases(sample)) >= 5
    assert set(report["totals"]["dimensions"]) == {"playbook", "targets", "vars", "refusal", "manual"}


def test_cli_min_pass_rate(homelab, tmp_path):
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - id: wrong-on-purpose\n    intent: apply the baseline settings to every host\n"
                     "    expect: {refusal: true}\n")
    result = homelab("eval", str(cases), "--min-pass-rate", "0.5", env=OFFLINE)
    assert result.rc == 1
    assert "Error:" in result.stderr and "Hint:" in result.stderr and "wrong-on-purpose" in result.stderr
    assert "FAIL" in result.stdout
    assert homelab("eval", str(cases), env=OFFLINE).rc == 0


def test_cli_missing_file(homelab, tmp_path):
    result = homelab("eval", str(tmp_path / "nope.yml"), env=OFFLINE)
    assert result.rc == 2 and "Error:" in result.stderr


def _mixed_cases() -> list[Case]:
    return [Case(id="facts", intent="gather facts", expect={"playbooks": ["gather_facts"]}),
            Case(id="wipe", intent="wipe the disks", expect={"refusal": True}),
            Case(id="more", intent="gather facts again", expect={"playbooks": ["gather_facts"]})]


def test_every_case_unreachable_is_an_environment_error_even_below_the_streak(ws):
    with pytest.raises(Unreachable) as err:
        evaluate(ws, _mixed_cases()[:2], Flaky({1, 2}))  # fewer cases than the streak that stops a run
    assert err.value.exit_code == ExitCode.ENVIRONMENT


def test_an_errored_case_passes_no_dimension(ws):
    report = evaluate(ws, _mixed_cases(), Flaky({2}))
    errored = report.results[1]
    assert errored.error and errored.checks and not any(errored.checks.values())
    assert report.totals()["refusals"]["correct"] == 2  # the two cases that drafted; not the errored one
    assert report.results[0].passed and report.results[2].passed
