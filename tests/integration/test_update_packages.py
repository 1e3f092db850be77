"""update_packages against a sandbox lab: a real pending upgrade from a local apt repository, and a held package.

``homelab lab plant HOST pending-upgrade`` gives k3s-vm-still-fawn a flat ``file:`` apt repository with
homelab-lab-tool 1.1-1 over the installed 1.0-1, and homelab-lab-pinned 1.0-1 held with 1.1-1 there
(planner/lab/aptrepo.py). The plan's check run lists exactly that upgrade with both versions and the held
package, and changes nothing (dpkg's versions and the host's apt lists as they were); the apply upgrades it,
the held package stays; a second plan and apply change nothing. A required reboot that was not allowed is
reported as the person's step and the host is not rebooted. The lab host's only apt source is the local one.

It installs and removes packages, so it runs its own lab (``$HOMELAB_TEST_UPDATES_LAB_NET``, by default the
session lab's /24 plus 140 in its third octet).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_homelab
from tests.integration.conftest import LAB_NET, Lab, homelab_in, plan_json, project_on, running_lab
from tests.integration.test_lab import lab_ssh
from tests.integration.test_trial_service import apply

ROOT = Path(__file__).resolve().parents[2]
HOST = "k3s-vm-still-fawn"
REPORT_TASK = "Report what was upgraded, what is held, and what is left for the person"
_a, _b, _c = LAB_NET.split(".")
NET = os.environ.get("HOMELAB_TEST_UPDATES_LAB_NET") or f"{_a}.{_b}.{(int(_c) + 140) % 256}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("updates-lab"), NET) as lab:
        yield lab


@pytest.fixture
def planted(lab: Lab) -> Iterator[None]:
    result = run_homelab("lab", "plant", HOST, "pending-upgrade", env=lab.env, timeout=120)
    assert result.rc == 0, result.stderr
    try:
        yield
    finally:
        lab_ssh(lab, HOST, "sudo rm -f /var/run/reboot-required")
        cleared = run_homelab("lab", "plant", HOST, "pending-upgrade", "--clear", env=lab.env, timeout=120)
        assert cleared.rc == 0, cleared.stderr


def versions(lab: Lab) -> dict[str, str]:
    out = lab_ssh(lab, HOST, "dpkg-query -W -f='${Package} ${Version}\\n' homelab-lab-tool homelab-lab-pinned").stdout
    return dict(line.split() for line in out.splitlines())


def changed(review_or_apply: dict) -> list[str]:
    return [t["task"] for step in review_or_apply["steps"] for t in step["tasks"] if t["status"] == "changed"]


def the_report(applied: dict) -> dict:
    (report,) = [t["report"] for s in applied["steps"] for t in s["tasks"]
                 if t["host"] == HOST and t["task"] == REPORT_TASK]
    return report


def plan(project: Path) -> dict:
    made = homelab_in(project, "plan", "-p", "update_packages", "-l", HOST, "--format", "json")
    assert made.rc == 0, made.stderr
    return plan_json(made)


def test_the_lab_hosts_only_apt_source_is_the_local_repository(lab: Lab, planted: None) -> None:
    # Every source line apt reads; the root filesystem's own sources.list named Debian's mirror.
    sources = lab_ssh(lab, HOST, "cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list; "
                                 "ls /etc/apt/sources.list.d/").stdout
    lines = [line for line in sources.splitlines() if line.startswith("deb")]
    assert lines == ["deb [trusted=yes] file:/var/lib/homelab-lab/apt ./"], sources
    assert ".sources" not in sources, sources
    # apt's own view: every index it would fetch is a file: URI, none over the network.
    uris = lab_ssh(lab, HOST, "sudo apt-get -q --print-uris update").stdout
    assert "file:/var/lib/homelab-lab/apt" in uris and "http" not in uris, uris


def test_check_lists_the_upgrade_and_the_held_package_and_apply_upgrades_once(lab: Lab, planted: None,
                                                                             tmp_path: Path) -> None:
    project = project_on(lab, tmp_path)
    lists_before = lab_ssh(lab, HOST, "ls /var/lib/apt/lists").stdout
    made = plan(project)
    diffs = json.dumps([t["diffs"] for s in made["review"]["steps"] for t in s["tasks"] if t["host"] == HOST])
    assert "homelab-lab-tool 1.0-1" in diffs and "homelab-lab-tool 1.1-1" in diffs, diffs
    assert "homelab-lab-pinned 1.0-1 (held; 1.1-1 not taken)" in diffs, diffs
    assert changed(made["review"]) == ["Upgrade the packages, held ones excepted"], made["review"]
    # The check run changed nothing: both packages as planted, and the host's package lists as they were.
    assert versions(lab) == {"homelab-lab-tool": "1.0-1", "homelab-lab-pinned": "1.0-1"}
    assert lab_ssh(lab, HOST, "ls /var/lib/apt/lists").stdout == lists_before

    applied = apply(project, made)
    assert applied["status"] == "succeeded" and applied["surprise_count"] == 0, applied["surprises"]
    assert versions(lab) == {"homelab-lab-tool": "1.1-1", "homelab-lab-pinned": "1.0-1"}
    assert lab_ssh(lab, HOST, "apt-mark showhold").stdout.split() == ["homelab-lab-pinned"]
    report = the_report(applied)
    assert report["upgraded"] == [{"name": "homelab-lab-tool", "current": "1.0-1", "new": "1.1-1"}], report
    assert report["held"] == [{"name": "homelab-lab-pinned", "current": "1.0-1", "pending": "1.1-1"}], report
    # The lab's k3s port is a stand-in, not an API, and the node has no kubectl: draining is the person's.
    assert any(f"drain {HOST} before the upgrade and uncordon it after" in s for s in report["for_the_person"])

    again = plan(project)
    assert changed(again["review"]) == [], again["review"]
    reapplied = apply(project, again)
    assert reapplied["status"] == "succeeded" and changed(reapplied) == []
    assert versions(lab) == {"homelab-lab-tool": "1.1-1", "homelab-lab-pinned": "1.0-1"}


def test_a_required_reboot_that_is_not_allowed_is_the_persons_step(lab: Lab, planted: None) -> None:
    boot = lab_ssh(lab, HOST, "cat /proc/sys/kernel/random/boot_id").stdout
    required = lab_ssh(lab, HOST, "echo '*** System restart required ***' | sudo tee /var/run/reboot-required")
    assert required.returncode == 0, required.stderr
    run = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(lab.inventory),
                          str(ROOT / "playbooks" / "update_packages.yml"), "-l", HOST],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reboot pending: /var/run/reboot-required exists and package_updates_allow_reboot is false" in run.stdout
    assert '"reboot": "pending"' in run.stdout, run.stdout
    # Allowed, on a lab host (a container that `reboot` would end): the lab's restart, said, not done.
    allowed = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(lab.inventory),
                              str(ROOT / "playbooks" / "update_packages.yml"), "-l", HOST,
                              "-e", '{"package_updates_allow_reboot": true}'],
                             cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert f"homelab lab restart {HOST}" in allowed.stdout and '"reboot": "lab"' in allowed.stdout, allowed.stdout
    assert "changed=0" in allowed.stdout, allowed.stdout
    assert lab_ssh(lab, HOST, "cat /proc/sys/kernel/random/boot_id").stdout == boot, "the host was rebooted"
