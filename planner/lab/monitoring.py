"""Monitoring gaps the sandbox lab plants on demand, in the real Uptime Kuma and Prometheus files.

``homelab lab plant uptime-kuma monitoring-gaps`` leaves the monitoring as an earlier sync would have made
it, then lets the homelab move on: through uptime-kuma-api, one TCP-port monitor per inventory host
(``<host>.maas:22``) and per ``monitored: true`` service (its DNS name and port), each tagged with the
managed tag (value ``host/<name>`` or ``service/<name>``), every 60 s, except one monitored service left
without a monitor (jellyfin), plus a tagged monitor for a host no longer in the inventory (``old-nas``) and
one untagged monitor a person made by hand, which a sync must never touch. On the Uptime Kuma host it
writes Prometheus's file_sd file ``homelab-node.yml`` with every host's node exporter target, old-nas's
too. ``--clear`` removes the managed monitors, the person's one and the file.

``homelab lab plant HOST exporter-stopped`` stops (not disables) the host's node exporter, remembering
in /run that it did, so ``--clear`` starts only an exporter the plant stopped: one never configured would
otherwise start on every address of the machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from planner import yamlio
from planner.errors import HomelabError, LabError
from planner.lab import kuma

if TYPE_CHECKING:
    from planner.lab.spec import LabConfig, LabHost

#: The monitored service the plant leaves without a monitor, and the host gone from the inventory.
MISSING_SERVICE = "jellyfin"
GONE_HOST = "old-nas"
#: A monitor a person made by hand: untagged, so no sync may edit or remove it.
PERSONAL = {"name": "router admin (mine)", "hostname": "maas.maas", "port": 5240}
INTERVAL_S = 60
SSH_PORT = 22
NODE_FILE = "homelab-node.yml"
EXPORTER_UNIT = "prometheus-node-exporter.service"
_STOPPED_MARK = "/run/homelab-lab/exporter-stopped"

EXPORTER_SCRIPTS = {
    False: (f"if systemctl is-active --quiet {EXPORTER_UNIT}; then systemctl stop {EXPORTER_UNIT} "
            f"&& mkdir -p {_STOPPED_MARK.rsplit('/', 1)[0]} && touch {_STOPPED_MARK}; fi; "
            f"echo \"$(systemctl is-active {EXPORTER_UNIT})\""),
    True: (f"if [ -e {_STOPPED_MARK} ]; then systemctl start {EXPORTER_UNIT} && rm -f {_STOPPED_MARK}; fi; "
           f"echo \"$(systemctl is-active {EXPORTER_UNIT})\""),
}


def contract(config: LabConfig) -> dict:
    """homelab_monitoring from the project's inventory (inventory/group_vars/all/monitoring.yml)."""
    from planner.inventory.hosts import load_inventory

    found = load_inventory(config.project / "inventory").groupvars("all").get("homelab_monitoring")
    if not isinstance(found, dict):
        raise HomelabError("the inventory documents no homelab_monitoring",
                           "see inventory/group_vars/all/monitoring.yml")
    return found


def seeded_monitors(hosts: list[LabHost], services: list[dict]) -> list[dict]:
    """The tagged monitors the plant seeds: every host's and every monitored service's but the missing
    one's, and the gone host's (each: name, hostname, port, tag value)."""
    wanted = [{"name": h.name, "hostname": f"{h.name}.maas", "port": SSH_PORT, "tag": f"host/{h.name}"}
              for h in hosts]
    for svc in services:
        if svc.get("monitored") is True and svc.get("name") != MISSING_SERVICE and isinstance(svc.get("port"), int):
            wanted.append({"name": svc["name"], "hostname": svc.get("dns") or f"{svc['name']}.maas",
                           "port": svc["port"], "tag": f"service/{svc['name']}"})
    wanted.append({"name": GONE_HOST, "hostname": f"{GONE_HOST}.maas", "port": SSH_PORT, "tag": f"host/{GONE_HOST}"})
    return wanted


def node_targets(hosts: list[LabHost], port: int) -> list[dict]:
    """Prometheus's file_sd entries as sync_monitors writes them, plus the gone host's."""
    names = [h.name for h in hosts] + [GONE_HOST]
    return [{"targets": [f"{name}.maas:{port}"], "labels": {"host": name}} for name in names]


def _tag_values(monitor: dict, tag: str) -> list[str]:
    return [t.get("value") or "" for t in monitor.get("tags") or [] if t.get("name") == tag]


def _seed(api, tag: str, wanted: list[dict]) -> int:
    from uptime_kuma_api import MonitorType

    tag_id = next((t["id"] for t in api.get_tags() if t["name"] == tag), None)
    if tag_id is None:
        tag_id = api.add_tag(name=tag, color="#2563EB")["id"]
    monitors = api.get_monitors()
    have = {v for m in monitors for v in _tag_values(m, tag)}
    added = 0
    for mon in wanted:
        if mon["tag"] in have:
            continue
        made = api.add_monitor(type=MonitorType.PORT, name=mon["name"], hostname=mon["hostname"],
                               port=mon["port"], interval=INTERVAL_S)
        api.add_monitor_tag(tag_id, made["monitorID"], mon["tag"])
        added += 1
    # The gap is the point: a monitor a sync added for the missing service goes again.
    for m in monitors:
        if f"service/{MISSING_SERVICE}" in _tag_values(m, tag):
            api.delete_monitor(m["id"])
    if not any(m["name"] == PERSONAL["name"] for m in monitors):
        api.add_monitor(type=MonitorType.PORT, interval=INTERVAL_S, **PERSONAL)
        added += 1
    return added


def _clear(api, tag: str) -> int:
    removed = 0
    for m in api.get_monitors():
        if _tag_values(m, tag) or m["name"] == PERSONAL["name"]:
            api.delete_monitor(m["id"])
            removed += 1
    return removed


def plant_gaps(config: LabConfig, host: str, clear: bool) -> str:
    """Plant (or clear) the monitoring gaps; returns what was done, in words."""
    from planner.lab import faults, runtime
    from planner.lab.hostsetup import _services
    from planner.lab.spec import lab_hosts

    if host != kuma.HOST:
        raise HomelabError(f"monitoring-gaps is planted on the lab's Uptime Kuma host, not {host}",
                           f"homelab lab plant {kuma.HOST} monitoring-gaps")
    hosts = lab_hosts(config)
    state = runtime.read_state(config)[host]
    settings = contract(config)
    tag = str((settings.get("uptime_kuma") or {}).get("managed_tag") or "homelab")
    file_sd = str((settings.get("prometheus") or {}).get("file_sd_dir") or "/etc/prometheus/file_sd")
    port = int((settings.get("node_exporter") or {}).get("port") or 9100)
    path = f"{file_sd}/{NODE_FILE}"
    try:
        api = kuma.client(config, state.address)
    except Exception as err:
        raise LabError(f"the lab's Uptime Kuma on {state.address}:{kuma.PORT} did not let the lab log in: {err}",
                       f"homelab lab ssh {host} -- systemctl status {kuma.UNIT}") from None
    try:
        count = _clear(api, tag) if clear else _seed(api, tag, seeded_monitors(hosts, _services(config)))
    finally:
        api.disconnect()
    if clear:
        faults._as_root(config, state, host, "monitoring-gaps", clear, "rm", "-f", path)
        return f"{count} monitor(s) removed from Uptime Kuma; {path} removed"
    text = ("# Node exporter targets, as sync_monitors writes them (planted by the sandbox lab).\n"
            + yamlio.dump_plain(node_targets(hosts, port)))
    faults._as_root(config, state, host, "monitoring-gaps", clear, "sh", "-c",
                    'mkdir -p "$1" && printf "%s\n" "$3" > "$2.tmp" && chmod 0644 "$2.tmp" && mv "$2.tmp" "$2"',
                    "sh", file_sd, path, text)
    return (f"{count} monitor(s) added to Uptime Kuma (none for {MISSING_SERVICE}, one for {GONE_HOST}, "
            f"one a person's); {path} written")
