"""prepare_network_upgrade against the sandbox lab: plan, check, apply, idempotence, and the k3s pre-check."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_lab import lab_ssh

BASELINE = "/var/lib/homelab/network-upgrade/baseline.json"
# A physical NIC (with the lab's planted 100 Mbps link), a virtio NIC on a k3s VM running k3s, and maas.
HOSTS = ("still-fawn", "k3s-vm-pumped-piglet", "maas")


def baseline(lab: Lab, host: str) -> dict | None:
    """The host's baseline file, or None when there is none."""
    read = lab_ssh(lab, host, f"sudo cat {BASELINE} 2>/dev/null || echo absent")
    assert read.returncode == 0, read.stderr
    return None if read.stdout.strip() == "absent" else json.loads(read.stdout)


def documented_nics(project: Path, host: str) -> list[dict]:
    from planner import yamlio

    return yamlio.plain(yamlio.load(project / "inventory" / "host_vars" / f"{host}.yml"))["hardware"]["nics"]


def test_prepare_records_the_baseline_once_and_changes_nothing_in_check_mode(lab: Lab, project: Path) -> None:
    limit = ",".join(HOSTS)
    made = homelab_in(project, "plan", "-p", "prepare_network_upgrade", "-l", limit, "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    review = plan["review"]["steps"][0]
    assert sorted(review["hosts"]) == sorted(HOSTS)
    assert all(s["changed"] >= 2 and s["failed"] == 0 and not s["unreachable"] for s in review["hosts"].values())
    # The baseline is a reading of live state: the review says it is written, without a diff that the apply
    # could never match (a scheduled run's recheck compares them).
    written = [t for t in review["tasks"] if t["task"].endswith("Write the NIC baseline")]
    assert sorted(t["host"] for t in written if t["status"] == "changed" and not t["diffs"]) == sorted(HOSTS)
    assert all(baseline(lab, h) is None for h in HOSTS), "the check run wrote the baseline"

    applied = homelab_in(project, "apply", plan["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    records = {h: baseline(lab, h) for h in HOSTS}
    for host, record in records.items():
        assert record is not None, host
        nics = documented_nics(project, host)
        assert sorted(record["nics"]) == sorted(n["name"] for n in nics), host
        for nic in nics:
            got = record["nics"][nic["name"]]
            assert got["driver"] == nic["driver"] and got["firmware"] is None
            assert {k: got[k] for k in ("rx_errors", "tx_errors", "rx_dropped", "tx_dropped")} == dict.fromkeys(
                ("rx_errors", "tx_errors", "rx_dropped", "tx_dropped"), 0)
    # still-fawn's cable is planted damaged (planner/lab/planted.yml); virtio NICs report no speed.
    assert records["still-fawn"]["nics"]["enp5s0"]["speed_mbps"] == 100
    assert records["still-fawn"]["nics"]["enp5s0"]["duplex"] == "full"
    assert records["maas"]["nics"]["ens18"]["speed_mbps"] is None
    assert all(lab_ssh(lab, h, "command -v iperf3").returncode == 0 for h in HOSTS)

    again = plan_json(homelab_in(project, "plan", "-p", "prepare_network_upgrade", "-l", limit, "--format", "json"))
    assert all(s["changed"] == 0 and s["failed"] == 0 for s in again["review"]["steps"][0]["hosts"].values())
    second = homelab_in(project, "apply", again["id"], "--yes")
    assert second.rc == 0, second.stderr
    outcomes = plan_json(homelab_in(project, "show", again["id"], "--format", "json"))["applies"][-1]["hosts"]
    assert {h: o["outcome"] for h, o in outcomes.items()} == dict.fromkeys(HOSTS, "ok")
    assert {h: baseline(lab, h) for h in HOSTS} == records, "the baseline is written once"


def test_a_k3s_host_whose_k3s_is_down_fails_the_precheck(lab: Lab, project: Path) -> None:
    host = "k3s-vm-chief-horse"
    stop = lab_ssh(lab, host, "sudo systemctl stop k3s")
    assert stop.returncode == 0, stop.stderr
    try:
        made = homelab_in(project, "plan", "-p", "prepare_network_upgrade", "-l", f"{host},maas", "--format", "json")
    finally:
        start = lab_ssh(lab, host, "sudo systemctl start k3s")
        assert start.returncode == 0, start.stderr
    assert made.rc == 1, made.stderr
    review = plan_json(made)["review"]["steps"][0]
    assert review["hosts"][host]["failed"] == 1 and review["hosts"]["maas"]["failed"] == 0
    failed = [t for t in review["tasks"] if t["host"] == host and t["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["task"] == "Check the k3s unit is active where it is installed"
    assert "its k3s.service unit is not active (stopped)" in failed[0]["msg"]
    assert "the cluster is already degraded, so the network upgrade wave must not start here" in failed[0]["msg"]
    assert baseline(lab, host) is None, "nothing is written on a host that failed its pre-check"
    # With k3s running again the same pre-check passes.
    retried = plan_json(homelab_in(project, "plan", "-p", "prepare_network_upgrade", "-l", host, "--format", "json"))
    assert retried["review"]["steps"][0]["hosts"][host]["failed"] == 0
