"""The decision framework as data: classify, the tier a step gets, overrides, the question, and the matrix."""

from __future__ import annotations

import pytest

from planner.errors import HomelabError
from planner.planning import framework, rules
from planner.planning.drafting import Draft, DraftStep
from tests.unit.tierfixture import catalog_entries

CATALOG = [*catalog_entries(), {"id": "gather_facts", "tier": None, "risk": "read", "variables": {}}]
TRIAL = DraftStep(playbook="deploy_trial_service", vars={"trial_service_name": "ollama", "trial_service_port": 11434},
                  rationale="the words match")


@pytest.mark.parametrize(("text", "tier", "rule", "words", "settled"), [
    ("I want to deploy Ollama for local LLM testing", "orchestrator", "orchestrator: trial", "local LLM testing",
     False),
    ("deploy ollama and test it", "orchestrator", "orchestrator: trial", "test it", False),
    ("trial first", "orchestrator", "orchestrator: trial", "trial first", True),
    ("let me try it first", "orchestrator", "orchestrator: trial", "try it first", True),
    ("ollama works, promote it to production", "k3s", "k3s: production", "promote", True),
    ("run it in prod", "k3s", "k3s: production", "prod", True),
    ("a grafana for development", "orchestrator", "orchestrator: development", "development", True),
    # Firm words beat soft ones: "production" settles it even with "testing" said.
    ("it passed testing, now production", "k3s", "k3s: production", "production", True),
    ("replace the disk in still-fawn", "manual", framework.MANUAL_PHYSICAL, "replace the disk", True),
    ("deploy jellyfin", None, None, None, False),
])
def test_classify_gives_the_tier_the_rule_and_the_words(text: str, tier: str | None, rule: str | None,
                                                         words: str | None, settled: bool) -> None:
    decided = framework.classify(text)
    assert (decided.tier, decided.rule, decided.settled) == (tier, rule, settled)
    assert (decided.words[0] if decided.words else None) == words


def test_every_rule_is_readable_data() -> None:
    assert {r.tier for r in framework.RULES} == set(framework.TIERS)
    for rule in framework.RULES:
        assert rule.name.startswith(f"{rule.tier}: ") and rule.stands_for and rule.examples and rule.firm
        # Every firm example word is matched by its own rule (the matrix shows words that really work).
        assert all(framework.classify(e).rule == rule.name for e in rule.examples
                   if rule.tier != framework.MANUAL and e != "testing"), rule.name
    assert framework.MANUAL_RULES == rules.MANUAL_RULES
    assert all(framework.BY_NAME[n].reason for n in framework.MANUAL_RULES)


def test_words_that_do_not_settle_the_tier_keep_the_suggested_step_and_ask() -> None:
    held = rules.enforce("I want to deploy Ollama for local LLM testing", Draft(steps=[TRIAL]), CATALOG)
    assert [s.playbook for s in held.steps] == ["deploy_trial_service"] and held.steps[0].vars == TRIAL.vars
    assert [q.question for q in held.questions] == ["Trial through the orchestrator, or production on k3s?"]
    assert "orchestrator: trial" in held.questions[0].assumption
    assert "'local LLM testing'" in held.questions[0].assumption
    assert "tier orchestrator, suggested (rule orchestrator: trial" in held.steps[0].rationale


def test_firm_words_settle_it_and_nothing_is_asked() -> None:
    held = rules.enforce("deploy ollama, trial first", Draft(steps=[TRIAL]), CATALOG)
    assert held.questions == [] and held.steps[0].rationale.endswith("orchestrator: trial ('trial first')")


def test_words_of_the_other_tier_swap_the_entry_carrying_what_it_declares() -> None:
    held = rules.enforce("deploy ollama to production", Draft(steps=[TRIAL]), CATALOG)
    assert held.refusal is None and held.questions == []
    assert [(s.playbook, s.vars) for s in held.steps] == [
        ("deploy_k3s_app", {"k3s_app_name": "ollama", "k3s_app_port": 11434})]
    assert ("deploy_k3s_app in place of deploy_trial_service (carried over: trial_service_name as k3s_app_name, "
            "trial_service_port as k3s_app_port)") in held.steps[0].rationale


def test_the_person_overrides_the_framework_and_the_plan_says_what_overrode_what() -> None:
    held = rules.enforce("I want to deploy Ollama for local LLM testing", Draft(steps=[TRIAL]), CATALOG, "k3s")
    assert [s.playbook for s in held.steps] == ["deploy_k3s_app"] and held.questions == []
    assert ("tier k3s, set with -e tier=k3s; the framework suggested orchestrator (rule orchestrator: trial, from "
            "'local LLM testing')") in held.steps[0].rationale
    # Over firm words too: the person has the last word.
    kept = rules.enforce("deploy ollama to production", Draft(steps=[TRIAL]), CATALOG, "orchestrator")
    assert [s.playbook for s in kept.steps] == ["deploy_trial_service"]
    assert "the framework suggested k3s (rule k3s: production, from 'production')" in kept.steps[0].rationale


def test_tier_manual_turns_the_deployment_into_a_checklist_item() -> None:
    facts = DraftStep(playbook="gather_facts", rationale="read")
    held = rules.enforce("deploy ollama for testing", Draft(steps=[facts, TRIAL]), CATALOG, "manual")
    assert [s.playbook for s in held.steps] == ["gather_facts"]
    assert [(m.rule, m.title) for m in held.manual] == [
        (framework.MANUAL_BY_CHOICE,
         "Deploy by hand what deploy_trial_service would (trial_service_name=ollama, trial_service_port=11434)")]
    assert "tier manual, set with -e tier=manual" in held.manual[0].reason


def test_a_tier_the_catalog_has_no_entry_for_is_refused() -> None:
    trials_only = [e for e in CATALOG if e["id"] != "deploy_k3s_app"]
    held = rules.enforce("deploy ollama", Draft(steps=[TRIAL]), trials_only, "k3s")
    assert held.steps == [] and held.refusal is not None and "no catalog entry deploys to k3s" in held.refusal.reason


@pytest.mark.parametrize("value", ["k3", "kubernetes", ""])
def test_a_bad_tier_is_an_error_with_a_hint(value: str) -> None:
    with pytest.raises(HomelabError) as caught:
        framework.parse_tier(value)
    assert f"-e tier={value}: no such tier" in caught.value.message
    assert "k3s, orchestrator, manual" in (caught.value.hint or "")
    assert framework.parse_tier(" K3S ") == "k3s"


def test_the_offline_planner_sees_only_the_decided_tiers_entries() -> None:
    assert [e["id"] for e in framework.at_tier(CATALOG, "k3s")] == ["deploy_k3s_app", "gather_facts"]
    assert [e["id"] for e in framework.at_tier(CATALOG, None)] == ["deploy_trial_service", "gather_facts"]
    # manual: no entry deploys by hand, so nothing is left out (the rules make the checklist item).
    assert framework.at_tier(CATALOG, "manual") == CATALOG


def test_the_matrix_has_one_row_per_rule_and_services_get_the_rule_that_fits() -> None:
    rows = framework.matrix()
    assert [r["rule"] for r in rows] == [r.name for r in framework.RULES]
    assert rows[0] == {"tier": "k3s", "rule": "k3s: production",
                       "stands_for": "production: what people rely on, promoted from a trial",
                       "examples": '"production", "prod", "promote"'}
    assert framework.fitting_rule("k3s", "it gets the cluster's failover and a persistent volume") == \
        "k3s: high availability"
    # "rack controller" looks physical; DHCP and DNS say what the service is.
    assert framework.fitting_rule("manual", "Region and rack controller, DHCP and DNS for the LAN") == \
        framework.MANUAL_NETWORK
    assert framework.fitting_rule("orchestrator", "Media server.") is None


def test_the_llm_is_told_every_rule_from_the_same_data() -> None:
    text = rules.prompt_rules()
    for rule in framework.RULES:
        assert f"`{rule.name}`: {rule.stands_for}" in text
    assert f"`{rules.DESTRUCTIVE}`" in text


def test_a_removal_of_a_tier_is_no_deployment_to_decide() -> None:
    remove = {"id": "remove_trial_service", "tier": "orchestrator", "risk": "change",
              "variables": {"trial_service_name": {"type": "str"}}}
    catalog = [*CATALOG, remove]
    step = DraftStep(playbook="remove_trial_service", vars={"trial_service_name": "ollama"}, rationale="remove it")
    for tier in (None, "k3s", "manual"):
        held = rules.enforce("remove the ollama trial, it runs in production now", Draft(steps=[step]), catalog, tier)
        assert held.steps == [step] and held.questions == [] and held.manual == []
    # It stays for the offline planner whatever the tier, and is never the other tier's counterpart.
    assert remove in framework.at_tier(catalog, "k3s")
    assert rules.counterpart(catalog, catalog_entries()[1], "orchestrator")["id"] == "deploy_trial_service"
