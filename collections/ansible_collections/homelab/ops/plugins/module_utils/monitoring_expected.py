# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""What the inventory says should be monitored, and how that compares with what is: plain functions.

Expected, from the inventory (group_vars/all/monitoring.yml says where the monitors live):

- every host: a Prometheus ``node`` target ``<host>.<lan_domain>:<node exporter port>`` labelled
  ``host: <host>`` (the file_sd file ``homelab-node.yml`` holds them), and an Uptime Kuma reachability
  monitor named ``<host>``: a TCP check of ``<host>.<lan_domain>`` on its SSH port;
- every service with ``monitored: true``: an Uptime Kuma monitor named ``<service>`` on its DNS name,
  an HTTP check of ``http://<dns>:<port><health_path>`` when it documents a ``health_path``, else a TCP
  check of ``<dns>:<port>``.

Each expected monitor has a *key* (``host/<name>``, ``service/<name>``). A monitor the tool made carries
the managed tag with the key as its value; that is how a monitor is matched to what it stands for and
the only way one becomes the tool's to change. A monitor without the tag is a person's: never edited
or removed, and when it already checks what an expected one would, it counts as that check (no second
monitor is made beside it).
"""

from __future__ import annotations

import re

NODE_FILE = "homelab-node.yml"
#: The managed tag's values the tool writes. A monitor a person tagged with the same tag name but another
#: value (``homelab: nas``) stays the person's: only these values make a monitor the tool's to change.
KEY = re.compile(r"^(host|service)/[^/\s]+$")
#: Fields of an Uptime Kuma monitor that the inventory decides, per type; others are the person's to tune.
COMPARED = {"port": ("hostname", "port", "interval"), "http": ("url", "interval"),
            "keyword": ("url", "keyword", "interval")}
DEFAULT_INTERVAL = 60


def host_key(name):
    return "host/%s" % name


def service_key(name):
    return "service/%s" % name


def node_target(host, lan_domain, port):
    return "%s.%s:%d" % (host, lan_domain, int(port))


def expected_node_groups(hosts, lan_domain, port):
    """The file_sd groups Prometheus's ``node`` job should read: one per host, sorted by name."""
    return [{"targets": [node_target(h, lan_domain, port)], "labels": {"host": h}} for h in sorted(hosts)]


def expected_monitors(hosts, services, lan_domain, interval=DEFAULT_INTERVAL):
    """The Uptime Kuma monitors the inventory asks for, sorted by key.

    ``hosts`` maps each inventory host to its SSH port; ``services`` is the inventory's ``services:`` list.
    Each monitor: ``{key, name, type: port|http, hostname, port, url, interval}`` (unused fields None).
    """
    out = []
    for host, ssh_port in sorted(hosts.items()):
        out.append({"key": host_key(host), "name": host, "type": "port",
                    "hostname": "%s.%s" % (host, lan_domain), "port": int(ssh_port or 22),
                    "url": None, "interval": int(interval)})
    for svc in services or []:
        if not isinstance(svc, dict) or svc.get("monitored") is not True or not svc.get("name"):
            continue
        dns, port = svc.get("dns"), svc.get("port")
        if not dns or not port:
            continue  # nothing to check it on; the audit says so through the service's own record
        path = svc.get("health_path") or ""
        if path:
            out.append({"key": service_key(svc["name"]), "name": svc["name"], "type": "http", "hostname": None,
                        "port": None,
                        "url": "http://%s:%d%s" % (dns, int(port), path if path.startswith("/") else "/" + path),
                        "interval": int(interval)})
        else:
            out.append({"key": service_key(svc["name"]), "name": svc["name"], "type": "port", "hostname": dns,
                        "port": int(port), "url": None, "interval": int(interval)})
    return sorted(out, key=lambda m: m["key"])


def normalise_monitor(raw, managed_tag):
    """One monitor as uptime-kuma-api's ``get_monitors()`` returns it, reduced to what the comparison reads.

    ``type`` comes as a MonitorType enum or its string value; ``tags`` as ``[{name, value, ...}]``.
    """
    kind = raw.get("type")
    kind = getattr(kind, "value", kind)
    key = None
    for tag in raw.get("tags") or []:
        if tag.get("name") == managed_tag and KEY.match(str(tag.get("value") or "")):
            key = tag.get("value")
            break
    port = raw.get("port")
    return {"id": raw.get("id"), "name": raw.get("name"), "type": str(kind), "hostname": raw.get("hostname") or None,
            "port": int(port) if port not in (None, "") else None, "url": raw.get("url") or None,
            "keyword": raw.get("keyword") or None,
            "interval": int(raw.get("interval") or 0), "active": bool(raw.get("active", True)),
            "managed": key is not None, "key": key}


def _target(mon):
    if mon["type"] in ("http", "keyword"):  # a keyword check is an HTTP check that also reads the page
        return ("http", (mon.get("url") or "").rstrip("/"))
    return ("port", (mon.get("hostname") or "").lower(), mon.get("port"))


def compare_monitors(expected, actual):
    """Expected against actual (normalised) monitors.

    Returns ``{matched, missing, stale, different, covered, unmanaged}``:
    - matched: keys whose managed monitor checks what the inventory says;
    - missing: expected monitors with no managed monitor and no person's monitor on the same target;
    - stale: managed monitors whose key the inventory no longer has (a removed host or service);
    - different: ``{key, id, name, fields: {field: [actual, expected]}}`` for managed monitors configured otherwise;
    - covered: ``{key, by}``: expected checks a person's own monitor already makes;
    - unmanaged: the person's monitors, by name (reported, never touched).
    Duplicated managed keys: the first (lowest id) is the one kept; the others are stale.
    """
    by_key = {}
    stale = []
    for mon in sorted((m for m in actual if m["managed"]), key=lambda m: m.get("id") or 0):
        if mon["key"] in by_key:
            stale.append(mon)
        else:
            by_key[mon["key"]] = mon
    wanted = {m["key"]: m for m in expected}
    stale.extend(m for k, m in by_key.items() if k not in wanted)
    persons = [m for m in actual if not m["managed"]]
    person_targets = {}
    for mon in persons:
        person_targets.setdefault(_target(mon), mon["name"])
    matched, missing, different, covered = [], [], [], []
    for key, exp in sorted(wanted.items()):
        have = by_key.get(key)
        if have is None:
            by = person_targets.get(_target(exp))
            if by is not None:
                covered.append({"key": key, "by": by})
            else:
                missing.append(exp)
            continue
        fields = {}
        if have["type"] != exp["type"]:
            fields["type"] = [have["type"], exp["type"]]
        else:
            for field in COMPARED.get(exp["type"], ()):
                if have.get(field) != exp.get(field):
                    fields[field] = [have.get(field), exp.get(field)]
        if fields:
            different.append({"key": key, "id": have["id"], "name": have["name"], "fields": fields})
        else:
            matched.append(key)
    return {"matched": matched, "missing": missing, "stale": sorted(stale, key=lambda m: m.get("id") or 0),
            "different": different, "covered": covered, "unmanaged": sorted(m["name"] for m in persons)}


def compare_targets(expected_groups, file_groups, active_targets):
    """Prometheus's node targets against the inventory.

    ``file_groups``: the groups in the managed file_sd file (None when it is missing); ``active_targets``:
    ``/api/v1/targets``'s ``activeTargets`` (job ``node`` only are read). Returns ``{missing, stale, down,
    up}``: targets the inventory expects that the file lacks; targets the file holds for no inventory host;
    and, of Prometheus's active node targets, those down (``{target, host, error}``) and up.
    """
    want = {t: g["labels"].get("host") for g in expected_groups for t in g["targets"]}
    have = {}
    for group in file_groups or []:
        labels = group.get("labels") or {} if isinstance(group, dict) else {}
        for target in (group.get("targets") or []) if isinstance(group, dict) else []:
            have[str(target)] = labels.get("host")
    down, up = [], []
    for target in active_targets or []:
        labels = target.get("labels") or {}
        if labels.get("job") != "node":
            continue
        entry = {"target": labels.get("instance") or target.get("scrapeUrl"), "host": labels.get("host"),
                 "error": target.get("lastError") or ""}
        (up if target.get("health") == "up" else down).append(entry)
    return {"missing": sorted(t for t in want if t not in have), "stale": sorted(t for t in have if t not in want),
            "down": sorted(down, key=lambda e: str(e["target"])), "up": sorted(up, key=lambda e: str(e["target"]))}
