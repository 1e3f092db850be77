"""The learning loop's knowledge base: occurrences written through the round-trip writer, recurrence per host
and symptom counted once per time it came back after a fix, and the settings that say when a problem recurs."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path

import pytest

from planner.config import ConfigError, load_config
from planner.errors import ValidationError
from planner.knowledge import kb
from tests.conftest import ROOT, kb_as_documented

HOST = "k3s-vm-still-fawn"
GROUPS = {"k3s", "k3s_agents"}
DAY = dt.date(2026, 12, 6)
CPU = {"id": "cpu-runaway", "severity": "critical", "summary": "3 processes above 80% of a core in both samples",
       "evidence": "pid 4242", "runbook": "remediate_runaway_processes"}
DISK = {"id": "disk-full", "severity": "warning", "summary": "/srv/lab-full is 98% used"}
INFO = {"id": "load-high", "severity": "info", "summary": "load 1.2 on 4 cores"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    documented = kb_as_documented((ROOT / "docs" / "knowledge-base.yml").read_text())
    (tmp_path / "docs" / "knowledge-base.yml").write_text(documented)
    return tmp_path


def kb_text(root: Path) -> str:
    return (root / kb.KB_FILE).read_text(encoding="utf-8")


def only_inserted(old: str, new: str) -> list[str]:
    """The lines ``new`` adds to ``old``; fails when any line of ``old`` changed or went."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    assert all(op in ("equal", "insert") for op, *_ in ops), "a line that was there changed"
    return [line for op, _, _, j1, j2 in ops if op == "insert" for line in b[j1:j2]]


# -- writing ----------------------------------------------------------------------------------------------------

def test_a_diagnosis_is_appended_to_the_issue_that_explains_it_and_nothing_else_moves(root: Path) -> None:
    before = kb_text(root)
    learned = kb.record_diagnosis(root, HOST, [CPU, INFO], "7f3a09bc", "2026-12-06T10:02:11Z", groups=GROUPS)
    after = kb_text(root)
    assert learned.added == [f"cpu-runaway on {HOST} → runaway-process-k3s-vm"] and learned.opened == []
    added = only_inserted(before, after)
    assert added[0] == "    occurrences:\n" and "kind: 'diagnosis'" in "".join(added)
    assert after.startswith(before.split("issues:")[0]), "the person's header comments stay"
    runaway = next(i for i in kb.load(root).issues if i.id == "runaway-process-k3s-vm")
    assert runaway.occurrences == [kb.Occurrence(date=DAY, host=HOST, symptom="cpu-runaway", kind="diagnosis",
                                                 plan="7f3a09bc", summary=CPU["summary"])]
    original = next(i for i in kb.load(ROOT).issues if i.id == "runaway-process-k3s-vm")
    assert runaway.model_copy(update={"occurrences": []}) == original.model_copy(update={"occurrences": []}), \
        "what a person wrote is untouched"


def test_the_same_plan_host_and_symptom_is_one_occurrence_however_often_recorded(root: Path) -> None:
    kb.record_diagnosis(root, HOST, [CPU], "7f3a09bc", DAY, groups=GROUPS)
    once = kb_text(root)
    again = kb.record_diagnosis(root, HOST, [CPU], "7f3a09bc", DAY, groups=GROUPS)
    assert again.added == [] and again.path is None and kb_text(root) == once
    kb.record_fix(root, HOST, ["cpu-runaway"], "7f3a09bc", "changed", "approved with --yes", DAY, groups=GROUPS)
    kinds = [o.kind for i in kb.load(root).issues for o in i.occurrences]
    assert kinds == ["diagnosis", "fix"], "a fix of the same plan is its own occurrence"


def test_an_info_finding_or_an_unknown_id_is_not_remembered(root: Path) -> None:
    before = kb_text(root)
    learned = kb.record_diagnosis(root, HOST, [INFO, {"id": "made-up", "severity": "critical"}], "p1", DAY,
                                  groups=GROUPS)
    assert learned.added == [] and kb_text(root) == before


def test_a_finding_no_issue_explains_opens_a_plain_issue_marked_as_the_tools(root: Path) -> None:
    before = kb_text(root)
    learned = kb.record_diagnosis(root, HOST, [DISK], "p1", DAY, groups=GROUPS)
    assert learned.opened == [f"disk-full-{HOST}"]
    only_inserted(before, kb_text(root))
    opened = next(i for i in kb.load(root).issues if i.id == f"disk-full-{HOST}")
    assert opened.added_by == "homelab" and opened.root_cause == "not yet known"
    assert opened.symptoms == [DISK["summary"]] and opened.affected == [HOST] and opened.findings == ["disk-full"]
    assert opened.title == f"A filesystem is nearly full on {HOST}"
    # The next sighting goes to that issue rather than opening another.
    kb.record_diagnosis(root, HOST, [DISK], "p2", DAY + dt.timedelta(days=1), groups=GROUPS)
    assert [o.plan for o in next(i for i in kb.load(root).issues if i.id == opened.id).occurrences] == ["p1", "p2"]
    assert len(kb.load(root).issues) == 5  # the four known issues and the one opened


def test_an_issue_is_matched_through_the_hosts_groups_and_the_host_itself_wins(root: Path) -> None:
    kb.record_diagnosis(root, "k3s-vm-pumped-piglet", [CPU], "p1", DAY, groups={"k3s"})
    runaway = next(i for i in kb.load(root).issues if i.id == "runaway-process-k3s-vm")
    assert [o.host for o in runaway.occurrences] == ["k3s-vm-pumped-piglet"], "matched by its group k3s"
    kb.record_diagnosis(root, "maas", [CPU], "p1", DAY, groups={"infra"})
    assert "cpu-runaway-maas" in {i.id for i in kb.load(root).issues}, "no issue affects maas: one is opened"


def test_a_new_knowledge_base_is_created_and_an_empty_list_is_appended_to(tmp_path: Path) -> None:
    kb.record_diagnosis(tmp_path, HOST, [DISK], "p1", DAY, groups=set())
    text = kb_text(tmp_path)
    assert text.startswith("# Known problems") and kb.load(tmp_path).issues[0].id == f"disk-full-{HOST}"
    (tmp_path / kb.KB_FILE).write_text(
        "issues:\n  - id: full  # mine\n    title: Full\n    symptoms: [x]\n    affected: [k3s]\n"
        "    diagnostic_flow: [y]\n    root_cause: z\n    resolution: w\n    findings: [disk-full]\n"
        "    occurrences: []\n")
    kb.record_diagnosis(tmp_path, HOST, [DISK], "p2", DAY, groups={"k3s"})
    assert "  - id: full  # mine\n" in kb_text(tmp_path)
    assert [o.plan for o in kb.load(tmp_path).issues[0].occurrences] == ["p2"]


def test_a_knowledge_base_the_writer_cannot_edit_is_an_error_with_a_hint_and_stays(root: Path) -> None:
    # The same issue twice through an anchor: appending to one would change the other, so nothing is written.
    (root / kb.KB_FILE).write_text(
        "issues:\n  - &full\n    id: full\n    title: Full\n    symptoms: [x]\n    affected: [maas]\n"
        "    diagnostic_flow: [y]\n    root_cause: z\n    resolution: w\n    findings: [disk-full]\n  - *full\n")
    before = kb_text(root)
    with pytest.raises(kb.KnowledgeError) as info:
        kb.record_diagnosis(root, "maas", [DISK, CPU], "p1", DAY, groups=set())
    assert info.value.hint and kb_text(root) == before, "neither occurrence is written: one edit, all or none"


def test_an_unknown_finding_id_in_an_issue_says_which_was_meant(root: Path) -> None:
    text = kb_text(root).replace("findings: [cpu-runaway,", "findings: [cpu-runway,")
    (root / kb.KB_FILE).write_text(text)
    with pytest.raises(ValidationError) as info:
        kb.load(root)
    assert any("issues[2].findings" in d and "did you mean 'cpu-runaway'" in d for d in info.value.details)


# -- recurrence -------------------------------------------------------------------------------------------------

def test_recurrence_counts_each_return_after_a_fix_within_the_window_and_a_persons_dates_too(root: Path) -> None:
    kb.record_diagnosis(root, HOST, [CPU], "a1", "2026-11-30", groups=GROUPS)
    kb.record_diagnosis(root, HOST, [CPU], "a2", "2026-11-30", groups=GROUPS)  # looked at again, not fixed yet
    kb.record_fix(root, HOST, ["cpu-runaway"], "a2", "changed", "approved at the prompt", "2026-11-30", groups=GROUPS)
    kb.record_diagnosis(root, HOST, [CPU], "a3", "2026-11-30", groups=GROUPS)  # back the same day, after the fix
    kb.record_fix(root, HOST, ["cpu-runaway"], "a3", "changed", "approved at the prompt", "2026-11-30", groups=GROUPS)
    kb.record_diagnosis(root, HOST, [CPU], "a4", "2026-12-06", groups=GROUPS)
    # seen (a person's): 2026-11-04, 11-12, 11-21; 11-04 is 32 days before 12-06, outside 30 days.
    dates = kb.recurrence(root, HOST, "cpu-runaway", DAY, groups=GROUPS)
    assert dates == [dt.date(2026, 11, 12), dt.date(2026, 11, 21), dt.date(2026, 11, 30), dt.date(2026, 11, 30),
                     DAY]
    assert kb.recurrence(root, HOST, "cpu-runaway", DAY, plan="a4", groups=GROUPS)[-1] == dt.date(2026, 11, 30), \
        "the asking plan's own diagnosis is not an earlier sighting"
    assert dt.date(2026, 11, 12) not in kb.recurrence(root, HOST, "cpu-runaway", dt.date(2026, 12, 12),
                                                      groups=GROUPS), "30 days back is outside the window"
    assert kb.recurrence(root, HOST, "disk-full", DAY, groups=GROUPS) == []
    assert kb.recurrence(root, "maas", "cpu-runaway", DAY, groups={"infra"}) == [], "another host's are not its"


def test_a_persons_dates_count_only_for_the_hosts_the_issue_names_itself(root: Path) -> None:
    # runaway-process-k3s-vm names k3s-vm-still-fawn and the k3s group; its seen dates say no host.
    assert kb.recurrence(root, HOST, "cpu-runaway", DAY, groups=GROUPS) == [dt.date(2026, 11, 12),
                                                                             dt.date(2026, 11, 21)]
    assert kb.recurrence(root, "k3s-vm-chief-horse", "cpu-runaway", DAY, groups=GROUPS) == [], \
        "a member of the group was never seen with it"


def test_one_diagnosis_that_finds_two_of_a_problems_symptoms_saw_it_once(root: Path) -> None:
    load = {"id": "load-high", "severity": "warning", "summary": "load is 1.17 per core over 5 minutes"}
    for plan, day in (("c1", "2026-12-04"), ("c2", "2026-12-05")):
        kb.record_diagnosis(root, HOST, [CPU, load], plan, day, groups=GROUPS)
        kb.record_fix(root, HOST, ["cpu-runaway", "load-high"], plan, "changed", "approved with --yes", day,
                      groups=GROUPS)
    issue = next(i for i in kb.load(root).issues if i.id == "runaway-process-k3s-vm")
    assert len([o for o in issue.occurrences if o.kind == "diagnosis"]) == 4, "both symptoms are remembered"
    assert issue.sightings(with_person=False) == [dt.date(2026, 12, 4), dt.date(2026, 12, 5)]
    assert issue.sightings(symptom="load-high", with_person=False) == [dt.date(2026, 12, 4), dt.date(2026, 12, 5)]


def test_a_fix_that_failed_fixed_nothing(root: Path) -> None:
    kb.record_diagnosis(root, "k3s-vm-chief-horse", [CPU], "b1", "2026-12-01", groups=GROUPS)
    kb.record_fix(root, "k3s-vm-chief-horse", ["cpu-runaway"], "b1", "failed", None, "2026-12-01", groups=GROUPS)
    kb.record_diagnosis(root, "k3s-vm-chief-horse", [CPU], "b2", "2026-12-02", groups=GROUPS)
    kb.record_fix(root, "k3s-vm-chief-horse", ["cpu-runaway"], "b2", "unreachable", None, "2026-12-02",
                  groups=GROUPS)
    kb.record_diagnosis(root, "k3s-vm-chief-horse", [CPU], "b3", "2026-12-03", groups=GROUPS)
    assert kb.recurrence(root, "k3s-vm-chief-horse", "cpu-runaway", DAY, groups=GROUPS) == [dt.date(2026, 12, 1)], \
        "still the first sighting: nothing was fixed in between"


def test_is_recurring_follows_the_configured_count_and_days(root: Path) -> None:
    kb.record_diagnosis(root, "maas", [DISK], "a1", "2026-12-01", groups=set())
    kb.record_diagnosis(root, "maas", [DISK], "a2", "2026-12-01", groups=set())
    kb.record_fix(root, "maas", ["disk-full"], "a2", "changed", None, "2026-12-01", groups=set())
    kb.record_diagnosis(root, "maas", [DISK], "a3", "2026-12-04", groups=set())
    assert not kb.is_recurring(root, "maas", "disk-full", DAY, groups=set()), "two sightings are not three"
    (root / ".homelab").mkdir()
    (root / ".homelab" / "config.yml").write_text("knowledge:\n  recurrence_count: 2\n  recurrence_days: 3\n")
    assert kb.is_recurring(root, "maas", "disk-full", DAY, groups=set()) is False, "12-01 is 5 days back"
    (root / ".homelab" / "config.yml").write_text("knowledge:\n  recurrence_count: 2\n  recurrence_days: 7\n")
    assert kb.is_recurring(root, "maas", "disk-full", DAY, groups=set())


@pytest.mark.parametrize(("text", "expected"), [
    ("knowledge:\n  recurrence_count: 1\n", "knowledge.recurrence_count: Input should be greater than or equal to 2"),
    ("knowledge:\n  recurrence_days: 0\n", "knowledge.recurrence_days: Input should be greater than or equal to 1"),
    ("knowledge:\n  recurence_days: 30\n",
     "knowledge.recurence_days: unknown key (known: recurrence_count, recurrence_days)"),
    ("knowledge: 3\n", "knowledge: Input should be a valid dictionary"),
])
def test_bad_recurrence_settings_name_the_key_and_its_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / ".homelab").mkdir()
    (tmp_path / ".homelab" / "config.yml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert any(expected in d and d.startswith(".homelab/config.yml:") for d in info.value.details), info.value.details
    assert info.value.hint


def test_recurrence_defaults_are_three_in_thirty_days(tmp_path: Path) -> None:
    knowledge = load_config(tmp_path).knowledge
    assert (knowledge.recurrence_count, knowledge.recurrence_days) == (3, 30)
