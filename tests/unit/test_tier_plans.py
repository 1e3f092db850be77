"""The decision framework end to end through `homelab plan` and `homelab revise`, offline.

A copy of the project gets two small catalog entries of the tests' own (tests/unit/tierfixture.py) that
deploy the same kind of thing at two tiers. The plan names the tier and the rule; words that do not settle
it leave the suggested step and a question that `revise "trial first"` or `revise "production"` answers;
`-e tier=…` overrides the framework and never reaches Ansible.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from planner.planning.framework import TIER_QUESTION
from planner.planning.revision import tier_answer
from planner.plans.planfile import OpenQuestion, Step
from tests.conftest import copy_project, run_homelab
from tests.conftest import planned as plan
from tests.unit.tierfixture import add_tier_entries, catalog_entries

REQUEST = "I want to deploy jellyfin for local testing"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    copy = copy_project(tmp_path_factory.mktemp("tiers") / "project")
    add_tier_entries(copy)
    return {"HOMELAB_ROOT": str(copy), "HOMELAB_INVENTORY": str(copy / "inventory"), "HOMELAB_MODEL": ""}


def test_the_plan_suggests_asks_and_revise_settles_it(env: dict[str, str]) -> None:
    asked = plan(env, "plan", REQUEST)
    assert [(s["playbook"], s["vars"]) for s in asked["steps"]] == [
        ("deploy_trial_service", {"trial_service_name": "jellyfin"})]
    assert "decision framework: tier orchestrator, suggested (rule orchestrator: trial, from 'local testing')" in \
        asked["steps"][0]["rationale"]
    question = next(q for q in asked["questions"] if q["question"] == TIER_QUESTION)
    assert question["assumption"].startswith("orchestrator, as the framework suggests (rule orchestrator: trial")

    trial = plan(env, "revise", asked["id"], "trial first")
    assert trial["parent"] == asked["id"] and trial["intent"] == f"{REQUEST} (revised: trial first)"
    assert [(s["playbook"], s["vars"], s["hosts"]) for s in trial["steps"]] == \
        [(s["playbook"], s["vars"], s["hosts"]) for s in asked["steps"]]
    assert TIER_QUESTION not in [q["question"] for q in trial["questions"]]
    assert trial["questions"] == [q for q in asked["questions"] if q["question"] != TIER_QUESTION]
    assert "tier orchestrator, the person chose it (orchestrator: trial ('trial first')" in \
        trial["steps"][0]["rationale"]
    assert "suggested" not in trial["steps"][0]["rationale"]

    production = plan(env, "revise", asked["id"], "production")
    assert [(s["playbook"], s["vars"]) for s in production["steps"]] == [
        ("deploy_k3s_app", {"k3s_app_name": "jellyfin"})]
    assert TIER_QUESTION not in [q["question"] for q in production["questions"]]
    assert "carried over: trial_service_name as k3s_app_name" in production["steps"][0]["rationale"]


def test_words_of_a_tier_pick_its_entry_without_asking(env: dict[str, str]) -> None:
    made = plan(env, "plan", "deploy jellyfin to production")
    assert [s["playbook"] for s in made["steps"]] == ["deploy_k3s_app"]
    assert made["steps"][0]["rationale"].endswith("decision framework: k3s: production ('production')")
    assert TIER_QUESTION not in [q["question"] for q in made["questions"]]


def test_e_tier_overrides_and_says_what_it_overrode(env: dict[str, str]) -> None:
    made = plan(env, "plan", REQUEST, "-e", "tier=k3s")
    assert [(s["playbook"], s["vars"]) for s in made["steps"]] == [("deploy_k3s_app", {"k3s_app_name": "jellyfin"})]
    assert ("tier k3s, set with -e tier=k3s; the framework suggested orchestrator (rule orchestrator: trial, from "
            "'local testing')") in made["steps"][0]["rationale"]
    assert TIER_QUESTION not in [q["question"] for q in made["questions"]]
    # Named steps are held to it too; tier is never a variable of the step.
    named = plan(env, "plan", "-p", "deploy_trial_service", "-e", "trial_service_name=jellyfin", "-e", "tier=k3s")
    assert [(s["playbook"], s["vars"]) for s in named["steps"]] == [("deploy_k3s_app", {"k3s_app_name": "jellyfin"})]


def test_e_tier_manual_makes_a_checklist(env: dict[str, str]) -> None:
    made = plan(env, "plan", REQUEST, "-e", "tier=manual")
    assert made["steps"] == []
    assert [(m["rule"], m["title"]) for m in made["manual"]] == [
        ("manual: set with -e tier=manual", "Deploy by hand what deploy_trial_service would "
                                            "(trial_service_name=jellyfin)")]
    named = plan(env, "plan", "-p", "deploy_k3s_app", "-e", "k3s_app_name=jellyfin", "-e", "tier=manual")
    assert named["steps"] == [] and named["manual"][0]["rule"] == "manual: set with -e tier=manual"


@pytest.mark.parametrize(("args", "error", "hint"), [
    ((REQUEST, "-e", "tier=k3"), "Error: -e tier=k3: no such tier (did you mean 'k3s'?)", "k3s, orchestrator, manual"),
    ((REQUEST, "-e", "trial_service_port=8080"), "Error: --limit and -e go with --playbook (of -e, a request takes "
                                                "only tier=…)", "--playbook ID"),
    ((REQUEST, "-e", "tier=k3s", "-e", "tier=orchestrator"), "Error: -e tier is given 2 times, differently",
     "-e tier=k3s"),
])
def test_a_bad_tier_is_refused_before_anything_is_written(env: dict[str, str], args: tuple[str, ...], error: str,
                                                          hint: str) -> None:
    plans = Path(env["HOMELAB_ROOT"]) / ".homelab" / "plans"
    before = sorted(plans.iterdir()) if plans.exists() else []
    refused = run_homelab("plan", *args, "--no-check", env=env)
    assert refused.rc == 2, refused.stderr
    assert error in refused.stderr and any(line.startswith("Hint:") and hint in line
                                           for line in refused.stderr.splitlines()), refused.stderr
    assert (sorted(plans.iterdir()) if plans.exists() else []) == before


def step(playbook: str, **values: object) -> Step:
    return Step(playbook=playbook, limit="all", vars=values, risk="change", hosts=["still-fawn"],
                rationale="words; decision framework: tier orchestrator, suggested (rule …)")


def test_tier_answer_reads_only_words_that_settle_a_tier() -> None:
    catalog = catalog_entries()
    asked = [OpenQuestion(question="Which hosts?", assumption="all"), OpenQuestion(question=TIER_QUESTION,
                                                                                   assumption="orchestrator")]
    steps = [step("deploy_trial_service", trial_service_name="ollama", trial_service_port=11434)]
    today = date(2026, 12, 6)
    answer = tier_answer(catalog, steps, asked, "deploy ollama", "production", today)
    assert answer is not None and answer.tier == "k3s" and answer.questions == asked[:1]
    assert [(r.playbook, r.vars) for r in answer.requests] == [
        ("deploy_k3s_app", {"k3s_app_name": "ollama", "k3s_app_port": 11434})]
    assert answer.requests[0].rationale.startswith("words; decision framework: tier k3s, the person chose it")
    # Soft words, or none, answer nothing: the amendment is read some other way.
    assert tier_answer(catalog, steps, asked, "deploy ollama", "for testing", today) is None
    assert tier_answer(catalog, steps, asked, "deploy ollama", "skip maas", today) is None
    # A plan that deploys nothing has no tier to settle.
    assert tier_answer(catalog, [step("gather_facts")], asked, "x", "production", today) is None
