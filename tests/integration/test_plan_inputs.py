"""A plan applies what was reviewed or is refused, never anything else.

Each route by which Ansible could read something the review never saw (vars
next to the playbook, a role or module shadowing the reviewed one, vars next
to the inventory, ANSIBLE_ROLES_PATH, ANSIBLE_CONFIG) is planted after the
plan is made. Then, separately: ``homelab apply`` refuses, naming what moved;
and with that refusal bypassed in-process, what runs is still the plan's
snapshot — the host shows the reviewed value, not the planted one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_lab import lab_ssh

HOST = "maas"
PLANTED = "PLANTED"
MARKER = "/var/tmp/planted-by-library"


def planted_role(dest: Path, project: Path) -> Path:
    """A copy of the baseline role whose motd says PLANTED; returns the roles directory holding it."""
    shutil.copytree(project / "roles" / "baseline", dest / "baseline")
    (dest / "baseline" / "templates" / "motd.j2").write_text(f"{PLANTED} {{{{ inventory_hostname }}}}\n")
    return dest


def plant_group_vars(project: Path, tmp: Path) -> dict[str, str]:
    (project / "playbooks" / "group_vars").mkdir()
    (project / "playbooks" / "group_vars" / "all.yml").write_text("baseline_timezone: Pacific/Auckland\n")
    return {}


def plant_roles_path(project: Path, tmp: Path) -> dict[str, str]:
    return {"ANSIBLE_ROLES_PATH": str(planted_role(tmp / "other", project))}


def plant_playbook_roles(project: Path, tmp: Path) -> dict[str, str]:
    planted_role(project / "playbooks" / "roles", project)
    return {}


def plant_library(project: Path, tmp: Path) -> dict[str, str]:
    # The template and copy actions run the module ansible.legacy.copy, which a library/ next to the
    # playbook shadows: this one leaves a marker on the host instead of copying.
    (project / "playbooks" / "library").mkdir()
    (project / "playbooks" / "library" / "copy.py").write_text(
        "from ansible.module_utils.basic import AnsibleModule\n"
        "m = AnsibleModule(argument_spec={}, supports_check_mode=True, bypass_checks=True)\n"
        f"open({MARKER!r}, 'w').write('planted')\n"
        "m.exit_json(changed=True)\n")
    return {}


def plant_inventory_vars(project: Path, tmp: Path) -> dict[str, str]:
    (project / "inventory" / "group_vars" / "all" / "zz-planted.yml").write_text(
        "baseline_timezone: Pacific/Auckland\n")
    return {}


def plant_ansible_config(project: Path, tmp: Path) -> dict[str, str]:
    roles = planted_role(tmp / "cfg-roles", project)
    cfg = tmp / "other.cfg"
    cfg.write_text((project / "ansible.cfg").read_text().replace("roles_path = roles", f"roles_path = {roles}"))
    return {"ANSIBLE_CONFIG": str(cfg)}


@dataclass(frozen=True)
class Route:
    plant: Callable[[Path, Path], dict[str, str]]
    moved: str  # what the refusal names


ROUTES = {
    "playbook group_vars": Route(plant_group_vars, "playbooks/group_vars/all.yml is new"),
    "ANSIBLE_ROLES_PATH": Route(plant_roles_path, "ANSIBLE_ROLES_PATH is set now (was unset at review)"),
    "playbook roles/": Route(plant_playbook_roles, "playbooks/roles/baseline/templates/motd.j2 is new"),
    "playbook library/": Route(plant_library, "playbooks/library/copy.py is new"),
    "inventory group_vars": Route(plant_inventory_vars, "inventory/group_vars/all/zz-planted.yml is new"),
    "ANSIBLE_CONFIG": Route(plant_ansible_config, "ANSIBLE_CONFIG is set now (was unset at review)"),
}


def on_host(lab: Lab, command: str) -> str:
    proc = lab_ssh(lab, HOST, command)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def reviewed(plan: dict, dest: str, before: str) -> str:
    """What the review said ``dest`` would hold on the host after the apply."""
    for task in plan["review"]["steps"][0]["tasks"]:
        for diff in task["diffs"] if task["host"] == HOST else []:
            if dest in (diff.get("before_header"), diff.get("after_header")) and diff.get("after") is not None:
                return diff["after"]
    return before


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_planted_input_is_refused_and_never_runs(lab: Lab, project: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, route: str) -> None:
    from planner.plans import apply, planfile
    from planner.workspace import Workspace

    on_host(lab, f"sudo rm -f {MARKER}")
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", HOST, "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    before = {f: on_host(lab, f"cat {f}") for f in ("/etc/timezone", "/etc/motd")}
    env = ROUTES[route].plant(project, tmp_path)

    refused = homelab_in(project, "apply", plan["id"], "--yes", env=env)
    assert refused.rc == 4, refused.stderr
    assert ROUTES[route].moved in refused.stderr
    assert on_host(lab, "cat /etc/timezone /etc/motd") == before["/etc/timezone"] + before["/etc/motd"]

    # The refusal bypassed: what runs is still the snapshot the review ran from.
    monkeypatch.setattr(apply, "stale_inputs", lambda ws, plan: [])
    monkeypatch.setattr(apply, "environment_changes", lambda plan: [])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(project)
    ws = Workspace(project, project / ".homelab", project / ".homelab" / "lab-inventory")
    done = apply.apply_plan(ws, planfile.load(ws.state, plan["id"]))
    assert done.status == "applied", done.applies[-1]
    assert on_host(lab, "cat /etc/timezone") == reviewed(plan, "/etc/timezone", before["/etc/timezone"])
    assert on_host(lab, "cat /etc/motd") == reviewed(plan, "/etc/motd", before["/etc/motd"])
    assert PLANTED not in on_host(lab, "cat /etc/motd")
    assert on_host(lab, f"sudo test -e {MARKER} && echo planted || echo absent").strip() == "absent"


def test_ansible_variables_at_review_are_recorded_not_used(lab: Lab, project: Path, tmp_path: Path) -> None:
    env = plant_roles_path(project, tmp_path)
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", HOST, "--format", "json", env=env)
    assert made.rc == 0, made.stderr
    assert "Recorded in the plan, not used by its runs: ANSIBLE_ROLES_PATH" in made.stderr
    plan = plan_json(made)
    assert plan["inputs"]["environment"]["ANSIBLE_ROLES_PATH"] == env["ANSIBLE_ROLES_PATH"]
    assert PLANTED not in str(plan["review"])
    # The check ran from the snapshot in its private run directory, with the environment the tool set.
    [run] = (project / ".homelab" / "runs").glob(f"{plan['id']}-check-0-*")
    seen = json.loads((run / "artifacts" / "run" / "command").read_text())["env"]
    assert seen["HOME"] == str(run / "home")
    assert seen["ANSIBLE_CONFIG"] == str(run / "project" / "ansible.cfg")
    assert seen["ANSIBLE_ROLES_PATH"] == str(run / "project" / "roles")
    assert not (run / "project").exists() and not (run / "home").exists()  # written out for the run only
    refused = homelab_in(project, "apply", plan["id"], "--yes")
    assert refused.rc == 4
    assert "ANSIBLE_ROLES_PATH is unset now (was set at review)" in refused.stderr
    applied = homelab_in(project, "apply", plan["id"], "--yes", env=env)
    assert applied.rc == 0, applied.stderr
    assert PLANTED not in on_host(lab, "cat /etc/motd")


def test_a_plan_whose_snapshot_is_damaged_is_refused_before_anything_runs(project: Path) -> None:
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", HOST, "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    sha = plan["inputs"]["snapshot"]["files"]["roles/baseline/templates/motd.j2"]["sha256"]
    (project / ".homelab" / "objects" / sha[:2] / sha[2:]).unlink()
    refused = homelab_in(project, "apply", plan["id"], "--yes")
    assert refused.rc == 4, refused.stderr
    assert "Error: the plan's snapshot is incomplete: roles/baseline/templates/motd.j2" in refused.stderr
    assert "Hint:" in refused.stderr
    shown = plan_json(homelab_in(project, "show", plan["id"], "--format", "json"))
    assert shown["status"] == "planned" and shown["applies"] == []
    assert not list((project / ".homelab" / "runs").glob(f"{plan['id']}-apply-*"))
