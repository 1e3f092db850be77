"""deploy_trial_service and remove_trial_service against the sandbox lab: a real trial, its DNS name, its removal.

The lab has no container runtime and no registry, so the trial of ollama runs the lab's stand-in (a real
lighttpd from the lab's root filesystem, serving ollama's health path on still-fawn's lab address and
ollama's port); its name is registered in the lab's dnsmasq on the maas lab host and looked up with a real
DNS query there (docs/LAB.md).
"""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

from planner import yamlio
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_lab import lab_ssh

HOST = "still-fawn"
UNIT = "homelab-trial-ollama.service"
RECORD = "/var/lib/homelab/trials/ollama.json"
DNS_FILE = "/etc/dnsmasq.d/homelab-trial-ollama.conf"
NAME = "ollama-trial.maas"


def lab_address(lab: Lab, host: str) -> str:
    return str(lab.state()["hosts"][host]["address"])


def dns_query(server: str, name: str) -> list[str]:
    """The A records ``server`` answers for ``name`` (a real UDP query on port 53; [] for NXDOMAIN)."""
    qid = 0x5A17
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question, (server, 53))
        reply = sock.recv(512)
    rid, flags, _, answers, _, _ = struct.unpack(">HHHHHH", reply[:12])
    assert rid == qid and flags & 0x8000, "not an answer to our query"
    if flags & 0xF == 3:
        return []
    assert flags & 0xF == 0, f"DNS error rcode {flags & 0xF}"
    pos, found = 12 + len(question), []
    for _ in range(answers):
        pos += 2 if reply[pos] & 0xC0 == 0xC0 else reply.index(b"\0", pos) + 1 - pos
        rtype, _, _, length = struct.unpack(">HHIH", reply[pos:pos + 10])
        if rtype == 1:
            found.append(socket.inet_ntoa(reply[pos + 10:pos + 10 + length]))
        pos += 10 + length
    return found


def leftovers(lab: Lab) -> list[str]:
    """What of the trial is still on still-fawn and the maas host."""
    left = []
    for host, paths in ((HOST, [f"/etc/systemd/system/{UNIT}", RECORD, "/etc/homelab/trials/ollama",
                                "/var/lib/homelab/trials/ollama"]), ("maas", [DNS_FILE])):
        for path in paths:
            if lab_ssh(lab, host, f"sudo test -e {path}").returncode == 0:
                left.append(f"{host}:{path}")
    if lab_ssh(lab, HOST, f"systemctl is-active --quiet {UNIT}").returncode == 0:
        left.append(f"{HOST}:{UNIT} active")
    return left


def plan(project: Path, playbook: str) -> dict:
    made = homelab_in(project, "plan", "-p", playbook, "-l", HOST, "-e", "trial_service_name=ollama",
                      "--format", "json")
    assert made.rc == 0, made.stderr
    return plan_json(made)


def apply(project: Path, plan: dict) -> dict:
    """The plan applied; its apply record."""
    applied = homelab_in(project, "apply", plan["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    shown = plan_json(homelab_in(project, "show", plan["id"], "--format", "json"))
    return shown["applies"][-1]


def plan_and_apply(project: Path, playbook: str) -> tuple[dict, dict]:
    made = plan(project, playbook)
    return made, apply(project, made)


def told(apply: dict) -> dict:
    """The homelab_service mapping of the role's last task, from the apply's results."""
    reports = [t["report"] for t in apply["steps"][0]["tasks"]
               if isinstance(t.get("report"), dict) and "homelab_service" in t["report"]]
    assert len(reports) == 1, apply["steps"][0]["tasks"][-1]
    return reports[0]["homelab_service"]


def test_a_trial_runs_answers_resolves_and_is_removed_without_a_trace(lab: Lab, project: Path) -> None:
    address, dns_server = lab_address(lab, HOST), lab_address(lab, "maas")
    # The LAN's view, as MAAS serves it: the host's documented LAN address (its lab address comes from
    # /etc/hosts on the lab hosts, so nothing there connects to a 192.168.4.x address).
    lan_ip = yamlio.plain(yamlio.load(project / "inventory" / "host_vars" / f"{HOST}.yml"))["lan_ip"]
    assert dns_query(dns_server, f"{HOST}.maas") == [lan_ip], "the lab's DNS does not serve the LAN's names"
    assert dns_query(dns_server, NAME) == [] and leftovers(lab) == []

    deploy = plan(project, "deploy_trial_service")
    review = deploy["review"]["steps"][0]
    diffs = {t["task"].split(" : ")[-1]: t for t in review["tasks"] if t["status"] == "changed"}
    unit_diff = json.dumps(diffs["Write the trial's unit"]["diffs"])
    assert "Description=Trial of ollama (lighttpd)" in unit_diff
    assert "ExecStart=/usr/sbin/lighttpd -D -f /etc/homelab/trials/ollama/lighttpd.conf" in unit_diff
    assert f"host-record={NAME},{address}" in json.dumps(diffs["Write the trial's DNS record for dnsmasq"]["diffs"])
    unknown = {t["task"].split(" : ")[-1]: t["unknown_reason"] for t in review["tasks"] if t["status"] == "unknown"}
    assert "check mode" in unknown.get("Check the trial answers its health check", ""), "\n".join(str(x) for x in [
        (t["task"], t["status"], t["unknown_reason"], t["msg"]) for t in review["tasks"]])
    assert review["hosts"][HOST]["failed"] == 0
    assert leftovers(lab) == [], "the check run changed the host"

    applied = apply(project, deploy)
    assert applied["status"] == "succeeded" and applied["surprise_count"] == 0, applied["surprises"]
    assert lab_ssh(lab, HOST, f"systemctl is-active {UNIT}").stdout.strip() == "active"
    health = lab_ssh(lab, HOST, f"python3 -c \"import urllib.request as u; print(u.urlopen('http://{NAME}:11434"
                                f"/api/version').status)\"")
    assert health.stdout.strip() == "200", health.stderr
    assert dns_query(dns_server, NAME) == [address]
    assert lab_ssh(lab, HOST, f"getent hosts {NAME}").stdout.split()[:1] == [address]
    service = told(applied)
    assert service["state"] == "present" and service["name"] == "ollama"
    assert {k: service["entry"][k] for k in ("host", "port", "dns", "tier", "health_path", "runtime", "gpu_mib")} == {
        "host": HOST, "port": 11434, "dns": NAME, "tier": "orchestrator", "health_path": "/api/version",
        "runtime": "package", "gpu_mib": 6144}
    record = json.loads(lab_ssh(lab, HOST, f"sudo cat {RECORD}").stdout)
    # lighttpd is in the lab's root filesystem: the trial did not install it, so its removal must keep it.
    assert record["stand_in"] is True and record["installed_package"] is False

    again, second = plan_and_apply(project, "deploy_trial_service")
    assert again["review"]["steps"][0]["hosts"][HOST]["changed"] == 0
    assert second["hosts"][HOST]["outcome"] == "ok", second["hosts"]

    _, removed = plan_and_apply(project, "remove_trial_service")
    assert removed["hosts"][HOST]["outcome"] == "changed"
    assert told(removed) == {"state": "absent", "name": "ollama"}
    assert leftovers(lab) == []
    assert dns_query(dns_server, NAME) == []
    assert lab_ssh(lab, HOST, "dpkg-query --show --showformat='${db:Status-Status}' lighttpd").stdout == "installed"

    repeat, twice = plan_and_apply(project, "remove_trial_service")
    assert repeat["review"]["steps"][0]["hosts"][HOST]["changed"] == 0
    assert twice["hosts"][HOST]["outcome"] == "ok"


def test_a_trial_refuses_more_than_one_host(lab: Lab, project: Path) -> None:
    made = homelab_in(project, "plan", "-p", "deploy_trial_service", "-l", f"{HOST},pumped-piglet",
                      "-e", "trial_service_name=ollama", "--format", "json")
    assert made.rc == 1, made.stderr
    failed = [t for t in plan_json(made)["review"]["steps"][0]["tasks"] if t["status"] == "failed"]
    assert failed and all("runs on one host" in (t["msg"] or "") for t in failed)
    assert leftovers(lab) == []


def test_the_container_path_in_check_mode_on_a_host_with_podman(lab: Lab, project: Path) -> None:
    """No registry is reachable here, so the container path is only reviewed: the role decides by the runtime's
    binary (it never runs it under --check), so an empty /usr/bin/podman on the host is enough for the review
    to show the podman unit it would write."""
    host = "pumped-piglet"
    made = lab_ssh(lab, host, "sudo install -m 0755 /dev/null /usr/bin/podman")
    assert made.returncode == 0, made.stderr
    try:
        result = homelab_in(project, "plan", "-p", "deploy_trial_service", "-l", host,
                            "-e", "trial_service_name=jellyfin", "--format", "json")
    finally:
        assert lab_ssh(lab, host, "sudo rm -f /usr/bin/podman").returncode == 0
    assert result.rc == 0, result.stderr
    review = plan_json(result)["review"]["steps"][0]
    unit = next(t for t in review["tasks"] if t["task"].endswith("Write the trial's unit"))
    text = json.dumps(unit["diffs"]).replace("\\\\\\n", " ")
    address = lab_address(lab, host)
    assert unit["status"] == "changed" and "Description=Trial of jellyfin in a podman container" in text
    assert f"--publish {address}:8096:8096" in text and "docker.io/jellyfin/jellyfin:10.10.3" in text
    assert not any(t["status"] == "failed" for t in review["tasks"])
    assert lab_ssh(lab, host, "test -e /etc/systemd/system/homelab-trial-jellyfin.service").returncode == 1
