"""The matcher of apply results against the review: pure data, StepReviews built by hand."""

from __future__ import annotations

import pytest

from planner.plans.planfile import ApplyRecord, Diff, StepReview, TaskResult
from planner.plans.surprises import compare, differences, grouped, keyed

MOTD = "Write the message of the day"


def step(*tasks: TaskResult, index: int = 0, check: bool = True) -> StepReview:
    return StepReview(step=index, playbook="apply_baseline", check=check, status="successful", rc=0,
                      tasks=list(tasks))


def result(host: str, status: str, task: str = MOTD, role: str | None = "baseline", **kw) -> TaskResult:
    return TaskResult.model_validate({"host": host, "task": task, "role": role, "status": status, **kw})


@pytest.mark.parametrize(("reviewed", "applied", "kind"), [
    ("ok", "changed", "changed"),
    ("skipped", "changed", "changed"),
    ("ok", "failed", "failed"),
    ("changed", "failed", "failed"),
    ("skipped", "unreachable", "failed"),
    ("changed", "ok", "did_not_happen"),
])
def test_each_kind_of_mismatch_is_classified(reviewed: str, applied: str, kind: str) -> None:
    found = compare([step(result("maas", reviewed))], [step(result("maas", applied), check=False)])
    listed = found.surprises + found.did_not_happen
    assert [(s.kind, s.host, s.task, s.role, s.reviewed, s.applied) for s in listed] == [
        (kind, "maas", MOTD, "baseline", reviewed, applied)]
    assert (found.did_not_happen == []) == (kind != "did_not_happen")  # a change not needed is no surprise
    if kind == "changed":
        assert listed[0].reason == f"changed though the review said {reviewed}"


@pytest.mark.parametrize(("reviewed", "applied"), [
    ("ok", "ok"), ("changed", "changed"), ("skipped", "skipped"), ("failed", "failed"),
    ("unknown", "changed"), ("unknown", "failed"), ("unknown", "ok"),
])
def test_what_the_review_showed_or_could_not_see_is_expected(reviewed: str, applied: str) -> None:
    found = compare([step(result("maas", reviewed))], [step(result("maas", applied), check=False)])
    assert found.surprises == [] and found.did_not_happen == []


def test_a_task_the_review_never_ran_on_that_host_is_not_in_review() -> None:
    found = compare([step(result("maas", "ok"))],
                    [step(result("maas", "ok"), result("maas", "ok", task="Restart it"),
                          result("still-fawn", "changed"), check=False)])
    assert [(s.kind, s.host, s.task, s.reviewed, s.applied) for s in found.surprises] == [
        ("not_in_review", "maas", "Restart it", None, "ok"),
        ("not_in_review", "still-fawn", MOTD, None, "changed")]


def test_identity_is_step_host_role_task_and_occurrence() -> None:
    # The same role included twice: its second run of the task is matched to the second, not the first.
    review = step(result("maas", "ok"), result("maas", "changed"), result("maas", "ok", role="other"))
    applied = step(result("maas", "ok"), result("maas", "changed"), result("maas", "changed", role="other"),
                   check=False)
    found = compare([review], [applied])
    assert [(s.kind, s.role) for s in found.surprises] == [("changed", "other")]
    assert sorted(k[4] for k in keyed([review]) if k[2] == "baseline") == [0, 1]
    # The second occurrence changing where the review said ok is caught, not hidden behind the first.
    twice = compare([step(result("maas", "changed"), result("maas", "ok"))],
                    [step(result("maas", "changed"), result("maas", "changed"), check=False)])
    assert [(s.kind, s.reviewed) for s in twice.surprises] == [("changed", "ok")]
    # Another step with the same task is another identity.
    assert [s.kind for s in compare([review], [step(result("maas", "ok"), index=1)]).surprises] == ["not_in_review"]


def test_the_same_task_on_several_hosts_is_grouped_once() -> None:
    found = compare([step(result("maas", "ok"), result("still-fawn", "ok"), result("fawn", "ok"))],
                    [step(result("still-fawn", "changed"), result("maas", "changed"), result("fawn", "ok"),
                          check=False)])
    assert grouped(found.surprises) == [
        (f"apply_baseline: baseline : {MOTD} — changed though the review said ok", ["maas", "still-fawn"])]


def test_apply_records_carry_the_surprises_and_load_back() -> None:
    found = compare([step(result("maas", "ok"))], [step(result("maas", "changed"), check=False)])
    record = ApplyRecord(started_at="t", status="succeeded", surprises=found.surprises,
                         surprise_count=len(found.surprises))
    again = ApplyRecord.model_validate_json(record.model_dump_json())
    assert again.surprise_count == 1 and again.surprises[0].reason == "changed though the review said ok"


def test_a_fresh_check_that_matches_the_review_has_no_differences() -> None:
    diff = Diff(before_header="/etc/motd", before="a\n", after="b\n")
    moved = diff.model_copy(update={"after_header": "/elsewhere/motd.j2"})  # headers name run paths: ignored
    review = [step(result("maas", "changed", diffs=[diff]), result("maas", "unknown", task="Apply sysctl"))]
    fresh = [step(result("maas", "changed", diffs=[moved]),
                  result("maas", "unknown", task="Apply sysctl", diffs=[Diff(prepared="anything")]))]
    assert differences(review, fresh) == []


def test_a_fresh_check_names_every_difference() -> None:
    review = [step(result("maas", "ok"), result("maas", "changed", task="B", diffs=[Diff(before="1", after="2")]),
                   result("maas", "ok", task="C"), result("maas", "unknown", task="D"))]
    fresh = [step(result("maas", "changed"), result("maas", "changed", task="B", diffs=[Diff(before="0", after="2")]),
                  result("maas", "changed", task="D"), result("maas", "ok", task="E"))]
    assert differences(review, fresh) == [
        f"maas: baseline : {MOTD}: the review said ok, the hosts now say changed",
        "maas: baseline : B: changed as reviewed, but with a different diff",
        "maas: baseline : C: in the review (ok), not in the recheck",
        "maas: baseline : D: the review said unknown, the hosts now say changed",
        "maas: baseline : E: not in the review, ok in the recheck",
    ]


def test_read_steps_are_not_rechecked_and_an_unfinished_recheck_differs() -> None:
    read = step(result("maas", "ok", task="Report"), index=0, check=False)
    review = [read, step(result("maas", "ok"), index=1)]
    unfinished = step(result("maas", "ok"), index=1).model_copy(update={"status": "outcome_unknown"})
    assert differences(review, [step(result("maas", "ok"), index=1)]) == []
    assert differences(review, [unfinished]) == [
        "step 2 (apply_baseline): the recheck did not finish (outcome_unknown)"]
