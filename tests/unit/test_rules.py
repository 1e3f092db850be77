"""The rules every draft is held to: the same refusal, checklist and tier for a model's draft as for the offline one."""

from __future__ import annotations

import pytest

from planner.planning import context, rules
from planner.planning.drafting import Draft, DraftStep
from planner.planning.intent import DraftRejected, draft_plan
from planner.planning.offline import OfflinePlanner
from planner.plans.planfile import ManualItem, Refusal
from planner.workspace import Workspace
from tests.conftest import ROOT
from tests.unit.test_llm_planner import Script, planner_with


@pytest.fixture(scope="module")
def pack() -> context.ContextPack:
    return context.build(ROOT, ROOT / "inventory", "")


@pytest.fixture
def ws(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Workspace:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("HOMELAB_ROOT", raising=False)
    return Workspace(ROOT, tmp_path / "state", ROOT / "inventory")


def llm_draft(*steps: dict, manual: list | None = None, refusal: dict | None = None) -> dict:
    """A model's answer as the schema shapes it."""
    return {"steps": [{"vars": {}, "rationale": "the model's reason", **s} for s in steps], "manual": manual or [],
            "questions": [], "refusal": refusal, "explanation": "The model's plan."}


FACTS_ON_STILL_FAWN = {"playbook": "gather_facts", "limit": "still-fawn"}
BASELINE_EVERYWHERE = {"playbook": "apply_baseline", "limit": "all"}


# --- the safety rules ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("clause", "rule"), [
    ("wipe the disks on still-fawn", rules.DESTRUCTIVE),
    ("shut down everything tonight", rules.DESTRUCTIVE),
    ("plug in a cable", rules.MANUAL_PHYSICAL),
    ("rotate the admin's SSH keys", rules.MANUAL_SECURITY),
    ("open port 443 on the router", rules.MANUAL_NETWORK),
    ("create a new ZFS pool on still-fawn", rules.MANUAL_STORAGE),
    ("resize the LVM volume group on maas", rules.MANUAL_STORAGE),
    ("update the BIOS on chief-horse", rules.MANUAL_MAINTENANCE),
    ("upgrade proxmox to 9 on still-fawn", rules.MANUAL_MAINTENANCE),
    ("point the NTP servers of every machine at the pool again", None),
    ("how much disk space is left on maas", None),
    ("which pools does still-fawn have", None),
    # A switch named as context of a look is no network work; named as the object of one, it is.
    ("check the link speeds after the new switch", None),
    ("configure the new switch", rules.MANUAL_NETWORK),
    ("set up VLANs after the new switch", rules.MANUAL_NETWORK),
])
def test_safety_names_the_rule(clause: str, rule: str | None) -> None:
    caught = rules.safety(clause)
    assert (caught.rule if caught else None) == rule


def test_screen_keeps_what_is_left_for_playbooks() -> None:
    screened = rules.screen("replace the switch and then apply the baseline to every host")
    assert screened.destructive is None and screened.rest == ("apply the baseline to every host",)
    assert [(m.title, m.rule) for m in screened.manual] == [("Replace the switch", rules.MANUAL_PHYSICAL)]
    assert rules.screen("apply the baseline, then wipe maas").destructive.words == "wipe"
    # A model's revision prompt puts the amendment on a line of its own: it is a clause of its own.
    assert rules.clauses("read the k3s nodes\nAmendment: skip maas") == ["read the k3s nodes", "Amendment: skip maas"]


# --- a model's draft goes through the same code as the offline planner's ------------------------------------------

def test_a_destructive_request_is_refused_by_the_same_code_for_both_planners(
        monkeypatch: pytest.MonkeyPatch, pack: context.ContextPack, ws: Workspace) -> None:
    intent = "wipe the disks on still-fawn and gather facts"
    calls: list[str] = []
    real = rules.refuse_destructive

    def spy(caught: rules.Caught, closest: list[str]) -> Draft:
        calls.append(caught.words)
        return real(caught, closest)

    monkeypatch.setattr(rules, "refuse_destructive", spy)
    script = Script(llm_draft(FACTS_ON_STILL_FAWN))  # the model obliges: it drafts a step
    planner, _ = planner_with(monkeypatch, script)
    by_model, model_steps = draft_plan(ws, intent, planner, pack)
    offline, offline_steps = draft_plan(ws, intent, OfflinePlanner(), pack)
    assert model_steps == offline_steps == []
    assert by_model.draft.refusal is not None and offline.draft.refusal is not None
    assert by_model.draft.refusal.reason == offline.draft.refusal.reason
    assert by_model.draft.refusal.reason.startswith("destructive: 'wipe'")
    assert by_model.draft.explanation == offline.draft.explanation
    # Both went through the one refusal: the model's draft once, the offline draft as it drafted and again.
    assert calls and set(calls) == {"wipe"} and len(calls) >= 2
    assert len(script.calls) == 1  # a refusal is final: no repair round


def test_manual_work_becomes_a_checklist_item_and_keeps_no_step(monkeypatch: pytest.MonkeyPatch,
                                                                 pack: context.ContextPack, ws: Workspace) -> None:
    script = Script(llm_draft(BASELINE_EVERYWHERE))
    planner, _ = planner_with(monkeypatch, script)
    drafted, steps = draft_plan(ws, "open port 443 on the router", planner, pack)
    assert steps == [] and drafted.draft.steps == []
    assert [(m.title, m.rule) for m in drafted.draft.manual] == [("Open port 443 on the router",
                                                                   rules.MANUAL_NETWORK)]
    assert "whole request is work for a person" in drafted.draft.explanation


def test_a_forgotten_checklist_item_is_added_and_the_other_step_stays(pack: context.ContextPack) -> None:
    draft = Draft.model_validate(llm_draft(BASELINE_EVERYWHERE))
    held = rules.enforce("replace the switch and then apply the baseline to every host", draft, pack.catalog)
    assert [s.playbook for s in held.steps] == ["apply_baseline"]
    assert [m.rule for m in held.manual] == [rules.MANUAL_PHYSICAL]
    # An item the model wrote itself for the same rule is not doubled.
    own = ManualItem(title="Swap the core switch", reason="hardware", rule=rules.MANUAL_PHYSICAL)
    held = rules.enforce("replace the switch and then apply the baseline to every host",
                         draft.model_copy(update={"manual": [own]}), pack.catalog)
    assert held.manual == [own]


def test_a_refusal_plans_nothing(pack: context.ContextPack) -> None:
    draft = Draft.model_validate(llm_draft(FACTS_ON_STILL_FAWN, refusal={"reason": "no", "closest": []}))
    held = rules.enforce("gather facts on still-fawn", draft, pack.catalog)
    assert held.steps == [] and held.refusal == Refusal(reason="no", closest=[])


def test_a_host_the_request_does_not_name_is_sent_back_then_rejected(
        monkeypatch: pytest.MonkeyPatch, pack: context.ContextPack, ws: Workspace) -> None:
    stray = llm_draft({"playbook": "gather_facts", "limit": "k3s-vm-still-fawn,maas"})
    script = Script(stray, stray)
    planner, _ = planner_with(monkeypatch, script)
    with pytest.raises(DraftRejected) as rejected:
        draft_plan(ws, "check why k3s-vm-still-fawn seems slow", planner, pack)
    assert any("targets maas, which the request does not ask for" in d for d in rejected.value.details)
    assert "targets maas" in script.calls[1]["messages"][-1]["content"]  # the repair round was told


@pytest.mark.parametrize(("intent", "limit"), [
    ("check why k3s-vm-still-fawn seems slow", "still-fawn"),  # its hypervisor
    ("what hardware does still-fawn have", "k3s-vm-still-fawn"),  # a VM it runs
    ("apply the baseline to every host", "maas"),
    ("apply the baseline", "maas"),  # no host named: any
    ("apply the baseline everywhere except maas", "k3s"),
])
def test_targets_the_request_allows(pack: context.ContextPack, ws: Workspace, intent: str, limit: str) -> None:
    from planner.catalog.entries import load_catalog
    from planner.planning.intent import validate_draft

    draft = Draft(steps=[DraftStep(playbook="gather_facts", limit=limit)])
    steps, errors = validate_draft(ws, load_catalog(ROOT), draft)
    assert not errors
    assert rules.stray_targets(intent, steps, pack.hosts, pack.groups) == []


def test_a_host_the_request_leaves_out_may_not_come_back(pack: context.ContextPack, ws: Workspace) -> None:
    from planner.catalog.entries import load_catalog
    from planner.planning.intent import validate_draft

    steps, _ = validate_draft(ws, load_catalog(ROOT), Draft(steps=[DraftStep(playbook="apply_baseline",
                                                                              limit="k3s")]))
    problems = rules.stray_targets("apply the baseline to the k3s nodes except k3s-vm-chief-horse", steps,
                                   pack.hosts, pack.groups)
    assert len(problems) == 1 and "targets k3s-vm-chief-horse" in problems[0]


# --- the decision framework ---------------------------------------------------------------------------------------

DEPLOYS = [{"id": "deploy_k3s_app", "tier": "k3s"}, {"id": "deploy_trial_service", "tier": "orchestrator"},
           {"id": "gather_facts", "tier": None}]


@pytest.mark.parametrize(("text", "tier", "rule"), [
    ("deploy jellyfin to production", "k3s", "k3s: production"),
    ("deploy home-assistant with 3 replicas", "k3s", "k3s: multi-replica"),
    ("paperless with persistent storage", "k3s", "k3s: persistent storage"),
    ("a highly available prometheus", "k3s", "k3s: high availability"),
    ("deploy a trial of paperless-ngx", "orchestrator", "orchestrator: trial"),
    ("a throwaway grafana for development", "orchestrator", "orchestrator: quick removal"),
    ("a single instance of uptime-kuma", "orchestrator", "orchestrator: single instance"),
    ("deploy jellyfin", None, None),
])
def test_classify_names_the_deciding_rule(text: str, tier: str | None, rule: str | None) -> None:
    decided = rules.classify(text)
    assert decided.tier == tier
    assert (decided.rules[0] if decided.rules else None) == rule


def test_a_step_on_the_wrong_tier_is_swapped_or_refused_where_the_catalog_has_no_other() -> None:
    draft = Draft(steps=[DraftStep(playbook="deploy_trial_service", vars={"service_name": "jellyfin"})])
    held = rules.enforce("deploy jellyfin to production with 3 replicas", draft, DEPLOYS)
    assert held.refusal is None and [s.playbook for s in held.steps] == ["deploy_k3s_app"]
    assert "k3s: production" in held.steps[0].rationale
    assert "deploy_k3s_app in place of deploy_trial_service" in held.steps[0].rationale
    only_trials = [e for e in DEPLOYS if e["id"] != "deploy_k3s_app"]
    refused = rules.enforce("deploy jellyfin to production with 3 replicas", draft, only_trials)
    assert refused.steps == [] and refused.refusal is not None
    assert "k3s: production" in refused.refusal.reason and "deploys to the orchestrator tier" in refused.refusal.reason
    assert refused.refusal.closest == ["deploy_trial_service"]


def test_the_right_tier_says_which_rule_decided() -> None:
    draft = Draft(steps=[DraftStep(playbook="deploy_trial_service", rationale="a trial")])
    held = rules.enforce("deploy a trial of paperless-ngx on still-fawn", draft, DEPLOYS)
    assert held.refusal is None
    assert held.steps[0].rationale == "a trial; decision framework: orchestrator: trial ('trial')"
    both = rules.enforce("a trial of jellyfin with 3 replicas", draft, DEPLOYS)
    assert both.steps and [q.question for q in both.questions] == [rules.TIER_QUESTION]
    # Host configuration is no deployment: the framework leaves it alone.
    facts = Draft(steps=[DraftStep(playbook="gather_facts", rationale="read")])
    assert rules.enforce("production hosts: gather facts", facts, DEPLOYS).steps[0].rationale == "read"


def test_a_model_is_told_the_rules_by_their_names() -> None:
    from planner.planning.llm_planner import SYSTEM_PROMPT

    for rule in (rules.DESTRUCTIVE, rules.MANUAL_PHYSICAL, rules.MANUAL_SECURITY, rules.MANUAL_NETWORK,
                 rules.MANUAL_STORAGE, rules.MANUAL_MAINTENANCE):
        assert f"`{rule}`" in SYSTEM_PROMPT
    assert "<RULES>" not in SYSTEM_PROMPT and "orchestrator" in SYSTEM_PROMPT


def test_a_request_that_only_asks_to_look_gets_no_change_step() -> None:
    from types import SimpleNamespace

    from planner.planning.rules import asks_only_to_look, changes_unasked

    catalog = [{"id": "assess_network_upgrade", "companions": ["prepare_network_upgrade"]},
               {"id": "update_packages"}, {"id": "prepare_network_upgrade"}, {"id": "diagnose_host"}]
    update = SimpleNamespace(playbook="update_packages", risk="change")
    look = SimpleNamespace(playbook="diagnose_host", risk="read")
    assert asks_only_to_look("check the disk space on maas") and asks_only_to_look("why is maas slow?")
    assert not asks_only_to_look("update the packages on maas") and not asks_only_to_look("check and fix maas")
    [problem] = changes_unasked("check the disk space on maas", [look, update], catalog)
    assert problem.startswith("step 2 (update_packages): changes hosts, and the request asks only to look")
    assert changes_unasked("update the packages on maas", [update], catalog) == []
    # A companion stays with the step its meta file puts it beside.
    steps = [SimpleNamespace(playbook="assess_network_upgrade", risk="read"),
             SimpleNamespace(playbook="prepare_network_upgrade", risk="change")]
    assert changes_unasked("which NICs hold back a 2.5 gig network?", steps, catalog) == []
