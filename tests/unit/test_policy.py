"""The approval policy: the file's model and checks, and the decision for a plan, on a tiny project of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.catalog.entries import Catalog, load_catalog
from planner.inventory.hosts import Inventory, load_inventory
from planner.plans import planfile
from planner.plans.policy import DEFAULT_CRITICAL, LoadedPolicy, Policy, PolicyError, decide, load_policy, policy_path

HOSTS = """\
all:
  children:
    hyper:
      hosts:
        h1:
        h2:
        h3:
    k3s:
      hosts:
        k1:
    infra:
      hosts:
        maas:
"""


def entry(name: str, risk: str, options: str) -> tuple[str, str]:
    playbook = f"---\n- name: {name}\n  hosts: all\n  validate_argspec: {name}\n  tasks: []\n"
    meta = f"""\
---
description: >-
  A playbook of the policy's own test project, which does one small thing to
  the hosts in its limit.
examples: [Do the thing.]
risk: {risk}
argument_specs:
  {name}:
    short_description: Do the thing.
    options:
{options}"""
    return playbook, meta


FIX_OPTIONS = """\
      fix_limits:
        description: Limits to put in place.
        type: list
        elements: str
        default: []
      fix_action:
        description: What to do.
        type: str
        default: stop
"""
LOOK_OPTIONS = """\
      look_top:
        description: How many to show.
        type: int
        default: 5
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """playbooks fix (change) and look (read); hosts h1-h3 in hyper, k1 in k3s, maas in infra."""
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "hosts.yml").write_text(HOSTS)
    for name, risk, options in (("fix", "change", FIX_OPTIONS), ("look", "read", LOOK_OPTIONS)):
        playbook, meta = entry(name, risk, options)
        (tmp_path / "playbooks" / f"{name}.yml").write_text(playbook)
        (tmp_path / "playbooks" / f"{name}.meta.yml").write_text(meta)
    return tmp_path


@pytest.fixture
def catalog(project: Path) -> Catalog:
    return load_catalog(project)


@pytest.fixture
def inventory(project: Path) -> Inventory:
    return load_inventory(project / "inventory")


def write(project: Path, text: str) -> None:
    policy_path(project).parent.mkdir(exist_ok=True)
    policy_path(project).write_text(text)


RULE = """\
rules:
  - name: fix-hypers
    playbooks: [fix]
    targets: [hyper]
    unless_vars: [fix_limits]
    max_hosts: 2
"""


def loaded(project: Path, catalog: Catalog, inventory: Inventory, text: str = RULE) -> LoadedPolicy:
    write(project, text)
    return load_policy(project, catalog, inventory)


# -- the file ------------------------------------------------------------------------------------------------


def test_absent_file_covers_nothing_and_keeps_the_default_critical(project: Path, catalog, inventory) -> None:
    got = load_policy(project, catalog, inventory)
    assert not got.present and got.policy.rules == [] and tuple(got.policy.critical) == DEFAULT_CRITICAL
    assert not got.policy.auto_apply


def test_a_valid_file_loads_with_its_rules(project: Path, catalog, inventory) -> None:
    got = loaded(project, catalog, inventory, "auto_apply: true\ncritical: [infra]\n" + RULE)
    assert got.present and got.policy.auto_apply and got.policy.critical == ["infra"]
    rule = got.policy.rules[0]
    assert (rule.name, rule.playbooks, rule.targets, rule.unless_vars, rule.max_hosts) == (
        "fix-hypers", ["fix"], ["hyper"], ["fix_limits"], 2)


def test_the_committed_example_is_valid_and_covers_nothing() -> None:
    from tests.conftest import ROOT

    root_inventory = load_inventory(ROOT / "inventory")
    got = load_policy(ROOT, load_catalog(ROOT), root_inventory)
    assert got.present and got.policy.rules == [] and not got.policy.auto_apply
    assert tuple(got.policy.critical) == DEFAULT_CRITICAL


@pytest.mark.parametrize(("text", "problem"), [
    ("rules:\n  - name: r\n    playbooks: [fixx]\n    targets: [hyper]\n",
     ".homelab/policy.yml:3:17: no playbook 'fixx' in the catalog (did you mean 'fix'?)"),
    ("rules:\n  - name: r\n    playbooks: [look]\n    targets: [hyper]\n",
     ".homelab/policy.yml:3:17: look is a read playbook"),
    ("rules:\n  - name: r\n    playbooks: [fix]\n    targets: [hyper, hypr]\n",
     ".homelab/policy.yml:4:22: 'hypr' is no host or group of the inventory (did you mean 'hyper'?)"),
    ("critical: [maas, k3z]\n",
     ".homelab/policy.yml:1:18: 'k3z' is no host or group of the inventory (did you mean 'k3s'?)"),
    ("rules:\n  - name: r\n    playbooks: [fix]\n    targets: [h1]\n    unless_vars: [fix_limit]\n",
     ".homelab/policy.yml:5:19: 'fix_limit' is not a variable of fix (did you mean 'fix_limits'?)"),
    ("rules:\n  - name: r\n    playbooks: [fix]\n    targets: [h1]\n    max_host: 2\n",
     ".homelab/policy.yml:5:5: rules[0].max_host: unknown key (did you mean 'max_hosts'?)"),
    ("rules:\n  - name: r\n    playbooks: [fix]\n    targets: [h1]\n    max_hosts: 0\n",
     ".homelab/policy.yml:5:16: rules[0].max_hosts: Input should be greater than or equal to 1"),
    ("auto_aply: true\n", ".homelab/policy.yml:1:1: auto_aply: unknown key (did you mean 'auto_apply'?)"),
    ("rules:\n  - {name: r, playbooks: [fix], targets: [h1]}\n  - {name: r, playbooks: [fix], targets: [h2]}\n",
     "two rules are named 'r'"),
    ("rules:\n  - name: r\n    playbooks: []\n    targets: [h1]\n", "rules[0].playbooks: List should have at least 1"),
])
def test_mistakes_name_their_line(project: Path, catalog, inventory, text: str, problem: str) -> None:
    write(project, text)
    with pytest.raises(PolicyError) as err:
        load_policy(project, catalog, inventory)
    assert err.value.exit_code == 2 and err.value.message.startswith(".homelab/policy.yml is invalid")
    assert "homelab policy check" in (err.value.hint or "")
    assert any(problem in d for d in err.value.details), err.value.details


@pytest.mark.parametrize(("text", "message"), [
    ("- a list\n", "must be a mapping"),
    ("rules: [\n", "is not valid YAML"),
])
def test_a_file_that_is_no_mapping_is_refused(project: Path, catalog, inventory, text: str, message: str) -> None:
    write(project, text)
    with pytest.raises(PolicyError, match=message):
        load_policy(project, catalog, inventory)


# -- the decision --------------------------------------------------------------------------------------------


def plan(*steps: tuple[str, list[str], dict], statuses: dict[str, str] | None = None, **kw) -> planfile.Plan:
    """A plan with these (playbook, hosts, vars) steps and a review in which each host is ok, or as ``statuses``."""
    statuses = statuses or {}
    made, reviews = [], []
    for i, (playbook, hosts, vars_) in enumerate(steps):
        risk = "change" if playbook == "fix" else "read"
        made.append({"playbook": playbook, "limit": ",".join(hosts), "vars": vars_, "risk": risk, "hosts": hosts})
        blind = {h: "a command without creates/removes" for h in hosts if statuses.get(h) == "unknown"}
        tasks = [{"host": h, "task": "Do the thing", "status": statuses.get(h, "changed"),
                  "unknown_reason": blind.get(h)} for h in hosts]
        summary = {h: {"changed": 1, "failed": int(statuses.get(h) == "failed"),
                       "unreachable": statuses.get(h) == "unreachable", "unknown": int(h in blind)} for h in hosts}
        reviews.append({"step": i, "playbook": playbook, "check": risk == "change", "status": "successful",
                        "rc": 0, "hosts": summary, "tasks": tasks})
    inputs = {"inventory": "inventory", "files": {}, "versions": {},
              "snapshot": {"id": "x", "inventory": "inventory", "files": {}}}
    return planfile.Plan.model_validate({
        "id": "abcd1234", "created_at": "2026-12-06T06:00:00+00:00", "intent": "fix it", "planner": "offline",
        "steps": made, "review": {"checked_at": "2026-12-06T06:00:00+00:00", "steps": reviews}, "inputs": inputs,
        **kw})


def test_a_plan_inside_a_rule_is_covered_and_names_it(project: Path, catalog, inventory) -> None:
    got = decide(plan(("look", ["h1", "k1"], {}), ("fix", ["h1", "h2"], {"fix_action": "restart"})),
                 loaded(project, catalog, inventory), catalog, inventory)
    assert got.covered and got.reason is None
    assert [(s.step, s.playbook, s.rule) for s in got.steps] == [(1, "fix", "fix-hypers")]
    assert got.approval == "approved by policy rule fix-hypers (.homelab/policy.yml)"


def test_an_unless_var_at_its_default_still_covers(project: Path, catalog, inventory) -> None:
    got = decide(plan(("fix", ["h1"], {"fix_limits": []})), loaded(project, catalog, inventory), catalog, inventory)
    assert got.covered


def test_the_first_covering_rule_wins_and_each_step_names_its_own(project: Path, catalog, inventory) -> None:
    policy = loaded(project, catalog, inventory, RULE + "  - name: fix-h3\n    playbooks: [fix]\n    targets: [h3]\n")
    # fix-hypers leaves out a step setting fix_limits; fix-h3 takes it.
    got = decide(plan(("fix", ["h1"], {}), ("fix", ["h3"], {"fix_limits": ["cpu"]})), policy, catalog, inventory)
    assert [s.rule for s in got.steps] == ["fix-hypers", "fix-h3"]
    assert got.approval == "approved by policy rules fix-hypers, fix-h3 (.homelab/policy.yml)"


@pytest.mark.parametrize(("steps", "statuses", "reason"), [
    ([("fix", ["maas"], {})], {}, "step 1 (fix): maas is critical (policy: critical: [maas, k3s])"),
    ([("fix", ["h1", "k1"], {})], {},
     "step 1 (fix): k1 is critical through group k3s (policy: critical: [maas, k3s])"),
    ([("fix", ["h1", "h2", "h3"], {})], {},
     "step 1 (fix): rule fix-hypers: the step has 3 hosts, more than its max_hosts 2"),
    ([("fix", ["h1"], {"fix_limits": ["cpu"]})], {},
     "step 1 (fix): rule fix-hypers: the step sets fix_limits (unless_vars)"),
    ([("fix", ["h1"], {})], {"h1": "failed"}, "step 1 (fix): the review shows h1 failed"),
    ([("fix", ["h1"], {})], {"h1": "unreachable"}, "step 1 (fix): the review shows h1 unreachable"),
    ([("fix", ["h2"], {})], {"h2": "unknown"},
     "step 1 (fix): the review could not see what 'Do the thing' would do on h2 (a command without creates/removes)"),
    ([("look", ["h1"], {})], {}, "the plan has no change step: nothing to approve"),
])
def test_the_first_reason_a_plan_is_not_covered(project: Path, catalog, inventory, steps, statuses,
                                                 reason: str) -> None:
    got = decide(plan(*steps, statuses=statuses), loaded(project, catalog, inventory), catalog, inventory)
    assert not got.covered and got.reason == reason


def test_a_host_outside_the_targets_is_named(project: Path, catalog, inventory) -> None:
    policy = loaded(project, catalog, inventory, "critical: [maas]\n" + RULE)
    got = decide(plan(("fix", ["h1", "k1"], {})), policy, catalog, inventory)
    assert got.reason == "step 1 (fix): rule fix-hypers: k1 is not in its targets (hyper)"
    assert [(s.rule, s.reason) for s in got.steps] == [(None, "rule fix-hypers: k1 is not in its targets (hyper)")]


def test_without_a_file_or_rules_nothing_is_covered(project: Path, catalog, inventory) -> None:
    one = plan(("fix", ["h1"], {}))
    assert decide(one, load_policy(project, catalog, inventory), catalog, inventory).reason == (
        "there is no .homelab/policy.yml, so no rule covers anything")
    assert decide(one, loaded(project, catalog, inventory, "auto_apply: true\n"), catalog, inventory).reason == (
        ".homelab/policy.yml has no rules")


def test_an_unreviewed_or_questioned_plan_is_not_covered(project: Path, catalog, inventory) -> None:
    policy = loaded(project, catalog, inventory)
    unreviewed = plan(("fix", ["h1"], {}))
    unreviewed = unreviewed.model_copy(update={"review": planfile.Review(skipped=True)})
    assert decide(unreviewed, policy, catalog, inventory).reason == "the plan was not reviewed (--no-check)"
    asked = plan(("fix", ["h1"], {}), questions=[{"question": "Which hosts?", "assumption": "h1"}])
    assert decide(asked, policy, catalog, inventory).reason == "the plan leaves a question for a person: Which hosts?"


def test_a_check_run_that_did_not_finish_is_not_covered(project: Path, catalog, inventory) -> None:
    made = plan(("fix", ["h1"], {}))
    broken = made.review.steps[0].model_copy(update={"status": "outcome_unknown", "error": "ssh went away"})
    made = made.model_copy(update={"review": planfile.Review(steps=[broken])})
    got = decide(made, loaded(project, catalog, inventory), catalog, inventory)
    assert got.reason == "step 1 (fix): its check run did not finish (ssh went away)"


def test_policy_model_forbids_unknown_keys() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        Policy.model_validate({"rulez": []})


def test_a_read_step_that_failed_in_the_review_leaves_the_plan_to_a_person(project: Path, catalog,
                                                                           inventory) -> None:
    made = plan(("look", ["h1"], {}), ("fix", ["h1"], {}))
    failed = made.review.steps[0].model_copy(update={"status": "failed"})
    made = made.model_copy(update={"review": planfile.Review(steps=[failed, made.review.steps[1]])})
    got = decide(made, loaded(project, catalog, inventory), catalog, inventory)
    assert got.reason == "step 1 (look) did not run through in the review (failed)"
