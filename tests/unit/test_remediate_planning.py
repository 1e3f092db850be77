"""Planning remediate_runaway_processes offline: limits for the units a written-back diagnosis found, on the host
it names (else the one diagnosed last), and a plan that refuses to stop processes no diagnosis named."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.catalog.entries import CatalogError, load_catalog, load_entry
from planner.planning import context
from planner.planning.diagnoses import diagnoses, newest_runaway_host
from planner.planning.offline import OfflinePlanner
from planner.plans.build import StepRequest, validate_steps
from planner.plans.stepcheck import PlanValidationError
from planner.workspace import Workspace
from tests.conftest import ROOT, copy_project, documented_only

ENTRY = "remediate_runaway_processes"
# What a diagnosis writes back (the fields the planner reads, and a few it leaves alone).
STILL_FAWN_VM = """
discovered:
  health:
    checked_at: '2026-12-06T06:00:00+00:00'
    cores: 4
    runaway:
      - {pid: 812, start_time: 5941269, comm: python3, cmdline: python3 /usr/local/bin/lab-cpu-hog, user: root,
         cpu_pct: 99.0, unit: lab-cpu-hog.service, cgroup: /system.slice/lab-cpu-hog.service, k3s_pod: false}
      - {pid: 901, start_time: 5941300, comm: ffmpeg, cmdline: ffmpeg -i in.mkv out.mp4, user: media,
         cpu_pct: 180.0, unit: transcode.service, cgroup: /system.slice/transcode.service, k3s_pod: false}
      - {pid: 977, start_time: 5941400, comm: node, cmdline: node server.js, user: '1000', cpu_pct: 95.0,
         unit: cri-containerd-ab12.scope, cgroup: /kubepods/burstable/pod1/ab12, k3s_pod: true}
      - {pid: 999, start_time: 5941500, comm: python3, cmdline: python3 -c pass, user: admin, cpu_pct: 90.0,
         unit: '', cgroup: /, k3s_pod: false}
"""
# Diagnosed earlier, so not the host a request that names none means.
STILL_FAWN = """
discovered:
  health:
    checked_at: '2026-12-05T22:00:00+00:00'
    runaway:
      - {pid: 77, start_time: 100, comm: stress, cmdline: stress -c 1, unit: stress.service, k3s_pod: false}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = documented_only(copy_project(tmp_path_factory.mktemp("project") / "p"))
    for host, block in (("k3s-vm-still-fawn", STILL_FAWN_VM), ("still-fawn", STILL_FAWN)):
        path = root / "inventory" / "host_vars" / f"{host}.yml"
        path.write_text(path.read_text() + block)
    return root


def plan(project: Path, intent: str):
    pack = context.build(project, project / "inventory", intent)
    return OfflinePlanner().draft(intent, pack).draft


def only_step(draft):
    assert draft.refusal is None, draft.refusal
    assert [s.playbook for s in draft.steps] == [ENTRY], draft.steps
    return draft.steps[0]


def test_the_diagnoses_are_read_from_each_hosts_discovered_block(project: Path) -> None:
    found = diagnoses(project / "inventory", ["k3s-vm-still-fawn", "still-fawn", "maas"])
    # k3s pods and processes outside a unit cannot take a systemd limit.
    assert found["k3s-vm-still-fawn"]["units"] == ["lab-cpu-hog.service", "transcode.service"]
    assert "maas" not in found
    assert newest_runaway_host(found) == "k3s-vm-still-fawn"
    assert newest_runaway_host({}) is None


def test_yes_add_resource_limits_means_the_host_diagnosed_last(project: Path) -> None:
    step = only_step(plan(project, "yes, add resource limits"))
    assert step.limit == "k3s-vm-still-fawn"
    assert step.vars == {"remediate_limits": [
        {"unit": "lab-cpu-hog.service", "cpu_quota_pct": 50, "memory_max_mib": 0},
        {"unit": "transcode.service", "cpu_quota_pct": 50, "memory_max_mib": 0}]}
    assert "2026-12-06T06:00:00+00:00" in step.rationale


def test_a_named_host_takes_its_own_diagnosis(project: Path) -> None:
    step = only_step(plan(project, "add resource limits to still-fawn"))
    assert step.limit == "still-fawn"
    assert step.vars["remediate_limits"] == [{"unit": "stress.service", "cpu_quota_pct": 50, "memory_max_mib": 0}]


def test_the_service_named_and_the_numbers_given_are_taken(project: Path) -> None:
    step = only_step(plan(project, "limit the CPU of the transcode service on k3s-vm-still-fawn to 30% and its "
                                   "memory to 512 MB"))
    assert step.limit == "k3s-vm-still-fawn"
    assert step.vars["remediate_limits"] == [{"unit": "transcode.service", "cpu_quota_pct": 30,
                                              "memory_max_mib": 512}]


def test_a_host_without_a_diagnosis_gets_a_refusal_that_says_to_diagnose_it(project: Path) -> None:
    refusal = plan(project, "add resource limits to maas").refusal
    assert refusal is not None and refusal.closest == [ENTRY]
    assert "run a diagnosis first: homelab plan 'why is maas slow'" in refusal.reason


def test_stopping_runaway_processes_without_a_diagnosis_says_to_diagnose_first(project: Path) -> None:
    # The processes come only from a diagnosis that proposes the step: the words never name them.
    refusal = plan(project, "stop the runaway processes on k3s-vm-still-fawn").refusal
    assert refusal is not None
    assert "remediate_processes and remediate_limits would be empty" in refusal.reason
    assert "run a diagnosis first: homelab plan 'why is k3s-vm-still-fawn slow'" in refusal.reason


def test_a_named_step_with_nothing_to_act_on_is_refused_whoever_drafted_it(project: Path, tmp_path: Path) -> None:
    ws = Workspace(project, tmp_path / "state", project / "inventory")
    catalog = load_catalog(project)
    with pytest.raises(PlanValidationError) as caught:
        validate_steps(ws, catalog, [StepRequest(ENTRY, "k3s-vm-still-fawn", {"remediate_processes": []})])
    assert "would do nothing on k3s-vm-still-fawn" in caught.value.message
    assert caught.value.hint is not None and "why is k3s-vm-still-fawn slow" in caught.value.hint
    steps = validate_steps(ws, catalog, [StepRequest(ENTRY, "k3s-vm-still-fawn", {"remediate_processes": [
        {"pid": 812, "start_time": 5941269, "cmdline": "python3 /usr/local/bin/lab-cpu-hog"}]})])
    assert steps[0].vars["remediate_processes"][0]["unit"] == ""  # the argument spec's default, as Ansible fills it


def test_unrelated_service_work_is_no_remediation(project: Path) -> None:
    assert all(s.playbook != ENTRY for s in plan(project, "restart the nginx service on maas").steps)


def test_the_meta_file_says_what_it_resolves(project: Path) -> None:
    entry = load_entry(ROOT / "playbooks" / f"{ENTRY}.meta.yml", ROOT)
    assert entry.meta.resolves == ["cpu-runaway", "load-high"]
    assert entry.meta.acts_on is not None and entry.meta.acts_on.variables == ["remediate_processes",
                                                                               "remediate_limits"]


def test_acts_on_must_name_variables_of_the_play(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    meta = root / "playbooks" / f"{ENTRY}.meta.yml"
    meta.write_text(meta.read_text().replace("variables: [remediate_processes, remediate_limits]",
                                             "variables: [remediate_process]"))
    with pytest.raises(CatalogError) as caught:
        load_entry(meta, root)
    assert "'remediate_process' is not a variable of remediate_runaway_processes" in " ".join(caught.value.details)


def test_a_unit_written_as_such_needs_no_diagnosis(project: Path) -> None:
    step = only_step(plan(project, "add a 512 MB memory limit to jellyfin.service on maas"))
    assert (step.limit, step.vars) == ("maas", {"remediate_limits": [
        {"unit": "jellyfin.service", "cpu_quota_pct": 0, "memory_max_mib": 512}]})


def test_the_session_log_says_what_a_remediation_apply_did() -> None:
    from planner.knowledge.remediation import logged
    from planner.plans.planfile import ApplyRecord, StepReview, TaskResult

    report = {"homelab_remediation": {
        "stopped": [{"pid": 812, "unit": "lab-cpu-hog.service", "cmdline": "python3 /usr/local/bin/lab-cpu-hog"}],
        "already_gone": [{"pid": 999, "unit": "", "cmdline": "python3 -c pass"}],
        "skipped": [{"pid": 901, "unit": "", "cmdline": "ffmpeg", "reason": "not the reviewed process"}],
        "limits": [{"unit": "transcode.service", "changed": True}]}}
    task = TaskResult(host="k3s-vm-still-fawn", task="Report", action="ansible.builtin.debug", role="remediate",
                      status="ok", report=report)
    record = ApplyRecord(started_at="2026-12-06T07:00:00+00:00", status="succeeded",
                         steps=[StepReview(step=0, playbook=ENTRY, check=False, status="successful", rc=0,
                                           tasks=[task])])
    assert logged(record) == (" Remediation: k3s-vm-still-fawn: stopped pid 812 (lab-cpu-hog.service); already gone "
                              "pid 999; skipped, not the reviewed process pid 901; limits on transcode.service "
                              "(drop-in changed).")
    assert logged(ApplyRecord(started_at="2026-12-06T07:00:00+00:00", status="succeeded")) == ""
