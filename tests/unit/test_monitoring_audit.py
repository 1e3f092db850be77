"""The monitoring audit's judgement (homelab.ops.monitoring_audit's module_utils) and how the review shows it."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import monitoring_audit as ma  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import monitoring_expected as me  # noqa: E402

from planner.knowledge import kb  # noqa: E402
from planner.render.grouping import report_text  # noqa: E402

HOSTS = {"maas": 22, "still-fawn": 22, "uptime-kuma": 22}
SERVICES = [{"name": "jellyfin", "port": 8096, "dns": "jellyfin.maas", "monitored": True},
            {"name": "prometheus", "port": 9090, "dns": "prometheus.maas", "monitored": True}]
UP = {"unit": "active", "metrics": {"ok": True, "error": ""}}


def _mon(id_, name, hostname, port, key=None, beat="up", msg=""):
    tags = [{"name": "homelab", "value": key}] if key else []
    mon = me.normalise_monitor({"id": id_, "name": name, "type": "port", "hostname": hostname, "port": port,
                                "interval": 60, "active": True, "tags": tags}, "homelab")
    mon["heartbeat"] = {"status": beat, "msg": msg, "time": "2026-12-06 15:00:00"}
    return mon


def _target(host, health="up", error=""):
    return {"labels": {"job": "node", "instance": f"{host}.maas:9100", "host": host}, "health": health,
            "lastError": error}


def _prom(hosts, down=()):
    text = "".join(f"- targets: ['{h}.maas:9100']\n  labels: {{host: {h}}}\n" for h in hosts)
    return {"unit": "active", "ready": {"ok": True, "error": ""}, "targets_error": "",
            "targets": [_target(h, *(("down", "connection refused") if h in down else ())) for h in hosts],
            "files": {"/etc/prometheus/file_sd/homelab-node.yml": me_groups(text)}}


def me_groups(text):
    import yaml

    return yaml.safe_load(text)


def _kuma(*extra):
    monitors = [_mon(1, "maas", "maas.maas", 22, "host/maas"), _mon(2, "still-fawn", "still-fawn.maas", 22,
                                                                      "host/still-fawn"),
                _mon(3, "uptime-kuma", "uptime-kuma.maas", 22, "host/uptime-kuma"),
                _mon(4, "prometheus", "prometheus.maas", 9090, "service/prometheus")]
    return {"status": "ok", "monitors": monitors + list(extra)}


def _assess(reads=None, prom=None, kuma=None):
    reads = reads if reads is not None else dict.fromkeys(HOSTS, UP)
    return ma.assess(HOSTS, SERVICES, "maas", 9100, 60, reads, prom, kuma, "uptime-kuma")


def test_the_planted_gaps_are_all_reported_with_their_step():
    reads = dict.fromkeys(HOSTS, UP) | {"still-fawn": {"unit": "inactive",
                                                       "metrics": {"ok": False, "error": "connection refused"}}}
    prom = _prom(["maas", "still-fawn", "uptime-kuma", "old-nas"], down=("still-fawn", "old-nas"))
    kuma = _kuma(_mon(5, "old-nas", "old-nas.maas", 22, "host/old-nas", beat="down", msg="getaddrinfo ENOTFOUND"),
                 _mon(6, "router admin (mine)", "192.0.2.1", 80))
    report, per_host, proposals = _assess(reads, prom, kuma)
    ids = {(h, f["id"]) for h, items in per_host.items() for f in items}
    assert ("still-fawn", "exporter-down") in ids
    assert ("still-fawn", "monitor-target-down") in ids  # Prometheus's side of the same stopped exporter
    assert ("uptime-kuma", "monitor-missing") in ids  # jellyfin: a service's monitor, said by the monitoring host
    assert ("uptime-kuma", "monitor-stale") in ids
    stale = [f for f in per_host["uptime-kuma"] if f["id"] == "monitor-stale"]
    assert {f["summary"] for f in stale} == {"Prometheus scrapes old-nas.maas:9100, no inventory host",
                                             "Uptime Kuma monitor old-nas is stale"}
    # A stale monitor's failing heartbeat is not a target to go and fix.
    assert not any(f["id"] == "monitor-target-down" and "old-nas" in f["summary"] for f in per_host["uptime-kuma"])
    [exporter] = [f for f in per_host["still-fawn"] if f["id"] == "exporter-down"]
    assert "systemctl status prometheus-node-exporter on still-fawn" in exporter["runbook"]
    lines = report["components"]
    assert lines[0] == ("node exporters: 1 down, 2 up; down: still-fawn (unit inactive; :9100/metrics: "
                        "connection refused)")
    assert lines[1].startswith("prometheus: up, node targets 2/3 up; stale: old-nas.maas:9100 (host not in "
                               "inventory); down: still-fawn.maas:9100 (connection refused)")
    assert lines[2] == ("uptime-kuma: up, 6 monitors (5 managed, 1 yours); missing: jellyfin (port "
                        "jellyfin.maas:8096); stale: old-nas (host not in inventory); down: 0")
    assert [s["playbook"] for s in proposals["steps"]] == ["sync_monitors"]
    assert [m["title"] for m in proposals["manual"]] == ["start the node exporter on still-fawn"]


def test_all_in_line_proposes_nothing_and_a_persons_monitor_covers():
    kuma = _kuma(_mon(7, "my jellyfin", "jellyfin.maas", 8096))
    report, per_host, proposals = _assess(prom=_prom(list(HOSTS)), kuma=kuma)
    assert per_host == {} and proposals == {"steps": [], "manual": []}
    assert "covered by yours: service/jellyfin by my jellyfin" in report["components"][2]


def test_unset_credentials_leave_uptime_kuma_not_checked_and_the_rest_runs():
    report, per_host, proposals = _assess(prom=_prom(list(HOSTS)),
                                          kuma={"status": "not checked: UPTIME_KUMA_PASSWORD is not set"})
    assert report["components"][2] == "uptime-kuma: not checked: UPTIME_KUMA_PASSWORD is not set"
    assert report["components"][1].startswith("prometheus: up, node targets 3/3 up")
    assert per_host == {}


def test_a_component_down_goes_to_the_persons_checklist():
    prom = {"unit": "failed", "ready": {"ok": False, "error": "connection refused"}}
    kuma = {"status": "Uptime Kuma at http://x:3001 does not answer: refused", "unit": "inactive"}
    report, per_host, proposals = _assess(prom=prom, kuma=kuma)
    assert [f["id"] for f in per_host["uptime-kuma"]] == ["monitoring-down", "monitoring-down"]
    assert proposals["steps"] == [] and len(proposals["manual"]) == 2
    assert report["components"][1] == "prometheus: down on uptime-kuma (unit failed; /-/ready: connection refused)"


def test_unreachable_hosts_are_said_per_host():
    reads = dict.fromkeys(HOSTS, UP) | {"maas": {"unreachable": True, "error": "unreachable"}}
    report, per_host, _ = _assess(reads, prom={"unreachable": True, "host": "uptime-kuma"},
                                  kuma={"status": "not checked"})
    assert [f["summary"] for f in per_host["maas"]] == ["node exporter on maas is unreachable"]
    assert report["components"][1] == "prometheus: not checked: its host uptime-kuma is unreachable"


def test_the_knowledge_base_knows_every_finding_the_audit_reports():
    assert set(ma.FINDING_IDS) <= set(kb.FINDING_IDS)


def test_the_review_shows_one_line_per_component_and_the_findings():
    reads = dict.fromkeys(HOSTS, UP)
    kuma = _kuma(_mon(5, "old-nas", "old-nas.maas", 22, "host/old-nas"))
    report, per_host, proposals = _assess(reads, _prom(list(HOSTS)), kuma)
    msg = {"homelab_monitoring_audit": {"components": report["components"],
                                        "findings": per_host["uptime-kuma"]},
           "homelab_proposals": proposals}
    text = report_text(msg)
    assert text is not None
    lines = text.splitlines()
    assert lines[2].startswith("uptime-kuma: up, 5 monitors (5 managed, 0 yours); missing: jellyfin")
    assert "warning monitor-stale: Uptime Kuma monitor old-nas is stale" in text
    assert "proposed (standard): sync_monitors — 2 monitors missing, stale or configured differently" in text
