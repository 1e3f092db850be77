"""diagnose_host on the sandbox lab: "why is k3s-vm-still-fawn slow" with a runaway process planted there, and
again once it is cleared; a full filesystem planted and found.

Real ansible-core through ansible-runner over SSH to the lab's hosts; the hog is the lab's planted fault
(`homelab lab plant HOST cpu-hog`: the transient unit lab-cpu-hog.service, one busy loop), the full filesystem
the 32 MiB tmpfs every lab host has at /srv/lab-full, filled by `homelab lab plant HOST disk-full`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner import yamlio
from tests.conftest import run_homelab
from tests.integration.conftest import Lab, homelab_in, plan_json

HOST = "k3s-vm-still-fawn"
# The lab shares a 2-core machine with its other hosts and with whatever else runs there: a busy loop does
# not always get a whole core (47 % was seen under a load of 7), so the runaway threshold is 15 % of a core
# here, not the default 80 %. The hog still has to stay above it in both samples, and an idle lab host's
# processes stay far below it. A request's words choose no threshold, so it is set as a person would for
# one host: in its host_vars.
THRESHOLD = "diagnose_cpu_threshold_pct: 15\n"


@pytest.fixture
def planted(lab: Lab) -> Iterator[Any]:
    """Plant faults on the lab's hosts; every fault planted is cleared at the end, whatever happened."""
    done: list[tuple[str, str]] = []

    def plant(host: str, fault: str, clear: bool = False) -> str:
        result = run_homelab("lab", "plant", host, fault, *(["--clear"] if clear else []), env=lab.env)
        assert result.rc == 0, result.stderr
        if not clear:
            done.append((host, fault))
        return result.stderr

    try:
        yield plant
    finally:
        for host, fault in reversed(done):
            run_homelab("lab", "plant", host, fault, "--clear", env=lab.env)


def main_pid(lab: Lab, host: str) -> int:
    shown = run_homelab("lab", "ssh", host, "--", "systemctl", "show", "-p", "MainPID", "--value", "lab-cpu-hog",
                        env=lab.env)
    assert shown.rc == 0, shown.stderr
    return int(shown.stdout.strip())


def diagnose(project: Path, intent: str) -> tuple[dict, dict[str, Any], list[str], str]:
    """The plan, its homelab_* report for HOST, the review's lines as `homelab show` prints them, and stderr."""
    made = homelab_in(project, "plan", intent, "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    assert (plan["steps"][0]["playbook"], plan["steps"][0]["hosts"]) == ("diagnose_host", [HOST]), plan["steps"]
    step = plan["review"]["steps"][0]
    assert step["status"] == "successful", step
    (task,) = [t for t in step["tasks"]
               if t["host"] == HOST and t["task"] == "Report the health and the proposed steps"]
    assert set(task["report"]) == {"homelab_health", "homelab_proposals"}
    shown = homelab_in(project, "show", plan["id"])
    assert shown.rc == 0, shown.stderr
    return plan, task["report"], [line.strip() for line in shown.stdout.splitlines()], made.stderr


@pytest.fixture
def project(project: Path) -> Path:
    """The project copy, with the lower threshold for HOST (see THRESHOLD)."""
    host_vars = project / "inventory" / "host_vars" / f"{HOST}.yml"
    host_vars.write_text(host_vars.read_text() + THRESHOLD)
    return project


def discovered(project: Path) -> dict[str, Any]:
    return yamlio.plain(yamlio.load(project / "inventory" / "host_vars" / f"{HOST}.yml"))["discovered"]


def test_a_planted_hog_is_named_with_its_pid_and_unit_then_gone_once_cleared(
        project: Path, lab: Lab, planted: Any) -> None:
    said = planted(HOST, "cpu-hog")
    pid = main_pid(lab, HOST)
    assert f"runs as pid {pid}" in said
    assert planted(HOST, "cpu-hog") == said, "planting again keeps the running hog"

    plan, report, lines, stderr = diagnose(project, f"why is {HOST} slow")
    health, proposals = report["homelab_health"], report["homelab_proposals"]
    (hog,) = [p for p in health["runaway"] if p["pid"] == pid]
    assert hog["unit"] == "lab-cpu-hog.service" and not hog["k3s_pod"]
    assert hog["cmdline"].endswith("python3 /usr/local/bin/lab-cpu-hog")
    assert hog["cgroup"] == "/system.slice/lab-cpu-hog.service" and hog["cpu_pct"] > 15
    # The review a person reads names the process, its pid and its unit.
    assert any(line.startswith(("critical cpu-runaway", "warning cpu-runaway")) and f"pid {pid}," in line
               and "lab-cpu-hog.service" in line for line in lines), lines
    assert any(line.startswith("evidence: pid ") for line in lines), lines
    assert (f"proposed (standard): remediate_runaway_processes — Stop python3 (pid {pid}): each kept a core busy "
            "in both samples.") in lines, lines
    (standard, permanent) = [s for s in proposals["steps"] if any(
        p.get("pid") == pid or p.get("unit") == "lab-cpu-hog.service"
        for p in s["vars"].get("remediate_processes") or s["vars"].get("remediate_limits"))]
    assert (standard["playbook"], standard["kind"]) == ("remediate_runaway_processes", "standard")
    assert standard["vars"]["remediate_action"] == "stop"
    assert {"pid": pid, "start_time": hog["start_time"], "cmdline": hog["cmdline"],
            "unit": "lab-cpu-hog.service"} in standard["vars"]["remediate_processes"]
    assert permanent["kind"] == "permanent" and permanent["vars"]["remediate_processes"] == []
    assert proposals["manual"] == []
    # The standard fix is the plan's own next step, for this host alone, reviewed in check mode; the permanent
    # one waits until the problem keeps coming back (the project's knowledge base has not seen it 3 times).
    fix = plan["steps"][1:]
    assert [(s["playbook"], s["hosts"], s["vars"]) for s in fix] == [
        ("remediate_runaway_processes", [HOST], standard["vars"])], fix
    (fix_review,) = plan["review"]["steps"][1:]
    assert fix_review["check"] and fix_review["status"] == "successful", fix_review
    assert any(t["status"] == "changed" for t in fix_review["tasks"]), "check mode shows the process it would stop"
    assert main_pid(lab, HOST) == pid, "the review stopped nothing"

    # The review wrote the health back into the host's discovered block.
    assert "facts updated by diagnose_host:" in stderr
    written = discovered(project)["health"]
    assert [p["pid"] for p in written["runaway"]] == [p["pid"] for p in health["runaway"]]
    assert written["checked_at"] == health["checked_at"] and written["cores"] == health["cores"]

    planted(HOST, "cpu-hog", clear=True)
    again, report, lines, _ = diagnose(project, f"check why {HOST} seems slow")
    assert report["homelab_health"]["runaway"] == [] and report["homelab_proposals"]["steps"] == []
    assert [s["playbook"] for s in again["steps"]] == ["diagnose_host"], "nothing to fix, nothing proposed"
    assert not any("cpu-runaway" in line for line in lines)
    assert discovered(project)["health"].get("runaway", []) == []


def test_a_full_filesystem_is_found(project: Path, planted: Any) -> None:
    assert "/srv/lab-full 100% used" in planted(HOST, "disk-full")
    _, report, lines, _ = diagnose(project, f"is the disk full on {HOST}")
    (full,) = [f for f in report["homelab_health"]["findings"]
               if f["id"] == "disk-full" and "/srv/lab-full" in f["summary"]]
    assert full["severity"] == "critical" and full["runbook"] == "Filesystem full"
    (fs,) = [f for f in report["homelab_health"]["filesystems"] if f["mount"] == "/srv/lab-full"]
    assert fs["used_pct"] >= 97 and fs["fstype"] == "tmpfs" and fs["size_mib"] == 32
    assert any(line.startswith("critical disk-full: /srv/lab-full") for line in lines), lines


def test_a_hostile_command_line_is_reported_as_text_and_never_becomes_a_step(project: Path, lab: Lab) -> None:
    """A process whose command line carries Jinja (a host can name its processes anything): the diagnosis
    reports it as it is, the proposal that would carry it into a plan's variables is left out and said so,
    and nothing on the controller or the host runs the lookup."""
    import shlex

    marker = project / "pwned"
    hostile = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    unit = "it-hostile-hog.service"
    start = f"systemd-run --unit={unit} -p Nice=19 python3 -c 'while True: pass' {shlex.quote(hostile)}"
    ran = run_homelab("lab", "ssh", HOST, "--", "sudo", "sh", "-c", shlex.quote(start), env=lab.env, timeout=60)
    assert ran.rc == 0, ran.stderr
    try:
        plan, report, lines, _ = diagnose(project, f"why is {HOST} slow")
        assert any(hostile in p["cmdline"] for p in report["homelab_health"]["runaway"]), report
        assert [s["playbook"] for s in plan["steps"]] == ["diagnose_host"], "the proposal carrying Jinja is left out"
        assert "Jinja is not allowed in plan variables" in plan["explanation"], plan["explanation"]
        assert not marker.exists()
        check = run_homelab("lab", "ssh", HOST, "--", "test", "-e", shlex.quote(str(marker)), env=lab.env)
        assert check.rc == 1, "nothing ran the lookup on the host either"
    finally:
        run_homelab("lab", "ssh", HOST, "--", "sudo", "systemctl", "stop", unit, env=lab.env, timeout=60)
