# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""The monitoring audit's judgement: what Prometheus and Uptime Kuma watch against what the inventory says.

Plain functions over what the module read (each host's node exporter, Prometheus's API and file_sd files,
Uptime Kuma's monitors and their latest heartbeats); :func:`assess` returns the report the review shows
(one line per monitoring component), the findings per inventory host and the steps proposed.

The audit reports and never fixes: a missing, stale or differently configured monitor proposes
sync_monitors; a down node exporter is the runbook's check on its host (its monitor stays: the
exporter is what is wrong); Prometheus or Uptime Kuma down is the person's checklist.
"""

from __future__ import annotations

from ansible_collections.homelab.ops.plugins.module_utils import monitoring_expected as me

FINDING_IDS = ("monitor-missing", "monitor-stale", "monitor-different", "monitor-target-down", "exporter-down",
               "monitoring-down")
#: The Uptime Kuma heartbeat statuses (0 down, 1 up, 2 pending, 3 maintenance).
BEAT = {0: "down", 1: "up", 2: "pending", 3: "maintenance"}
SYNC = "sync_monitors"


def finding(fid, severity, summary, evidence, runbook, subject):
    return {"id": fid, "severity": severity, "summary": summary, "evidence": evidence, "runbook": runbook,
            "subject": subject}


def describe(mon):
    """How a monitor checks: ``port jellyfin.maas:8096`` or ``http http://…``."""
    if mon.get("type") == "http":
        return "http %s" % (mon.get("url") or "?")
    if mon.get("type") == "port":
        return "port %s:%s" % (mon.get("hostname") or "?", mon.get("port") if mon.get("port") is not None else "?")
    return "%s %s" % (mon.get("type"), mon.get("hostname") or mon.get("url") or "")


def _subject(key, hosts, default):
    """The inventory host a monitor's key stands for, else ``default`` (the monitoring host)."""
    if key and key.startswith("host/") and key[5:] in hosts:
        return key[5:]
    return default


def _gone(key):
    kind, _unused, name = (key or "?/?").partition("/")
    return "%s not in inventory" % ("host" if kind == "host" else "service" if kind == "service" else "key")


def exporters(expected_hosts, host_reads, port):
    """Per inventory host the node exporter's state: ``{host: {state, error}}``.

    ``host_reads`` maps each host the play reached to its part-host read (``unit``, ``metrics``); a host
    it did not reach is ``unreachable``; a host outside the play's limit is ``not checked``.
    """
    out = {}
    for host in sorted(expected_hosts):
        read = host_reads.get(host)
        if read is None:
            out[host] = {"state": "not checked", "error": "outside the limit"}
        elif read.get("unreachable"):
            out[host] = {"state": "unreachable", "error": read.get("error") or "unreachable"}
        else:
            metrics = read.get("metrics") or {}
            unit = read.get("unit") or "unknown"
            if metrics.get("ok") and unit == "active":
                out[host] = {"state": "up", "error": ""}
            else:
                why = "unit %s" % unit
                if not metrics.get("ok"):
                    why += "; :%s/metrics: %s" % (port, metrics.get("error") or "no answer")
                out[host] = {"state": "down", "error": why}
    return out


def _prometheus(prom, expected_groups, inventory_hosts, reporter, port):
    """Prometheus's line and findings."""
    found = []
    host = prom.get("host") or reporter
    if prom.get("unreachable"):
        found.append(finding("monitoring-down", "critical", "Prometheus's host %s is unreachable" % host,
                             prom.get("error") or "unreachable", "the person's checklist: reach %s, then "
                             "systemctl status prometheus there" % host, reporter))
        return "prometheus: not checked: its host %s is unreachable" % host, found, None
    ready = prom.get("ready") or {}
    if prom.get("unit") != "active" or not ready.get("ok"):
        found.append(finding("monitoring-down", "critical", "Prometheus on %s is down" % host,
                             "unit %s; /-/ready: %s" % (
                                 prom.get("unit") or "unknown", ready.get("error") or "ready"),
                             "the person's checklist: systemctl status prometheus on %s; journalctl -u prometheus"
                             % host, reporter))
        return "prometheus: down on %s (unit %s; /-/ready: %s)" % (
            host, prom.get("unit") or "unknown", ready.get("error") or "ok"), found, None
    files = prom.get("files") or {}
    node_file = next((groups for path, groups in sorted(files.items())
                      if path.rsplit("/", 1)[-1] == me.NODE_FILE), None)
    # A target Prometheus has not scraped yet (health unknown: just added) is neither up nor down.
    targets = prom.get("targets") or []
    unscraped = sorted(str((t.get("labels") or {}).get("instance")) for t in targets
                       if t.get("health") == "unknown" and (t.get("labels") or {}).get("job") == "node")
    cmp = me.compare_targets(expected_groups, node_file, [t for t in targets if t.get("health") != "unknown"])
    for target in cmp["missing"]:
        found.append(finding("monitor-missing", "warning", "Prometheus does not scrape %s" % target,
                             "not in %s's %s" % (host, me.NODE_FILE), "sync_monitors writes it",
                             _subject("host/" + target.split(".", 1)[0], inventory_hosts, reporter)))
    for target in cmp["stale"]:
        found.append(finding("monitor-stale", "warning", "Prometheus scrapes %s, no inventory host" % target,
                             "in %s's %s" % (host, me.NODE_FILE), "sync_monitors removes it", reporter))
    stale = set(cmp["stale"])
    for entry in cmp["down"]:
        if entry["target"] in stale:
            continue  # a target for nothing in the inventory is stale, not something to go and start
        subject = entry.get("host") if entry.get("host") in inventory_hosts else reporter
        found.append(finding("monitor-target-down", "warning", "Prometheus cannot scrape %s" % entry["target"],
                             entry["error"] or "health down",
                             "systemctl status prometheus-node-exporter on %s; start it" % subject, subject))
    # Targets for nothing in the inventory are counted as stale, not in what is up of the inventory's.
    up = [e for e in cmp["up"] if e["target"] not in stale]
    down = [e for e in cmp["down"] if e["target"] not in stale]
    parts = ["up, node targets %d/%d up" % (len(up), len(up) + len(down))]
    if prom.get("targets_error"):
        parts = ["up, targets not read: %s" % prom["targets_error"]]
    if cmp["missing"]:
        parts.append("missing: " + ", ".join(cmp["missing"]))
    if cmp["stale"]:
        parts.append("stale: " + ", ".join("%s (host not in inventory)" % t for t in cmp["stale"]))
    parts.append("down: " + (", ".join("%s (%s)" % (e["target"], e["error"] or "down") for e in down) or "0"))
    if unscraped:
        parts.append("not scraped yet: " + ", ".join(unscraped))
    sources = sorted(files) or ["no file_sd files"]
    return "prometheus: %s; reads %s" % ("; ".join(parts), ", ".join(sources)), found, cmp


def _kuma(kuma, expected, inventory_hosts, reporter):
    """Uptime Kuma's line and findings."""
    found = []
    status = kuma.get("status") or "not checked"
    host = kuma.get("host") or reporter
    if status.startswith("not checked"):
        return "uptime-kuma: %s" % status, found, None
    if status != "ok":
        found.append(finding("monitoring-down", "critical", "Uptime Kuma on %s is down" % host,
                             "unit %s; API: %s" % (kuma.get("unit") or "unknown", status),
                             "the person's checklist: systemctl status uptime-kuma on %s; journalctl -u uptime-kuma"
                             % host, reporter))
        return "uptime-kuma: down (unit %s; API: %s)" % (kuma.get("unit") or "unknown", status), found, None
    monitors = kuma.get("monitors") or []
    cmp = me.compare_monitors(expected, monitors)
    for exp in cmp["missing"]:
        found.append(finding("monitor-missing", "warning", "no Uptime Kuma monitor for %s" % exp["name"],
                             "expected %s (%s), none tagged %s" % (describe(exp), exp["key"], exp["key"]),
                             "sync_monitors creates it", _subject(exp["key"], inventory_hosts, reporter)))
    for mon in cmp["stale"]:
        found.append(finding("monitor-stale", "warning", "Uptime Kuma monitor %s is stale" % mon["name"],
                             "tagged %s (%s), %s" % (mon["key"], describe(mon), _gone(mon["key"])),
                             "sync_monitors deletes it", reporter))
    for diff in cmp["different"]:
        fields = ", ".join("%s %s, expected %s" % (f, a, e) for f, (a, e) in sorted(diff["fields"].items()))
        found.append(finding("monitor-different", "warning", "Uptime Kuma monitor %s differs" % diff["name"],
                             fields, "sync_monitors edits it", _subject(diff["key"], inventory_hosts, reporter)))
    stale_ids = {m["id"] for m in cmp["stale"]}
    down = []
    for mon in monitors:
        beat = mon.get("heartbeat") or {}
        if mon["id"] in stale_ids or not mon.get("active") or beat.get("status") != "down":
            continue
        down.append(mon)
        found.append(finding("monitor-target-down", "warning", "Uptime Kuma monitor %s is failing" % mon["name"],
                             "%s: %s" % (describe(mon), beat.get("msg") or "down"),
                             "check what it monitors (%s); the monitor stays" % describe(mon),
                             _subject(mon.get("key"), inventory_hosts, reporter)))
    managed = sum(1 for m in monitors if m["managed"])
    parts = ["up, %d monitors (%d managed, %d yours)" % (len(monitors), managed, len(monitors) - managed)]
    if cmp["missing"]:
        parts.append("missing: " + ", ".join("%s (%s)" % (m["name"], describe(m)) for m in cmp["missing"]))
    if cmp["stale"]:
        parts.append("stale: " + ", ".join("%s (%s)" % (m["name"], _gone(m["key"])) for m in cmp["stale"]))
    if cmp["different"]:
        parts.append("different: " + ", ".join(d["name"] for d in cmp["different"]))
    if cmp["covered"]:
        parts.append("covered by yours: " + ", ".join("%s by %s" % (c["key"], c["by"]) for c in cmp["covered"]))
    parts.append("down: " + (", ".join("%s (%s)" % (m["name"], (m.get("heartbeat") or {}).get("msg") or "down")
                                       for m in down) or "0"))
    return "uptime-kuma: " + "; ".join(parts), found, cmp


def assess(inventory_hosts, services, lan_domain, node_port, interval, host_reads, prometheus, kuma, reporter):
    """The audit: ``(report, findings per host, proposals)``.

    ``inventory_hosts`` maps every inventory host to its SSH port (what is expected comes from the whole
    inventory, not the play's limit); ``host_reads`` what each reached host said of its node exporter.
    """
    expected_groups = me.expected_node_groups(list(inventory_hosts), lan_domain, node_port)
    expected = me.expected_monitors(inventory_hosts, services, lan_domain, interval)
    found = []
    lines = []
    state = exporters(inventory_hosts, host_reads, node_port)
    for host, ex in sorted(state.items()):
        if ex["state"] in ("down", "unreachable"):
            sev = "warning" if ex["state"] == "down" else "info"
            fid = "exporter-down" if ex["state"] == "down" else "monitoring-down"
            runbook = ("systemctl status prometheus-node-exporter on %s; start it "
                       "(systemctl start prometheus-node-exporter)" % host) if ex["state"] == "down" else (
                "reach %s first (homelab plan \"diagnose %s\")" % (host, host))
            found.append(finding(fid, sev, "node exporter on %s is %s" % (host, ex["state"]), ex["error"], runbook,
                                 host))
    counts = {}
    for ex in state.values():
        counts[ex["state"]] = counts.get(ex["state"], 0) + 1
    lines.append("node exporters: " + ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())) + (
        "; down: " + ", ".join("%s (%s)" % (h, e["error"]) for h, e in sorted(state.items())
                               if e["state"] == "down") if counts.get("down") else ""))
    prom_line, prom_found, prom_cmp = _prometheus(prometheus or {"unreachable": True}, expected_groups,
                                                  inventory_hosts, reporter, node_port)
    kuma_line, kuma_found, kuma_cmp = _kuma(kuma or {"status": "not checked"}, expected, inventory_hosts, reporter)
    lines += [prom_line, kuma_line]
    found += prom_found + kuma_found
    per_host = {}
    for item in found:
        per_host.setdefault(item["subject"], []).append(item)
    ids = {f["id"] for f in found}
    proposals = {"steps": [], "manual": []}
    if ids & {"monitor-missing", "monitor-stale", "monitor-different"}:
        n = sum(1 for f in found if f["id"] in ("monitor-missing", "monitor-stale", "monitor-different"))
        proposals["steps"].append({"playbook": SYNC, "kind": "standard", "vars": {},
                                   "reason": "%d monitor%s missing, stale or configured differently" % (
                                       n, "" if n == 1 else "s")})
    for item in found:
        if item["id"] == "monitoring-down" and item["severity"] == "critical":
            proposals["manual"].append({"title": item["summary"], "reason": item["runbook"]})
        if item["id"] == "exporter-down":
            proposals["manual"].append({"title": "start the node exporter on %s" % item["subject"],
                                        "reason": item["runbook"]})
    summary = {"expected_monitors": len(expected), "expected_targets": len(expected_groups),
               "prometheus": prom_cmp, "uptime_kuma": kuma_cmp}
    return {"components": lines, "summary": summary}, per_host, proposals
