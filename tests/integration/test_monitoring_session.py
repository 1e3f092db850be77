"""The "monitoring dashboard is showing inconsistent data" conversation, on a lab of its own, with the offline
planner, against the real Prometheus and the real Uptime Kuma:

    lab: deploy_monitoring applied; jellyfin left without a monitor, old-nas (gone from the inventory) still
         monitored and scraped, k3s-vm-still-fawn's node exporter stopped
    homelab plan "the monitoring dashboard is showing inconsistent data"
        → one line per component; the missing, the stale and the down exporter reported with their steps;
          sync_monitors proposed as a step of the same plan, reviewed in check mode; the stopped exporter on
          the person's checklist with its runbook check
    homelab apply ID      → jellyfin monitored, old-nas gone from Uptime Kuma and Prometheus (both read back),
                            the person's own monitor untouched
    the sync again        → zero changes, in review and in apply
    the audit again       → the down exporter still reported; its monitor and target still there

Each part has its closer tests (test_audit_monitoring, test_lab_uptime_kuma and the unit tests of the audit's
judgement); this one checks they hold together. It changes Uptime Kuma's monitors and stops an exporter, so it
runs its own lab (``$HOMELAB_TEST_MONITORING_SESSION_LAB_NET``, by default the session lab's net + 150 in the
third octet).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.knowledge import kb
from tests.integration.conftest import LAB_NET, Lab, homelab_in, project_on, running_lab
from tests.integration.test_audit_monitoring import (
    EXPORTER_HOST,
    audited,
    credentials,
    deployed,
    findings,
    plant,
    reports,
    scraped,
)
from tests.integration.test_sync_monitors import FILE, apply, keys, monitors, node_hosts, on
from tests.integration.test_sync_monitors import plan as sync_plan

pytestmark = pytest.mark.lab

_a, _b, _c = LAB_NET.split(".")
NET = os.environ.get("HOMELAB_TEST_MONITORING_SESSION_LAB_NET") or f"{_a}.{_b}.{(int(_c) + 150) % 256}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("monitoring-session-lab"), NET) as lab:
        yield lab


def components(plan: dict[str, Any]) -> list[str]:
    [lines] = [r["homelab_monitoring_audit"]["components"] for r in reports(plan).values()
               if r["homelab_monitoring_audit"]["components"]]
    return lines


def test_the_inconsistent_dashboard_conversation(lab: Lab, tmp_path: Path) -> None:
    project = project_on(lab, tmp_path)
    deployed(project)
    plant(lab, "uptime-kuma", "monitoring-gaps")
    plant(lab, EXPORTER_HOST, "exporter-stopped")
    scraped(lab)
    env = credentials(lab)

    # The audit: each component's line, the three planted gaps, each with its step.
    plan = audited(project, env)
    exporters, prometheus, uptime = components(plan)
    assert exporters.startswith(f"node exporters: 1 down, 8 up; down: {EXPORTER_HOST} (unit inactive"), exporters
    assert prometheus.startswith("prometheus: up, node targets 8/9 up; stale: old-nas.maas:9100 (host not in "
                                 f"inventory); down: {EXPORTER_HOST}.maas:9100 ("), prometheus
    assert "connection refused" in prometheus, prometheus
    assert uptime.startswith("uptime-kuma: up, 15 monitors (14 managed, 1 yours); missing: jellyfin (port "
                             "jellyfin.maas:8096); stale: old-nas (host not in inventory)"), uptime
    found = {(host, fid) for host, fid, _ in findings(plan)}
    assert {("uptime-kuma", "monitor-missing"), ("uptime-kuma", "monitor-stale"), (EXPORTER_HOST, "exporter-down"),
            (EXPORTER_HOST, "monitor-target-down")} <= found, found
    # The down exporter is the person's, with its runbook check; it is never "fixed" by dropping its monitor.
    [start] = [m for m in plan["manual"] if EXPORTER_HOST in m["title"]]
    assert f"systemctl status prometheus-node-exporter on {EXPORTER_HOST}" in start["reason"], start
    shown = homelab_in(project, "show", plan["id"])
    text = " ".join(shown.stdout.split())  # the terminal wraps long lines
    assert "missing: jellyfin (port jellyfin.maas:8096)" in text, text[:3000]

    # The knowledge base counts what the audit found, under the known issue that names those findings.
    [known] = [i for i in kb.load(project).issues if i.id == "monitoring-dashboard-inconsistent"]
    assert {(o.host, o.symptom) for o in known.occurrences if o.kind == "diagnosis"} >= {
        (EXPORTER_HOST, "exporter-down"), ("uptime-kuma", "monitor-missing"), ("uptime-kuma", "monitor-stale")}

    # The sync the audit proposed is a step of the same plan, for the monitoring host, reviewed in check mode:
    # the check changed neither system.
    [sync] = [s for s in plan["steps"] if s["playbook"] == "sync_monitors"]
    assert sync["hosts"] == ["uptime-kuma"], plan["steps"]
    before = monitors(lab)
    assert "service/jellyfin" not in keys(before) and "host/old-nas" in keys(before)
    assert "old-nas.maas:9100" in on(lab, "uptime-kuma", f"cat {FILE}")

    # The apply brings both systems in line; the person's own monitor is left as it was.
    done = apply(project, plan, env)
    assert done["status"] == "succeeded", done
    after = monitors(lab)
    assert "service/jellyfin" in keys(after) and "host/old-nas" not in keys(after), keys(after)
    mine = next(m for m in before if m["name"] == "router admin (mine)")
    assert [(m["id"], m["tags"]) for m in after if m["name"] == "router admin (mine)"] == [(mine["id"], mine["tags"])]
    assert "old-nas" not in on(lab, "uptime-kuma", f"cat {FILE}")
    hosts = sorted(lab.state()["hosts"])
    found: list[str] = []
    for _ in range(30):  # the sync reloads Prometheus; bounded all the same
        found = node_hosts(lab)
        if found == hosts:
            break
        time.sleep(1)
    assert found == hosts

    # The same sync again changes nothing, in review and in apply.
    again = sync_plan(project, env)
    assert again["review"]["steps"][0]["hosts"]["uptime-kuma"]["changed"] == 0, again["review"]
    second = apply(project, again, env)
    assert second["hosts"]["uptime-kuma"]["outcome"] == "ok", second
    assert keys(monitors(lab)) == keys(after)

    # The stopped exporter is still reported, not "fixed": its monitor and its target are still there.
    scraped(lab)
    later = audited(project, env)
    still = {(host, fid) for host, fid, _ in findings(later)}
    assert (EXPORTER_HOST, "exporter-down") in still and (EXPORTER_HOST, "monitor-target-down") in still, still
    assert not {("uptime-kuma", "monitor-missing"), ("uptime-kuma", "monitor-stale")} & still, still
    assert f"host/{EXPORTER_HOST}" in keys(monitors(lab)) and EXPORTER_HOST in node_hosts(lab)
    assert not any(s["playbook"] == "sync_monitors" for s in later["steps"]), later["steps"]
