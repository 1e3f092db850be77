"""sync_monitors against the session's lab: the real Uptime Kuma and Debian's real Prometheus, read back.

Prometheus is deployed on the monitoring host first (deploy_monitoring), then the lab's monitoring gaps are
planted: every monitor an earlier sync would have made except jellyfin's, a tagged monitor of a host that
left the inventory (old-nas), a person's untagged monitor, and a file_sd file that still names old-nas. The
plan's check run must name the monitor it creates and the one it deletes and change nothing; the apply must
make both systems match the inventory (read back through uptime-kuma-api and Prometheus's HTTP API) without
touching the person's monitor; a second apply changes nothing. A service that documents a health_path gets
an HTTP monitor. The plants are cleared and Prometheus stopped at the end, for the session's other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from uptime_kuma_api import UptimeKumaApi

from planner.lab import kuma
from tests.conftest import ROOT, run_homelab
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.conftest import kuma_credentials as credentials
from tests.integration.test_lab import lab_ssh

MONITOR = "uptime-kuma"  # homelab_monitoring.prometheus.host and uptime_kuma.host
FILE = "/etc/prometheus/file_sd/homelab-node.yml"


def address(lab: Lab, host: str) -> str:
    return str(lab.state()["hosts"][host]["address"])


def monitors(lab: Lab) -> list[dict]:
    """Every monitor, as uptime-kuma-api lists it."""
    creds = credentials(lab)
    api = UptimeKumaApi(f"http://{address(lab, MONITOR)}:{kuma.PORT}", timeout=30)
    try:
        api.login(creds[kuma.USERNAME_ENV], creds[kuma.PASSWORD_ENV])
        return list(api.get_monitors())
    finally:
        api.disconnect()


def keys(found: list[dict]) -> list[str]:
    return sorted(t["value"] for m in found for t in m["tags"] if t["name"] == "homelab")


def node_hosts(lab: Lab) -> list[str]:
    """The hosts of Prometheus's active node targets."""
    url = f"http://{address(lab, MONITOR)}:9090/api/v1/targets?state=active"
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - a fixed http URL on loopback
        active = json.loads(reply.read())["data"]["activeTargets"]
    return sorted(t["labels"].get("host", "") for t in active if t["labels"].get("job") == "node")


def on(lab: Lab, host: str, command: str) -> str:
    done = lab_ssh(lab, host, command)
    assert done.returncode == 0, f"{host}: {command}: {done.stderr}"
    return done.stdout


def plan(project: Path, env: dict[str, str]) -> dict:
    made = homelab_in(project, "plan", "-p", "sync_monitors", "-l", "monitoring", "--format", "json", env=env)
    assert made.rc == 0, made.stderr
    return plan_json(made)


def apply(project: Path, made: dict, env: dict[str, str]) -> dict:
    applied = homelab_in(project, "apply", made["id"], "--yes", env=env)
    assert applied.rc == 0, applied.stderr
    return plan_json(homelab_in(project, "show", made["id"], "--format", "json"))["applies"][-1]


def review_text(made: dict) -> str:
    return json.dumps(made["review"]["steps"][0]["tasks"])


def test_sync_brings_both_systems_in_line_and_leaves_a_persons_monitor(lab: Lab, project: Path) -> None:
    inventory = project / ".homelab" / "lab-inventory"
    env = credentials(lab)
    hosts = sorted(lab.state()["hosts"])
    try:
        deployed = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory),
                                   "-l", MONITOR, str(ROOT / "playbooks" / "deploy_monitoring.yml")],
                                  cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        assert deployed.returncode == 0, deployed.stdout[-3000:]
        planted = run_homelab("lab", "plant", MONITOR, "monitoring-gaps", env=lab.env)
        assert planted.rc == 0, planted.stderr
        before = monitors(lab)
        assert "service/jellyfin" not in keys(before) and "host/old-nas" in keys(before)

        made = plan(project, env)
        review = made["review"]["steps"][0]
        assert review["hosts"][MONITOR]["failed"] == 0, review
        text = review_text(made)
        assert "create monitor jellyfin (port jellyfin.maas:8096)" in text, text
        assert "delete monitor old-nas (host no longer in the inventory)" in text, text
        # The check run changed nothing in either system.
        assert keys(monitors(lab)) == keys(before)
        assert "old-nas.maas:9100" in on(lab, MONITOR, f"cat {FILE}")

        first = apply(project, made, env)
        assert first["status"] == "succeeded" and first["surprise_count"] == 0, first["surprises"]
        after = monitors(lab)
        assert "service/jellyfin" in keys(after) and "host/old-nas" not in keys(after)
        assert len(keys(after)) == len(set(keys(after))), keys(after)
        jellyfin = next(m for m in after if m["name"] == "jellyfin")
        assert (jellyfin["hostname"], jellyfin["port"]) == ("jellyfin.maas", 8096)
        mine = [m for m in after if m["name"] == "router admin (mine)"]
        was = next(m for m in before if m["name"] == "router admin (mine)")
        assert len(mine) == 1 and (mine[0]["id"], mine[0]["hostname"], mine[0]["port"], mine[0]["tags"]) == (
            was["id"], was["hostname"], was["port"], was["tags"])
        written = on(lab, MONITOR, f"cat {FILE}")
        assert "old-nas" not in written and all(f"{h}.maas:9100" in written for h in hosts), written
        found: list[str] = []
        for _ in range(30):  # the reload makes Prometheus read the file at once; bounded all the same
            found = node_hosts(lab)
            if found == hosts:
                break
            time.sleep(1)
        assert found == hosts

        again = plan(project, env)
        assert again["review"]["steps"][0]["hosts"][MONITOR]["changed"] == 0, review_text(again)
        second = apply(project, again, env)
        assert second["hosts"][MONITOR]["outcome"] == "ok", second
        assert keys(monitors(lab)) == keys(after)

        a_trial_with_a_health_path_gets_an_http_monitor(lab, project, env)
    finally:
        run_homelab("lab", "plant", MONITOR, "monitoring-gaps", "--clear", env=lab.env)
        lab_ssh(lab, MONITOR, "sudo systemctl disable --now prometheus.service prometheus-node-exporter.service")


def a_trial_with_a_health_path_gets_an_http_monitor(lab: Lab, project: Path, env: dict[str, str]) -> None:
    """A service entry as deploy_trial_service writes it (monitored, health_path): the sync adds an HTTP check."""
    services = project / "inventory" / "group_vars" / "all" / "services.yml"
    services.write_text(services.read_text() + (
        "\n  - name: whoami-trial\n    tier: orchestrator\n    host: still-fawn\n    port: 8088\n"
        "    dns: whoami-trial.maas\n    monitored: true\n    health_path: /health\n"))
    made = plan(project, env)
    assert "create monitor whoami-trial (http http://whoami-trial.maas:8088/health)" in review_text(made)
    assert apply(project, made, env)["status"] == "succeeded"
    trial = [m for m in monitors(lab) if m["name"] == "whoami-trial"]
    assert len(trial) == 1 and trial[0]["url"] == "http://whoami-trial.maas:8088/health", trial
    assert [t["value"] for t in trial[0]["tags"] if t["name"] == "homelab"] == ["service/whoami-trial"]
