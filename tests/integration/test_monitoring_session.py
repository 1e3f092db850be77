"""The "monitoring dashboard is showing inconsistent data" conversation, on a lab of its own, with the offline
planner, against the real Prometheus and the real Uptime Kuma:

    lab: deploy_monitoring applied; jellyfin left without a monitor, old-nas (gone from the inventory) still
         monitored and scraped, k3s-vm-still-fawn's node exporter stopped
    homelab plan "the monitoring dashboard is showing inconsistent data"
        → one line per component; the missing, the stale and the down exporter reported with their steps;
          the stopped exporter on the person's checklist with its runbook check
    the audit again → the same, nothing changed by the first (read-only)

Each part has its closer tests (test_audit_monitoring, test_lab_uptime_kuma and the unit tests of the audit's
judgement); this one checks they hold together. It changes Uptime Kuma's monitors and stops an exporter, so it
runs its own lab (``$HOMELAB_TEST_MONITORING_SESSION_LAB_NET``, by default the session lab's net + 150 in the
third octet).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.knowledge import kb
from tests.integration.conftest import LAB_NET, Lab, homelab_in, project_on, running_lab
from tests.integration.test_audit_monitoring import (
    EXPORTER_HOST,
    INTENT,
    audited,
    credentials,
    deployed,
    findings,
    plant,
    reports,
    scraped,
)

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

    # Read-only: the same audit again finds the same gaps.
    again = {(host, fid) for host, fid, _ in findings(audited(project, env))}
    assert {("uptime-kuma", "monitor-missing"), ("uptime-kuma", "monitor-stale"),
            (EXPORTER_HOST, "exporter-down")} <= again, again
