"""A bigger lab (`lab up --scale`), and the grouped review and progress lines from a real check run on it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import ROOT, run_homelab, tree_digest
from tests.integration.conftest import Lab, homelab_in, pid_alive, plan_json
from tests.integration.test_lab import HOSTS, lab_ssh

GENERATED = ["k3s-vm-gen-01", "k3s-vm-gen-02"]


def _scaled_inventory(project: Path, lab: Lab) -> None:
    """The project copy's lab inventory gets the generated hosts the lab's own inventory has."""
    inv = project / ".homelab" / "lab-inventory"
    shutil.copy(lab.inventory / "zz-lab.yml", inv / "zz-lab.yml")
    shutil.copy(lab.inventory / "zz-scale.yml", inv / "zz-scale.yml")
    (inv / "host_vars").unlink()
    (inv / "host_vars").mkdir()
    for entry in (project / "inventory" / "host_vars").iterdir():
        (inv / "host_vars" / entry.name).symlink_to(entry)
    for name in GENERATED:
        shutil.copy(lab.inventory / "host_vars" / f"{name}.yml", inv / "host_vars" / f"{name}.yml")


def test_scaled_lab_runs_generated_hosts_and_the_review_groups_them(lab: Lab, project: Path) -> None:
    before = tree_digest(ROOT / "inventory")
    up = run_homelab("lab", "up", "--scale", "11", env=lab.env, timeout=600)
    try:
        assert up.rc == 0, up.stderr
        rows = {r["host"]: r for r in json.loads(run_homelab("lab", "status", "--format", "json",
                                                              env=lab.env).stdout)}
        assert list(rows) == HOSTS + GENERATED
        assert all(rows[h]["running"] and rows[h]["ssh"] for h in GENERATED)
        assert rows["k3s-vm-gen-01"]["generated_from"] == "k3s-vm-still-fawn"
        assert lab_ssh(lab, "k3s-vm-gen-02", "hostname").stdout.strip() == "k3s-vm-gen-02"
        assert tree_digest(ROOT / "inventory") == before, "the project's inventory was written"

        _scaled_inventory(project, lab)
        made = homelab_in(project, "plan", "-p", "apply_baseline", "--limit", "maas,k3s-vm-gen-*", "--format",
                          "json")
        assert made.rc == 0, made.stderr
        plan = plan_json(made)
        assert {t["host"] for t in plan["review"]["steps"][0]["tasks"]} == {"maas", *GENERATED}
        # Progress on a pipe: a line per task with its counts, not a table per host.
        assert "task 1: Gathering Facts — 3 ok" in made.stderr
        assert any(line.startswith("task ") and line.endswith("— 3 changed") for line in made.stderr.splitlines())
        shown = homelab_in(project, "show", plan["id"])
        assert shown.rc == 0, shown.stderr
        assert "apply_baseline: 7 to change · 1 unknown · 0 failed · on 3 hosts" in shown.stdout
        assert shown.stdout.count("+NTP=0.debian.pool.ntp.org") == 1
        assert "on all 3 hosts" in shown.stdout
        one = homelab_in(project, "show", plan["id"], "--host", "k3s-vm-gen-02")
        assert one.rc == 0 and "k3s-vm-gen-02" in one.stdout and "maas" not in one.stdout.split("Check-mode review")[1]
    finally:
        pids = [h["pid"] for n, h in lab.state()["hosts"].items() if n in GENERATED]
        back = run_homelab("lab", "up", "--scale", str(len(HOSTS)), env=lab.env, timeout=600)
        assert back.rc == 0, back.stderr
    assert sorted(lab.state()["hosts"]) == sorted(HOSTS)
    assert [p for p in pids if pid_alive(p)] == [], "the generated hosts were not stopped"
    assert not (lab.dir / "scale.json").exists() and not (lab.inventory / "zz-scale.yml").exists()
