"""audit_monitoring on the session lab, against the real Prometheus and the real Uptime Kuma.

deploy_monitoring starts Prometheus and the node exporters; the plants leave jellyfin without a monitor, a
tagged monitor and a file_sd target for the removed old-nas, and k3s-vm-still-fawn's exporter stopped. The audit
reports all three, proposes the sync for the first two and changes nothing; without Uptime Kuma's credentials
it says that part is not checked and still reports the rest. The plants are cleared at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.lab import kuma
from tests.conftest import run_homelab
from tests.integration.conftest import Lab, homelab_in, plan_json, project_on
from tests.integration.conftest import kuma_credentials as credentials
from tests.integration.test_lab import lab_ssh

pytestmark = pytest.mark.lab

INTENT = "the monitoring dashboard is showing inconsistent data"
REPORT_TASK = "Report the monitoring's state and the proposed steps"
EXPORTER_HOST = "k3s-vm-still-fawn"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def deployed(project: Path) -> None:
    """Prometheus and every node exporter running, as deploy_monitoring's roles leave them."""
    done = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(project / ".homelab" / "lab-inventory"),
                           str(project / "playbooks" / "deploy_monitoring.yml")], cwd=project, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def plant(lab: Lab, host: str, fault: str, *clear: str) -> None:
    result = run_homelab("lab", "plant", host, fault, *clear, env=lab.env, timeout=300)
    assert result.rc == 0, result.stderr


def scraped(lab: Lab, wait_s: float = 150) -> None:
    """Until Prometheus (on its host's lab address) has scraped every node target once: a target it has not
    reached yet is neither up nor down. Bounded: Prometheus scrapes every 30 s."""
    address = lab.state()["hosts"]["uptime-kuma"]["address"]
    deadline = time.monotonic() + wait_s
    health: list[str] = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://{address}:9090/api/v1/targets?state=active", timeout=10) as resp:
            targets = json.load(resp)["data"]["activeTargets"]
        health = [t["health"] for t in targets if t["labels"].get("job") == "node"]
        if health and "unknown" not in health:
            return
        time.sleep(3)
    pytest.fail(f"Prometheus did not scrape every node target within {wait_s} s: {health}")


#: What deploy_monitoring rewrites, per host ("*": every host): put back afterwards, so the session's lab is as
#: the other tests found it (test_deploy_monitoring reviews the change from Debian's own settings).
ROLE_FILES = {"*": ["/etc/default/prometheus-node-exporter"],
              "uptime-kuma": ["/etc/default/prometheus", "/etc/prometheus/prometheus.yml"]}


def saved_files(lab: Lab) -> dict[tuple[str, str], str]:
    out = {}
    for host in lab.state()["hosts"]:
        for path in ROLE_FILES["*"] + ROLE_FILES.get(host, []):
            read = lab_ssh(lab, host, f"sudo base64 -w0 {path}")
            assert read.returncode == 0, read.stderr
            out[(host, path)] = read.stdout.strip()
    return out


def put_back(lab: Lab, saved: dict[tuple[str, str], str]) -> None:
    for (host, path), encoded in saved.items():
        lab_ssh(lab, host, f"echo {encoded} | base64 -d | sudo tee {path} >/dev/null")


@pytest.fixture(scope="module")
def gaps(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The planted gaps, once for this module's tests: each only plans a read playbook (in its own project copy),
    so none changes what the next one finds; deploying, planting and the first scrape take over a minute."""
    saved = saved_files(lab)
    deployed(project_on(lab, tmp_path_factory.mktemp("gaps")))
    plant(lab, "uptime-kuma", "monitoring-gaps")
    plant(lab, EXPORTER_HOST, "exporter-stopped")
    scraped(lab)
    try:
        yield
    finally:
        plant(lab, EXPORTER_HOST, "exporter-stopped", "--clear")
        plant(lab, "uptime-kuma", "monitoring-gaps", "--clear")
        # The session's lab goes back to running no Prometheus and no exporters, as the other tests expect
        # (test_deploy_monitoring.stop_monitoring); nine of them scraping would only cost the tests after this.
        for host in lab.state()["hosts"]:
            lab_ssh(lab, host, "sudo systemctl disable --now prometheus.service prometheus-node-exporter.service")
        put_back(lab, saved)


def audited(project: Path, env: dict[str, str]) -> dict[str, Any]:
    result = homelab_in(project, "plan", INTENT, "--format", "json", env=env)
    assert result.rc == 0, result.stderr
    return plan_json(result)


def reports(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The audit's report per host that gave one."""
    step = plan["review"]["steps"][0]
    assert step["playbook"] == "audit_monitoring" and step["status"] == "successful", step
    return {t["host"]: t["report"] for t in step["tasks"] if t["task"] == REPORT_TASK and t["report"]}


def findings(plan: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(host, f["id"], f["summary"]): f for host, r in reports(plan).items()
            for f in r["homelab_monitoring_audit"]["findings"]}


def test_the_audit_reports_the_planted_gaps_against_the_real_systems(lab: Lab, project: Path, gaps: None) -> None:
    plan = audited(project, credentials(lab))
    found = findings(plan)
    ids = {(host, fid) for host, fid, _ in found}
    assert (EXPORTER_HOST, "exporter-down") in ids, found
    assert ("uptime-kuma", "no Uptime Kuma monitor for jellyfin") in {(h, s) for h, _, s in found}, found
    assert ("uptime-kuma", "Uptime Kuma monitor old-nas is stale") in {(h, s) for h, _, s in found}, found
    assert ("uptime-kuma", "Prometheus scrapes old-nas.maas:9100, no inventory host") in {(h, s) for h, _, s in found}
    [components] = [r["homelab_monitoring_audit"]["components"] for r in reports(plan).values()
                    if r["homelab_monitoring_audit"]["components"]]
    exporters, prometheus, uptime = components
    assert exporters.startswith("node exporters: 1 down, 8 up; down: k3s-vm-still-fawn (unit inactive"), exporters
    assert "stale: old-nas.maas:9100 (host not in inventory)" in prometheus, prometheus
    assert f"{EXPORTER_HOST}.maas:9100 (" in prometheus.split("; down: ")[1], prometheus
    assert uptime.startswith("uptime-kuma: up, 15 monitors (14 managed, 1 yours); missing: jellyfin (port "
                             "jellyfin.maas:8096); stale: old-nas (host not in inventory)"), uptime
    # The sync is proposed as a step of the same plan; the stopped exporter is the person's, with its check.
    assert "sync_monitors" in {s["playbook"] for s in plan["steps"]} or "sync_monitors" in plan["explanation"]
    assert any(EXPORTER_HOST in m["title"] for m in plan["manual"]), plan["manual"]
    shown = homelab_in(project, "show", plan["id"])
    text = " ".join(shown.stdout.split())
    assert "uptime-kuma: up, 15 monitors (14 managed, 1 yours); missing: jellyfin" in text, text[:3000]
    assert f"systemctl status prometheus-node-exporter on {EXPORTER_HOST}" in text, text[:3000]
    # Read-only: the audit left every monitor where it was.
    again = findings(audited(project, credentials(lab)))
    assert {k[:2] for k in again} >= {k[:2] for k in found if k[1] != "monitor-target-down"}


def test_without_credentials_uptime_kuma_is_not_checked_and_the_rest_runs(lab: Lab, project: Path,
                                                                          gaps: None) -> None:
    plan = audited(project, {kuma.USERNAME_ENV: "", kuma.PASSWORD_ENV: ""})
    [components] = [r["homelab_monitoring_audit"]["components"] for r in reports(plan).values()
                    if r["homelab_monitoring_audit"]["components"]]
    assert components[2] == ("uptime-kuma: not checked: UPTIME_KUMA_USERNAME and UPTIME_KUMA_PASSWORD are not "
                             "set"), components
    assert "stale: old-nas.maas:9100" in components[1]
    assert (EXPORTER_HOST, "exporter-down") in {k[:2] for k in findings(plan)}
