"""What the network assessment needs of the planner, all generic: an entry that needs the whole inventory,
companions, host names near words that defer, values another variable's words take, a read step's document
filed under docs/ with its steps on the checklist, and hardware.form_factor in the inventory."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from planner.errors import InventoryError
from planner.inventory.validate import validate_inventory
from planner.lab.hardware import profile_from_hostvars
from planner.planning import context, rules
from planner.planning.dates import resolve
from planner.planning.extractors import Named, Wanted, extract
from planner.planning.offline import OfflinePlanner
from planner.plans import documents
from planner.plans.planfile import ManualItem, StepReview, TaskResult
from planner.render.grouping import report_text
from tests.conftest import ROOT, copy_project, run_homelab
from tests.unit.test_new_entry import META, add_restart_service


@pytest.fixture(scope="module")
def pack() -> context.ContextPack:
    return context.build(ROOT, ROOT / "inventory", "")


# --- an entry that needs every host -------------------------------------------------------------------------------

def test_named_hosts_fill_the_defer_variable_not_the_targets(pack: context.ContextPack) -> None:
    intent = "upgrade the network to 2.5GbE but delay still-fawn until next weekend"
    step, companion = OfflinePlanner().draft(intent, pack).draft.steps
    assert (step.playbook, step.limit) == ("assess_network_upgrade", "all")
    assert (companion.playbook, companion.limit, companion.vars) == ("prepare_network_upgrade", "all", {})
    today = datetime.now(UTC).date()  # the day the plan is made
    assert step.vars == {"network_assessment_target_speed_mbps": 2500, "network_assessment_defer": "still-fawn",
                         "network_assessment_defer_window": resolve("next weekend", today)}
    assert step.vars["network_assessment_defer_window"].startswith("next weekend (Sat ")
    assert "needs the whole inventory" in step.rationale


def test_a_whole_inventory_step_may_target_hosts_the_request_does_not_name(pack: context.ContextPack) -> None:
    class Step:
        playbook = "assess_network_upgrade"
        hosts = ["still-fawn", "maas"]

    intent = "upgrade still-fawn to 2.5GbE"
    assert rules.stray_targets(intent, [Step()], pack.hosts, pack.groups)  # an ordinary step would stray
    assert rules.stray_targets(intent, [Step()], pack.hosts, pack.groups, rules.whole_inventory(pack.catalog)) == []
    # The assessment's companion goes with it, so it targets every host too; the monitoring audit reads them all.
    assert rules.whole_inventory(pack.catalog) == {"assess_network_upgrade", "prepare_network_upgrade",
                                                      "audit_monitoring"}


def test_hardware_work_stays_a_checklist_item_and_the_assessment_is_the_step(pack: context.ContextPack) -> None:
    draft = OfflinePlanner().draft("upgrade the homelab network to 2.5GbE with a new switch", pack).draft
    held = rules.enforce("upgrade the homelab network to 2.5GbE with a new switch", draft, pack.catalog)
    # Its companion stays with it: it prepares the person's work and does none of it.
    assert [(s.playbook, s.limit) for s in held.steps] == [("assess_network_upgrade", "all"),
                                                           ("prepare_network_upgrade", "all")]
    assert [m.rule for m in held.manual] == [rules.MANUAL_NETWORK]
    # A playbook that does not say it assesses such work is still dropped from an all-manual request.
    other = draft.model_copy(update={"steps": [s.model_copy(update={"playbook": "gather_facts"}) for s in draft.steps]})
    assert rules.enforce("upgrade the homelab network to 2.5GbE with a new switch", other, pack.catalog).steps == []
    # One topic word is not enough for work already taken as a person's.
    cable = OfflinePlanner().draft("plug a second network cable into pumped-piglet", pack).draft
    assert cable.steps == [] and [m.rule for m in cable.manual] == [rules.MANUAL_PHYSICAL]


def test_only_a_read_playbook_may_assess_a_known_manual_rule(tmp_path: Path) -> None:
    from planner.catalog.entries import load_catalog
    from planner.errors import CatalogError

    for risk, rule, problem in (("change", "manual: physical work", "only a read playbook assesses"),
                                ("read", "manual: physics", "is no manual rule (did you mean 'manual: physical work'")):
        project = copy_project(tmp_path / risk)
        meta = META.replace("risk: change\n", f"risk: {risk}\nassesses: [{rule!r}]\n")
        add_restart_service(project, meta)
        with pytest.raises(CatalogError) as info:
            load_catalog(project)
        assert any(problem in d for d in info.value.details), info.value.details


# --- companions ---------------------------------------------------------------------------------------------------

def test_a_companion_follows_its_entry_with_the_same_targets(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    add_restart_service(project, META.replace("risk: change\n", "risk: change\ncompanions: [gather_facts]\n"))
    env = {"HOMELAB_ROOT": str(project), "HOMELAB_INVENTORY": str(project / "inventory"), "HOMELAB_MODEL": ""}
    made = run_homelab("plan", "restart jellyfin on the k3s nodes", "--no-check", "--format", "json", cwd=project,
                       env=env)
    assert made.rc == 0, made.stderr
    steps = json.loads(made.stdout)["steps"]
    assert [(s["playbook"], s["limit"]) for s in steps] == [("restart_service", "k3s"), ("gather_facts", "k3s")]
    assert "companion of restart_service" in steps[1]["rationale"]
    # Alone, the companion's own request still plans only itself.
    alone = run_homelab("plan", "what hardware does maas have", "--no-check", "--format", "json", cwd=project, env=env)
    assert [s["playbook"] for s in json.loads(alone.stdout)["steps"]] == ["gather_facts"]


# --- extractors: a host near "delay", a window that is another variable's -----------------------------------------

@pytest.mark.parametrize(("text", "limit", "near", "expected"), [
    ("upgrade still-fawn and delay the k3s nodes", "still-fawn,k3s", ("delay",), "k3s"),
    ("delay still-fawn, then upgrade the k3s nodes", "still-fawn,k3s", ("delay",), "still-fawn"),
    ("upgrade the k3s nodes", "k3s", ("delay",), None),  # named, but nowhere near a word that defers
    ("upgrade the k3s nodes", "k3s", (), "k3s"),  # without near: the whole pattern
])
def test_host_pattern_near_words(text: str, limit: str, near: tuple[str, ...], expected: str | None) -> None:
    assert extract(Wanted("host_pattern", near), text, Named(limit)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("upgrade on friday at 10pm, delay the k3s nodes until next weekend", "fri 22:00"),
    ("upgrade the network, delay the k3s nodes until next weekend", None),
    ("upgrade the network tonight", "tonight"),
])
def test_not_near_leaves_the_other_variables_value(text: str, expected: str | None) -> None:
    assert extract(Wanted("when", (), ("delay", "until")), text) == expected


# --- a read step's document ---------------------------------------------------------------------------------------

def review(report: object) -> StepReview:
    task = TaskResult(host="maas", task="Report", action="ansible.builtin.debug", status="ok", report=report)
    return StepReview(step=0, playbook="assess_network_upgrade", check=False, status="successful", rc=0, tasks=[task])


DOCUMENT = {"name": "network-upgrade", "markdown": "# Report\n\nAll fine.\n",
            "manual": [{"title": "Fit a NIC in still-fawn", "reason": "hands-on"}, {"title": "Retire sw-core"}]}


def test_a_document_becomes_checklist_items_naming_the_playbook() -> None:
    found = documents.reported([review({"summary": "x", documents.DOCUMENT_KEY: DOCUMENT})])
    assert [f.document.name for f in found if f.document] == ["network-upgrade"]
    have = [ManualItem(title="Retire sw-core", reason="said in the request")]
    items = documents.manual_items(found, have)
    assert [(m.title, m.rule) for m in items] == [("Retire sw-core", None),
                                                 ("Fit a NIC in still-fawn", "report of assess_network_upgrade")]
    assert documents.report_path(found[0].document, "2026-12-05") == "docs/reports/network-upgrade-2026-12-05.md"
    # The review shows the document, not the JSON around it.
    assert report_text({"summary": "x", documents.DOCUMENT_KEY: DOCUMENT}) == DOCUMENT["markdown"]


@pytest.mark.parametrize(("document", "problem"), [
    ({**DOCUMENT, "name": "../../etc/passwd"}, "homelab_document.name"),
    ({**DOCUMENT, "extra": 1}, "homelab_document.extra"),
    ({**DOCUMENT, "manual": [{"title": ""}]}, "homelab_document.manual.0.title"),
])
def test_a_document_that_does_not_fit_is_left_out_and_said(document: dict, problem: str) -> None:
    [found] = documents.reported([review({documents.DOCUMENT_KEY: document})])
    assert found.document is None and found.problem is not None and found.problem.startswith(problem)
    assert documents.manual_items([found], []) == []


def test_plain_reports_carry_no_document() -> None:
    assert documents.reported([review("just text"), review({"nics": []})]) == []


# --- hardware.form_factor -----------------------------------------------------------------------------------------

def test_form_factor_is_documented_checked_and_read_by_the_lab(tmp_path: Path) -> None:
    inv = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory", inv)
    assert validate_inventory(inv).hosts
    path = inv / "host_vars" / "still-fawn.yml"
    path.write_text(path.read_text().replace("form_factor: desktop", "form_factor: tower"))
    with pytest.raises(InventoryError) as info:
        validate_inventory(inv)
    assert any("form_factor" in d for d in info.value.details)
    hardware = {"cpu": "x", "cores": 1, "memory_gib": 1, "form_factor": "mini-pc",
                "nics": [{"name": "eno1", "model": "Intel I219-LM", "driver": "e1000e", "supported_mbps": 1000,
                          "speed_mbps": 1000, "switch": "sw-core"}]}
    assert [n.name for n in profile_from_hostvars("chief-horse", {"hardware": hardware}).nics] == ["eno1"]
