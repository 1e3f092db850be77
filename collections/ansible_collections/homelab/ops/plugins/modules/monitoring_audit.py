#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: monitoring_audit
short_description: What Prometheus and Uptime Kuma monitor against what the inventory says, changing nothing
description:
  - O(part=exporter), on each host, reads whether the node exporter's unit is active and whether its
    C(/metrics) answers on the host's address.
  - O(part=prometheus), on Prometheus's host, reads whether its unit is active, C(/-/ready), the active targets
    of C(/api/v1/targets) (health and last scrape error) and the file_sd files of O(file_sd_dir).
  - O(part=kuma), on the controller, logs in to Uptime Kuma (credentials from the environment variables
    O(username_env) and O(password_env) name) and reads its monitors and each one's latest heartbeat; unset
    credentials are reported as not checked, not as a failure.
  - O(part=report), on the controller, compares all of it with the inventory's expected monitors and returns
    one line per monitoring component, the findings per host and the steps proposed.
  - Read-only; runs unchanged under C(--check) and always reports C(changed=false).
options:
  part:
    description: Which side to read, or C(report) to judge.
    type: str
    choices: [exporter, prometheus, kuma, report]
    required: true
  address:
    description: The address the node exporter or Prometheus listens on (parts exporter and prometheus).
    type: str
  port:
    description: Their port (parts exporter and prometheus).
    type: int
  unit:
    description: The systemd unit that runs them (parts exporter and prometheus).
    type: str
  file_sd_dir:
    description: The directory of Prometheus's file_sd files (part prometheus).
    type: str
    default: /etc/prometheus/file_sd
  url:
    description: Uptime Kuma's URL (part kuma).
    type: str
  username_env:
    description: The name of the environment variable holding Uptime Kuma's admin username (part kuma).
    type: str
  password_env:
    description: The name of the environment variable holding its password (part kuma).
    type: str
  managed_tag:
    description: The tag that marks monitors the tool manages (parts kuma and report).
    type: str
    default: homelab
  inventory_hosts:
    description: Every inventory host and its SSH port (part report).
    type: dict
  services:
    description: The inventory's C(services) list (part report).
    type: list
    elements: raw
    default: []
  lan_domain:
    description: The DNS domain of the hosts' names (part report).
    type: str
    default: maas
  node_port:
    description: The node exporters' port (part report).
    type: int
    default: 9100
  interval:
    description: The interval in seconds the expected Uptime Kuma monitors check at (part report).
    type: int
    default: 60
  exporters:
    description: What part exporter returned, per host the play reached (part report).
    type: dict
    default: {}
  unreachable:
    description: The hosts of the play it could not reach (part report).
    type: list
    elements: str
    default: []
  prometheus:
    description: What part prometheus returned, if its host was reached (part report).
    type: dict
  prometheus_host:
    description: Prometheus's host (part report).
    type: str
  kuma:
    description: What part kuma returned (part report).
    type: dict
  kuma_host:
    description: Uptime Kuma's host (part report).
    type: str
  kuma_unit:
    description: Uptime Kuma's unit state on its host, if it was read (part report).
    type: str
  reporter:
    description: The host the component report and its proposals are given for (part report).
    type: str
  timeout:
    description: Seconds each command or HTTP call may take.
    type: int
    default: 10
extends_documentation_fragment:
  - homelab.ops.read_only
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Read the node exporter
  homelab.ops.monitoring_audit:
    part: exporter
    address: "{{ listen_address }}"
    port: 9100
    unit: prometheus-node-exporter
  register: _exporter
"""

RETURN = r"""
exporter:
  description: Part exporter. C(unit) (systemctl is-active's word) and C(metrics) (ok, error).
  returned: when part is exporter
  type: dict
prometheus:
  description: Part prometheus. C(unit), C(ready) (ok, error), C(targets) (activeTargets), C(targets_error),
    C(files) (path to the file's text).
  returned: when part is prometheus
  type: dict
kuma:
  description: Part kuma. C(status) (C(ok), C(not checked …) or the error), C(monitors) (normalised, each with
    its latest C(heartbeat)).
  returned: when part is kuma
  type: dict
monitoring:
  description: Part report. C(components) (one line each), C(summary), C(findings) per host.
  returned: when part is report
  type: dict
proposals:
  description: Part report. The steps proposed (sync_monitors) and the person's items.
  returned: when part is report
  type: dict
"""

import datetime
import glob
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.homelab.ops.plugins.module_utils import monitoring_audit as ma
from ansible_collections.homelab.ops.plugins.module_utils import monitoring_expected as me

MAX_BODY = 4 * 1024 * 1024


def _unit(module, unit):
    """systemctl is-active's word for ``unit`` (active, inactive, failed, …), ``unknown`` without systemctl."""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return "unknown"
    _rc, out, _err = module.run_command([systemctl, "is-active", unit])
    return (out or "").strip() or "unknown"


def _get(module, url):
    """``(body, error)`` of a GET; the error in a line (connection refused, HTTP 503 …)."""
    try:
        resp = open_url(url, method="GET", timeout=module.params["timeout"], use_proxy=False)
        return resp.read(MAX_BODY), ""
    except Exception as err:  # urllib's, socket's and HTTP errors alike: the report says it did not answer
        reason = getattr(err, "reason", None) or err
        return None, " ".join(str(reason).split())[:300] or type(err).__name__


def _base(module):
    p = module.params
    return "http://%s:%d" % (p["address"], p["port"])


def _exporter(module):
    body, error = _get(module, _base(module) + "/metrics")
    ok = body is not None and b"node_" in body
    return {"unit": _unit(module, module.params["unit"]),
            "metrics": {"ok": ok, "error": error or ("" if ok else "no node_ metrics in the answer")}}


def _prometheus(module):
    p = module.params
    out = {"unit": _unit(module, p["unit"]), "targets": None, "targets_error": "", "files": {}}
    body, error = _get(module, _base(module) + "/-/ready")
    out["ready"] = {"ok": body is not None, "error": error}
    if body is not None:
        raw, error = _get(module, _base(module) + "/api/v1/targets?state=active")
        try:
            out["targets"] = json.loads(raw)["data"]["activeTargets"] if raw is not None else None
        except (ValueError, KeyError, TypeError) as err:
            error = "unreadable answer: %s" % err
        out["targets_error"] = error
    for path in sorted(glob.glob("%s/*.yml" % p["file_sd_dir"]) + glob.glob("%s/*.yaml" % p["file_sd_dir"])):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                out["files"][path] = handle.read(MAX_BODY)
        except OSError as err:
            out["files"][path] = "# unreadable: %s" % err
    return out


def _kuma(module):
    """Monitors, normalised, each with its latest heartbeat; a problem is the status, never a failure."""
    from ansible_collections.homelab.ops.plugins.module_utils import uptime_kuma as uk

    p = module.params
    try:
        uk.credentials(p["username_env"], p["password_env"])
    except uk.KumaError:
        unset = [name for name in (p["username_env"], p["password_env"]) if not os.environ.get(name)]
        return {"status": "not checked: %s %s not set" % (" and ".join(unset), "is" if len(unset) == 1 else "are"),
                "monitors": []}
    try:
        with uk.session(p["url"], p["username_env"], p["password_env"], timeout=p["timeout"]) as api:
            raw = api.get_monitors()
            beats = api.get_heartbeats()
    except uk.KumaError as err:
        return {"status": str(err), "monitors": []}
    except Exception as err:  # the API's own errors (a timeout on an event): Uptime Kuma did not answer
        return {"status": "Uptime Kuma at %s did not answer: %s" % (p["url"], " ".join(str(err).split())[:300]),
                "monitors": []}
    monitors = []
    for item in raw:
        mon = me.normalise_monitor(item, p["managed_tag"])
        last = (beats.get(mon["id"]) or beats.get(str(mon["id"])) or [None])[-1] or {}
        status = getattr(last.get("status"), "value", last.get("status"))
        mon["heartbeat"] = {"status": ma.BEAT.get(status, "none") if last else "none",
                            "msg": " ".join(str(last.get("msg") or "").split())[:300], "time": last.get("time")}
        monitors.append(mon)
    return {"status": "ok", "monitors": monitors}


def _file_groups(text):
    """A file_sd file's groups, or a list with one unreadable marker."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        return [{"targets": [], "labels": {"error": "unreadable: %s" % " ".join(str(err).split())[:200]}}]
    return data if isinstance(data, list) else []


def _report(module):
    p = module.params
    reads = dict(p["exporters"] or {})
    for host in p["unreachable"]:
        reads[host] = {"unreachable": True, "error": "unreachable"}
    prom = None
    if p["prometheus"] is not None:
        prom = dict(p["prometheus"])
        prom["files"] = {path: _file_groups(text) for path, text in (prom.get("files") or {}).items()}
    elif p["prometheus_host"] in p["unreachable"]:
        prom = {"unreachable": True}
    if prom is not None:
        prom["host"] = p["prometheus_host"]
    kuma = dict(p["kuma"] or {"status": "not checked"})
    kuma["host"], kuma["unit"] = p["kuma_host"], p["kuma_unit"]
    if p["kuma_host"] in p["unreachable"] and kuma.get("status") != "ok":
        kuma["status"] = "%s (its host %s is unreachable)" % (kuma.get("status"), p["kuma_host"])
    hosts = {h: int(port or 22) for h, port in (p["inventory_hosts"] or {}).items()}
    report, per_host, proposals = ma.assess(hosts, p["services"], p["lan_domain"], p["node_port"], p["interval"],
                                            reads, prom, kuma, p["reporter"])
    report["checked_at"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # A finding about a host outside the play has no task of its own to be reported by: the reporter says it.
    played = set(p["exporters"] or {}) | set(p["unreachable"]) | {p["reporter"]}
    findings = {}
    for host, items in per_host.items():
        findings.setdefault(host if host in played else p["reporter"], []).extend(items)
    report["findings"] = findings
    return report, proposals


def main():
    module = AnsibleModule(
        argument_spec={
            "part": {"type": "str", "choices": ["exporter", "prometheus", "kuma", "report"], "required": True},
            "address": {"type": "str"},
            "port": {"type": "int"},
            "unit": {"type": "str"},
            "file_sd_dir": {"type": "str", "default": "/etc/prometheus/file_sd"},
            "url": {"type": "str"},
            "username_env": {"type": "str"},
            # The name of an environment variable, not the password: nothing to hide.
            "password_env": {"type": "str", "no_log": False},
            "managed_tag": {"type": "str", "default": "homelab"},
            "inventory_hosts": {"type": "dict"},
            "services": {"type": "list", "elements": "raw", "default": []},
            "lan_domain": {"type": "str", "default": "maas"},
            "node_port": {"type": "int", "default": 9100},
            "interval": {"type": "int", "default": 60},
            "exporters": {"type": "dict", "default": {}},
            "unreachable": {"type": "list", "elements": "str", "default": []},
            "prometheus": {"type": "dict"},
            "prometheus_host": {"type": "str"},
            "kuma": {"type": "dict"},
            "kuma_host": {"type": "str"},
            "kuma_unit": {"type": "str"},
            "reporter": {"type": "str"},
            "timeout": {"type": "int", "default": 10},
        },
        required_if=[("part", "exporter", ["address", "port", "unit"]),
                     ("part", "prometheus", ["address", "port", "unit"]),
                     ("part", "kuma", ["url", "username_env", "password_env"]),
                     ("part", "report", ["inventory_hosts", "reporter"])],
        supports_check_mode=True,
    )
    part = module.params["part"]
    if part == "exporter":
        module.exit_json(changed=False, exporter=_exporter(module))
    if part == "prometheus":
        module.exit_json(changed=False, prometheus=_prometheus(module))
    if part == "kuma":
        module.exit_json(changed=False, kuma=_kuma(module))
    report, proposals = _report(module)
    module.exit_json(changed=False, monitoring=report, proposals=proposals)


if __name__ == "__main__":
    main()
