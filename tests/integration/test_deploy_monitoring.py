"""deploy_monitoring against the sandbox lab: Debian's real Prometheus and node exporters, bound to lab addresses.

Both packages are in the lab's root filesystem with their units disabled, so nothing downloads and nothing
listens until the roles configure and start them. The test plans (the check run shows both configuration
diffs and changes nothing), applies, reads every service back on its host's lab address, makes Prometheus
discover a target from a file_sd file it writes itself (sync_monitors owns those files in use), applies again
(no change), feeds promtool a configuration it rejects, and checks drift takes the new listeners as documented.
At the end it stops and disables both services again: the session's lab serves other tests that expect its
monitoring host's Prometheus not to run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_lab import lab_ssh

MONITOR = "uptime-kuma"  # homelab_monitoring.prometheus.host
NODE = "still-fawn"
LIMIT = f"{MONITOR},{NODE}"
FILE_SD = "/etc/prometheus/file_sd"
TEST_TARGETS = f"{FILE_SD}/test-deploy-monitoring.yml"
UNITS = "prometheus.service prometheus-node-exporter.service"


def address(lab: Lab, host: str) -> str:
    return str(lab.state()["hosts"][host]["address"])


def get(url: str) -> tuple[int, str]:
    """One HTTP GET from the controller to a lab address (loopback)."""
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - a fixed http URL on loopback
        return reply.status, reply.read().decode()


def targets(lab: Lab) -> list[dict]:
    """Prometheus's active targets, from its HTTP API."""
    _, body = get(f"http://{address(lab, MONITOR)}:9090/api/v1/targets?state=active")
    return json.loads(body)["data"]["activeTargets"]


def on(lab: Lab, host: str, command: str) -> str:
    done = lab_ssh(lab, host, command)
    assert done.returncode == 0, f"{host}: {command}: {done.stderr}"
    return done.stdout


def plan(project: Path) -> dict:
    made = homelab_in(project, "plan", "-p", "deploy_monitoring", "-l", LIMIT, "--format", "json")
    assert made.rc == 0, made.stderr
    return plan_json(made)


def apply(project: Path, made: dict) -> dict:
    applied = homelab_in(project, "apply", made["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    return plan_json(homelab_in(project, "show", made["id"], "--format", "json"))["applies"][-1]


def stop_monitoring(lab: Lab) -> None:
    """Leave the session's lab as the other tests expect it: no Prometheus, no exporters, no test targets."""
    lab_ssh(lab, MONITOR, f"sudo rm -f {TEST_TARGETS}")
    for host in (MONITOR, NODE):
        lab_ssh(lab, host, f"sudo systemctl disable --now {UNITS}")


def test_monitoring_deploys_answers_discovers_targets_and_stays_put(lab: Lab, project: Path) -> None:
    monitor, node = address(lab, MONITOR), address(lab, NODE)
    try:
        assert on(lab, MONITOR, f"systemctl is-active {UNITS} || true").split() == ["inactive", "inactive"]
        settings_before = on(lab, NODE, "cat /etc/default/prometheus-node-exporter")

        made = plan(project)
        review = made["review"]["steps"][0]
        assert review["hosts"][MONITOR]["failed"] == 0 and review["hosts"][NODE]["failed"] == 0
        diffs = {(t["host"], t["task"].split(" : ")[-1]): json.dumps(t["diffs"])
                 for t in review["tasks"] if t["status"] == "changed"}
        assert f"--web.listen-address={node}:9100" in diffs[(NODE, "Bind the node exporter to the host's address")]
        assert f"--web.listen-address={monitor}:9090" in diffs[
            (MONITOR, "Bind Prometheus to the host's address and set its storage")]
        scrape = diffs[(MONITOR, "Write Prometheus's scrape configuration")]
        assert "file_sd_configs" in scrape and f"{FILE_SD}/*.yml" in scrape
        assert not any(host == NODE for host, task in diffs if "Prometheus" in task), "Prometheus planned off its host"
        # The check run changed nothing: same settings, nothing started.
        assert on(lab, NODE, "cat /etc/default/prometheus-node-exporter") == settings_before
        assert on(lab, MONITOR, f"systemctl is-active {UNITS} || true").split() == ["inactive", "inactive"]

        first = apply(project, made)
        assert first["status"] == "succeeded" and first["surprise_count"] == 0, first["surprises"]
        for host in (MONITOR, NODE):
            status, metrics = get(f"http://{address(lab, host)}:9100/metrics")
            assert status == 200 and "node_cpu_seconds_total" in metrics
            # Bound to the host's own address only, and enabled for the next boot.
            listening = on(lab, host, "ss -Hltn 'sport = :9100'").split()
            assert f"{address(lab, host)}:9100" in listening and "*:9100" not in listening, listening
            assert on(lab, host, "systemctl is-enabled prometheus-node-exporter.service").strip() == "enabled"
        assert get(f"http://{monitor}:9090/-/ready")[0] == 200
        assert on(lab, NODE, "systemctl is-active prometheus.service || true").strip() == "inactive"
        assert on(lab, MONITOR, f"test -d {FILE_SD} && ls -A {FILE_SD}") == "", "the role wrote target files"

        # A target file in the format sync_monitors writes: Prometheus's node job picks it up by itself.
        on(lab, MONITOR, f"printf '%s\\n' '- targets: [\"{NODE}.maas:9100\"]' '  labels: {{host: {NODE}}}' "
                         f"| sudo tee {TEST_TARGETS} >/dev/null")
        found: list[dict] = []
        for _ in range(60):
            found = [t for t in targets(lab) if t["labels"].get("job") == "node"]
            if found and found[0]["health"] == "up":
                break
            time.sleep(1)
        assert [(t["labels"]["host"], t["labels"]["instance"], t["health"]) for t in found] == [
            (NODE, f"{NODE}.maas:9100", "up")], found
        assert any(t["labels"].get("job") == "prometheus" for t in targets(lab))

        again = plan(project)
        assert again["review"]["steps"][0]["hosts"][MONITOR]["changed"] == 0
        assert again["review"]["steps"][0]["hosts"][NODE]["changed"] == 0
        second = apply(project, again)
        assert {h: second["hosts"][h]["outcome"] for h in (MONITOR, NODE)} == {MONITOR: "ok", NODE: "ok"}

        rejected_config_leaves_the_running_one(lab, project)
        drift_takes_the_listeners_as_documented(project)
    finally:
        stop_monitoring(lab)


def rejected_config_leaves_the_running_one(lab: Lab, project: Path) -> None:
    """A second job named prometheus is a configuration promtool refuses: the run fails, nothing moves."""
    before = on(lab, MONITOR, "sha256sum /etc/prometheus/prometheus.yml")
    bad = [{"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]}]
    ran = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i",
                          str(project / ".homelab" / "lab-inventory"), "-l", MONITOR,
                          "-e", json.dumps({"prometheus_extra_scrape_configs": bad}),
                          str(ROOT / "playbooks" / "deploy_monitoring.yml")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert ran.returncode != 0 and "failed to validate" in ran.stdout, ran.stdout[-3000:]
    assert "multiple scrape configs with job name" in ran.stdout, ran.stdout[-3000:]
    assert on(lab, MONITOR, "sha256sum /etc/prometheus/prometheus.yml") == before
    assert get(f"http://{address(lab, MONITOR)}:9090/-/ready")[0] == 200


def drift_takes_the_listeners_as_documented(project: Path) -> None:
    """After gathering, the exporters and Prometheus are no undocumented services, and Prometheus no missing one."""
    gathered = homelab_in(project, "facts", "-l", LIMIT)
    assert gathered.rc == 0, gathered.stderr
    report = json.loads(homelab_in(project, "drift", "--format", "json").stdout)
    about = [f for f in report["findings"] if f["host"] in (MONITOR, NODE) and f["field"].startswith("service")]
    assert about == [], about
