"""verify_network_upgrade on the sandbox lab: every link judged, a planted hardware swap seen, iperf3 cleaned up.

Real ansible-core through ansible-runner over SSH to the lab's hosts; the links come from the lab's ethtool
replay and /sys/class/net tree, and `homelab lab link` stands in for fitting a faster NIC path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_homelab
from tests.integration.conftest import LAB_NET, Lab, homelab_in, plan_json

BARE_METAL = ("still-fawn", "pumped-piglet", "chief-horse", "fun-bedbug")
VMS = ("k3s-vm-still-fawn", "k3s-vm-pumped-piglet", "k3s-vm-chief-horse", "maas", "uptime-kuma")


def link_lines(plan: dict) -> dict[str, str]:
    """Each host's summary line from the review's "Show each link against the target" task."""
    (step,) = plan["review"]["steps"]
    assert step["status"] == "successful", step
    return {t["host"]: t["report"] for t in step["tasks"] if t["task"] == "Show each link against the target"}


@pytest.fixture
def relinked(lab: Lab) -> Iterator[None]:
    """pumped-piglet's NIC linked at 2500, as after a switch swap; put back as documented afterwards."""
    result = run_homelab("lab", "link", "pumped-piglet", "enp4s0", "--speed", "2500", env=lab.env)
    assert result.rc == 0, result.stderr
    try:
        yield
    finally:
        back = run_homelab("lab", "link", "pumped-piglet", "enp4s0", "--speed", "1000", env=lab.env)
        assert back.rc == 0, back.stderr


def test_every_link_below_target_before_the_swap(project: Path) -> None:
    plan = plan_json(homelab_in(project, "plan", "did the 2.5GbE upgrade work?", "--format", "json"))
    assert [s["playbook"] for s in plan["steps"]] == ["verify_network_upgrade"]
    lines = link_lines(plan)
    assert sorted(lines) == sorted(BARE_METAL + VMS)
    for host in BARE_METAL:
        assert "below target" in lines[host], lines[host]
    assert "likely the other end: sw-core's ports are documented at 1000 Mbps" in lines["pumped-piglet"]
    assert "the NIC (r8169) supports at most 1000 Mbps" in lines["still-fawn"]
    assert "likely the cable" in lines["still-fawn"]  # the lab plants a 100 Mbps link there
    for vm in VMS:
        assert "follows its hypervisor" in lines[vm], lines[vm]
    # The review's findings refreshed the NICs in the inventory's discovered block.
    assert "speed_mbps: 1000" in (project / "inventory" / "host_vars" / "pumped-piglet.yml").read_text()


def test_after_the_swap_pumped_piglet_reached_the_target_and_the_others_did_not(
        lab: Lab, project: Path, relinked: None) -> None:
    status = json.loads(run_homelab("lab", "status", "--format", "json", env=lab.env).stdout)
    assert {r["host"]: r["links_set"] for r in status}["pumped-piglet"] == "enp4s0 2500 full"
    plan = plan_json(homelab_in(project, "plan", "did the 2.5GbE upgrade work?", "--format", "json"))
    lines = link_lines(plan)
    assert lines["pumped-piglet"].startswith("pumped-piglet enp4s0: 2500 Mbps full — reached 2500 target")
    for host in ("still-fawn", "chief-horse", "fun-bedbug"):
        assert "below target" in lines[host], lines[host]
    facts = (project / "inventory" / "host_vars" / "pumped-piglet.yml").read_text()
    assert "speed_mbps: 2500" in facts
    # The generated topology follows the new facts.
    assert '"enp4s0 2.5 Gbps found"' in (project / "docs" / "INFRASTRUCTURE.md").read_text()


def _iperf3_processes() -> list[str]:
    """Command lines of iperf3 processes bound to this lab's addresses (other labs may run their own)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "iperf3":
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"{LAB_NET}." in cmdline:
            found.append(cmdline)
    return found


def test_iperf3_between_two_lab_hosts_reports_throughput_and_leaves_no_server(project: Path) -> None:
    plan = plan_json(homelab_in(project, "plan", "-p", "verify_network_upgrade", "-l", "pumped-piglet,fun-bedbug",
                                "-e", "network_verify_iperf_server=pumped-piglet",
                                "-e", "network_verify_iperf_client=fun-bedbug",
                                "-e", "network_verify_iperf_seconds=2", "--format", "json"))
    (step,) = plan["review"]["steps"]
    assert step["status"] == "successful", step
    (shown,) = [t["report"] for t in step["tasks"] if t["task"] == "Show the throughput against the target"]
    assert shown.startswith("fun-bedbug → pumped-piglet: ") and " Mbps measured — " in shown
    measured = int(shown.split(": ", 1)[1].split(" Mbps", 1)[0])
    assert measured > 0  # real TCP over loopback between the two lab addresses
    assert _iperf3_processes() == []


def test_a_throughput_test_with_one_host_named_is_refused_before_anything_starts(project: Path) -> None:
    result = homelab_in(project, "plan", "-p", "verify_network_upgrade", "-l", "pumped-piglet",
                        "-e", "network_verify_iperf_server=pumped-piglet", "--format", "json")
    (step,) = json.loads(result.stdout)["review"]["steps"]
    assert step["status"] == "failed"
    assert _iperf3_processes() == []
