"""Facts back into the inventory, drift, docs and session logs, against the sandbox lab."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.conftest import run_homelab
from tests.integration.conftest import Lab, homelab_in, pid_alive, plan_json

HOSTS = ("still-fawn", "pumped-piglet", "chief-horse", "fun-bedbug", "k3s-vm-still-fawn",
         "k3s-vm-pumped-piglet", "k3s-vm-chief-horse", "maas", "uptime-kuma")
#: Exactly what planner/lab/planted.yml plants, and nothing else.
PLANTED = {("still-fawn", "link_speed"), ("k3s-vm-chief-horse", "address"), ("uptime-kuma", "service_missing")}


def discovered(project: Path, host: str) -> dict:
    """The host's discovered block, read the way Ansible reads host_vars."""
    from ansible.parsing.dataloader import DataLoader

    data = DataLoader().load_from_file(str(project / "inventory" / "host_vars" / f"{host}.yml"))
    return data["discovered"]


def test_facts_land_in_the_inventory_and_drift_finds_only_what_the_lab_planted(lab: Lab, project: Path) -> None:
    before = {h: (project / "inventory" / "host_vars" / f"{h}.yml").read_bytes() for h in HOSTS}
    gathered = homelab_in(project, "facts", "--format", "json")
    assert gathered.rc == 0, gathered.stdout + gathered.stderr
    assert set(json.loads(gathered.stdout)["written"]) == set(HOSTS)
    for host in HOSTS:
        after = (project / "inventory" / "host_vars" / f"{host}.yml").read_bytes()
        # The person's text is kept byte for byte; the machine's block is added after it.
        assert after.startswith(before[host]) and b"\ndiscovered:\n" in after[len(before[host]) - 1:], host

    fawn = discovered(project, "still-fawn")
    nic = next(n for n in fawn["nics"] if n["name"] == "enp5s0")
    assert (nic["speed_mbps"], nic["max_speed_mbps"], nic["driver"]) == (100, 1000, "r8169")
    assert [g["model"] for g in fawn["gpus"]] == ["NVIDIA GeForce RTX 3070"]
    assert fawn["gpus"][0]["memory_total_mib"] == 8192 and fawn["gpus"][0]["cuda_version"] == "13.0"
    assert 60 * 1024 < fawn["memory_mib"] <= 64 * 1024
    assert fawn["cpu"]["model"] == "AMD Ryzen 7 5800X" and fawn["cpu"]["cores"] == 8
    lan = next(a for a in fawn["addresses"] if a["interface"] == "enp5s0")
    assert (lan["address"], lan["method"], lan["manager"]) == ("192.168.4.11", "static", "networkd")
    moved = discovered(project, "k3s-vm-chief-horse")
    lease = next(a for a in moved["addresses"] if a["interface"] == "ens18")
    assert (lease["address"], lease["method"], lease["manager"]) == ("192.168.4.57", "dhcp", "ifupdown")
    assert lease["lease_expires"].startswith("20")
    virtio = next(n for n in moved["nics"] if n["name"] == "ens18")
    assert virtio.get("speed_mbps") is None, "a virtual NIC's unknown speed must not become a number"
    assert moved["services"]["k3s"]["present"] is True
    kuma = discovered(project, "uptime-kuma")
    assert 3001 in {entry["port"] for entry in kuma["services"]["listening"]}
    assert "gpus" not in discovered(project, "maas") and discovered(project, "maas")["nvidia_smi"] == "absent"

    report = json.loads(homelab_in(project, "drift", "--format", "json").stdout)
    assert {(f["host"], f["field"]) for f in report["findings"]} == PLANTED, report["findings"]
    assert "prometheus" in next(f for f in report["findings"] if f["host"] == "uptime-kuma")["documented"]
    failing = homelab_in(project, "drift", "--fail-on-drift")
    assert failing.rc == 1 and failing.stderr.startswith("Error: 3 drift finding(s)")

    # A second gathering rewrites only the time it was gathered at.
    first = {h: (project / "inventory" / "host_vars" / f"{h}.yml").read_text() for h in HOSTS}
    time.sleep(1.1)
    assert homelab_in(project, "facts").rc == 0
    for host in HOSTS:
        old = first[host].splitlines()
        new = (project / "inventory" / "host_vars" / f"{host}.yml").read_text().splitlines()
        changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
        assert len(changed) == 1 and "gathered_at" in changed[0][0], (host, changed)

    docs = homelab_in(project, "docs")
    assert docs.rc == 0, docs.stderr
    infra = (project / "docs" / "INFRASTRUCTURE.md").read_text()
    assert "192.168.4.57" in infra and "100 Mbps" in infra and "prometheus" in infra
    assert homelab_in(project, "docs", "--check").rc == 0


def test_an_unreachable_host_keeps_its_facts_marked_stale(lab: Lab, project: Path) -> None:
    victim = "fun-bedbug"
    assert homelab_in(project, "facts", "-l", victim).rc == 0
    known = discovered(project, victim)
    pid = lab.state()["hosts"][victim]["pid"]
    os.kill(pid, signal.SIGTERM)  # the lab started it; stopped by its recorded pid
    try:
        for _ in range(100):
            if not pid_alive(pid):
                break
            time.sleep(0.1)
        failed = homelab_in(project, "facts", "-l", victim)
        assert failed.rc == 1, failed.stderr
        assert "stale" in failed.stderr
        stale = discovered(project, victim)
        assert stale["reachable"] is False and stale["stale_since"] and stale["last_error"]
        assert stale["nics"] == known["nics"] and stale["gathered_at"] == known["gathered_at"]
        report = json.loads(homelab_in(project, "drift", "--format", "json").stdout)
        assert (victim, "unreachable") in {(f["host"], f["field"]) for f in report["findings"]}
        again = homelab_in(project, "facts", "-l", victim)
        assert discovered(project, victim)["stale_since"] == stale["stale_since"], "since when must not move"
        assert again.rc == 1
    finally:
        restored = run_homelab("lab", "up", env=lab.env, timeout=300)
        assert restored.rc == 0, restored.stderr


def test_apply_reads_hosts_back_regenerates_docs_and_logs_the_session(lab: Lab, project: Path) -> None:
    made = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas",
                                "-e", "baseline_journald_max_retention=5weeks", "--format", "json"))
    applied = homelab_in(project, "apply", made["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    assert "facts updated: maas" in applied.stderr
    assert "docs/INFRASTRUCTURE.md" in applied.stderr  # the person sees which docs changed, with their diff
    assert discovered(project, "maas")["os"]["name"] == "Debian"
    assert homelab_in(project, "docs", "--check").rc == 0

    refused = homelab_in(project, "apply", made["id"], "--yes")
    assert refused.rc == 4
    entries = json.loads(homelab_in(project, "history", "--host", "maas", "--format", "json").stdout)
    kinds = [e["kind"] for e in entries if e["plan"] == made["id"]]
    assert kinds == ["plan", "approval", "apply", "refusal"], kinds
    assert entries[-1]["decision"] == "refused by the tool"
    applied_entry = next(e for e in entries if e["kind"] == "apply")
    assert applied_entry["outcome"] == {"maas": "changed"}
    log = next((project / "docs" / "sessions").glob("*.md")).read_text()
    assert made["id"] in log and "5weeks" not in log, "session logs carry variable names, never values"
