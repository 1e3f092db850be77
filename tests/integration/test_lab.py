"""The sandbox lab: real hosts over real SSH, and real Ansible against them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run_homelab
from tests.integration.conftest import LAB_NET, Lab

HOSTS = ["still-fawn", "pumped-piglet", "chief-horse", "fun-bedbug", "k3s-vm-still-fawn",
         "k3s-vm-pumped-piglet", "k3s-vm-chief-horse", "maas", "uptime-kuma"]


def lab_ssh(lab: Lab, host: str, command: str) -> subprocess.CompletedProcess:
    """Run a command on a lab host through `homelab lab ssh` (pinned host keys, the lab's key)."""
    import os

    return subprocess.run([sys.executable, "-m", "planner", "lab", "ssh", host, "--", command], cwd=ROOT,
                          env={**os.environ, **lab.env}, capture_output=True, text=True, timeout=60, check=False)


def test_status_lists_every_inventory_host_answering(lab: Lab) -> None:
    result = run_homelab("lab", "status", "--format", "json", env=lab.env)
    assert result.rc == 0, result.stderr
    rows = {r["host"]: r for r in json.loads(result.stdout)}
    assert sorted(rows) == sorted(HOSTS)
    for name, row in rows.items():
        assert row["running"] and row["ssh"], name
        assert row["address"].startswith(LAB_NET + ".")
    assert len({r["address"] for r in rows.values()}) == len(HOSTS)


def test_each_host_is_its_own_machine(lab: Lab) -> None:
    seen = set()
    for host in ("still-fawn", "maas"):
        result = lab_ssh(lab, host, "hostname; cat /etc/machine-id; systemctl is-system-running; sudo -n id -u")
        assert result.returncode == 0, result.stderr
        name, machine_id, system, uid = result.stdout.split()
        assert name == host
        assert system in ("running", "degraded")
        assert uid == "0", "the admin user becomes root with sudo"
        seen.add(machine_id)
    assert len(seen) == 2


def test_hardware_profiles_replay_real_tools(lab: Lab) -> None:
    gpu = lab_ssh(lab, "pumped-piglet", "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader")
    assert gpu.returncode == 0, gpu.stderr
    assert gpu.stdout.strip() == "NVIDIA GeForce RTX 3090, 24576 MiB"
    none = lab_ssh(lab, "chief-horse", "command -v nvidia-smi || echo no-nvidia-smi")
    assert none.stdout.strip() == "no-nvidia-smi"
    nic = lab_ssh(lab, "pumped-piglet",
                  "cat /sys/class/net/*/speed; /usr/sbin/ethtool $(ls /sys/class/net | grep -v lo | head -1)")
    assert nic.returncode == 0, nic.stderr
    assert "1000" in nic.stdout.splitlines()
    assert "2500baseT/Full" in nic.stdout and re.search(r"Speed: 1000Mb/s", nic.stdout)


def test_second_up_keeps_running_hosts(lab: Lab) -> None:
    before = {n: h["pid"] for n, h in lab.state()["hosts"].items()}
    result = run_homelab("lab", "up", env=lab.env, timeout=120)
    assert result.rc == 0, result.stderr
    after = {n: h["pid"] for n, h in lab.state()["hosts"].items()}
    assert after == before


def test_host_keys_are_pinned(lab: Lab, tmp_path: Path) -> None:
    """StrictHostKeyChecking stays on: a host whose key is not the pinned one is refused."""
    state = lab.state()["hosts"]["maas"]
    wrong = tmp_path / "known_hosts"
    other = (lab.dir / "hosts" / "still-fawn" / "upper" / "etc" / "ssh" / "ssh_host_ed25519_key.pub").read_text()
    wrong.write_text(f"{state['address']} {' '.join(other.split()[:2])}\n")
    proc = subprocess.run(["ssh", "-i", str(lab.dir / "id_ed25519"), "-o", f"UserKnownHostsFile={wrong}",
                           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"admin@{state['address']}",
                           "true"], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in proc.stderr or "Host key verification failed" in proc.stderr


def test_gather_facts_playbook_runs_on_every_host(lab: Lab) -> None:
    """The catalog playbook runs directly with ansible-playbook, as CI would run it."""
    proc = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(lab.inventory),
                           "playbooks/gather_facts.yml"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    recap = {m.group(1): m.group(2) for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", proc.stdout, re.M)}
    assert sorted(recap) == sorted(HOSTS)
    for host, line in recap.items():
        assert "unreachable=0" in line and "failed=0" in line, f"{host}: {line}"
    assert "NVIDIA GeForce RTX 3070" in proc.stdout
