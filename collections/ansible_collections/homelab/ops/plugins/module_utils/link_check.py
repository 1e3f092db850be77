# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Pure logic of homelab.ops.link_check: each NIC's link against a target speed, and why it fell short.

No I/O here, so the unit tests call it directly. The module gathers; this judges. Runs on the target
with its standard library only (Python 3.9 or later), hence the typing comments' style.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

#: The counters compared with the baseline; the names are sysfs' statistics files and the baseline's keys.
COUNTERS = ("rx_errors", "tx_errors", "rx_dropped", "tx_dropped")
#: Drivers of paravirtual NICs: they report no speed and follow whatever their hypervisor's link does.
VIRTUAL_DRIVERS = ("virtio_net", "vmxnet3", "xen_netfront", "hv_netvsc", "veth")
#: At or below this a link that should do gigabit or more points at a cable: a damaged pair or a
#: two-pair cable makes 1000BASE-T and faster fall back to 100BASE-TX.
CABLE_FLOOR_MBPS = 100
_STATS_LINE = re.compile(r"^\s*([A-Za-z0-9_.\[\]-]+):\s*(-?\d+)\s*$")


def mbps_text(value: Optional[int]) -> str:
    """1000 -> "1000 Mbps"; None -> "unknown speed"."""
    return "%d Mbps" % value if value else "unknown speed"


def parse_ethtool_stats(text: Optional[str]) -> Dict[str, int]:
    """``ethtool -S IFACE`` ("NIC statistics:" then "name: value" lines) as {name: value}."""
    found = {}  # type: Dict[str, int]
    for line in (text or "").splitlines():
        m = _STATS_LINE.match(line)
        if m:
            found[m.group(1)] = int(m.group(2))
    return found


def counter_growth(baseline: Optional[Dict[str, Any]], now: Dict[str, Optional[int]]) -> Dict[str, int]:
    """The counters that grew since the baseline, by how much.

    A counter lower than at baseline means the interface was reset (a reboot, a new NIC): its whole
    current value is growth since then. Without a baseline every non-zero counter is reported.
    """
    grown = {}
    for name in COUNTERS:
        value = now.get(name)
        if value is None:
            continue
        before = (baseline or {}).get(name)
        if not isinstance(before, int) or isinstance(before, bool) or before > value:
            before = 0
        if value - before > 0:
            grown[name] = value - before
    return grown


def load_baseline(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """The baseline file network_prepare writes, or None when absent or unreadable."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("nics"), dict):
        return None
    return data


def uplink_speed(devices: Dict[str, Any], name: Optional[str]) -> Optional[Dict[str, Any]]:
    """The documented uplink of device ``name``: {"device", "to", "speed_mbps"}, or None.

    A link runs at the slower of its two ports. A router names the switch it feeds as its uplink,
    so a switch's uplink is also any device that names the switch.
    """
    device = devices.get(name or "") or {}
    peers = [device.get("uplink")] if device.get("uplink") else []
    peers += [other for other, d in devices.items() if isinstance(d, dict) and d.get("uplink") == name]
    for peer in peers:
        speeds = [s for s in (device.get("port_speed_mbps"), (devices.get(peer) or {}).get("port_speed_mbps")) if s]
        return {"device": name, "to": peer, "speed_mbps": min(speeds) if speeds else None}
    return None


def classify_link(nic: Dict[str, Any], documented: Optional[Dict[str, Any]], devices: Dict[str, Any],
                  target_mbps: int, hypervisor: Optional[str] = None) -> Dict[str, Any]:
    """One NIC judged against ``target_mbps``.

    ``nic`` is what discovery found (homelab_discovered.nics: speed_mbps, duplex, max_speed_mbps,
    driver, carrier); ``documented`` the inventory's hardware.nics entry (supported_mbps, switch);
    ``devices`` the documented network_devices. Returns {"status", "cause", "reason"}:
    status "reached", "below" or "vm"; cause None, "nic", "other_end", "cable", "autoneg" or "no_link".
    """
    documented = documented or {}
    speed = nic.get("speed_mbps")
    duplex = nic.get("duplex")
    if nic.get("driver") in VIRTUAL_DRIVERS or (hypervisor and not nic.get("supported_link_modes") and speed is None):
        where = "its hypervisor %s" % hypervisor if hypervisor else "its hypervisor"
        return {"status": "vm", "cause": None,
                "reason": "paravirtual NIC with no speed of its own: it follows %s's link" % where}
    if nic.get("carrier") is False or nic.get("state") == "down":
        return {"status": "below", "cause": "no_link",
                "reason": "no link: check that the cable is plugged in at both ends"}
    if speed is None:
        return {"status": "below", "cause": "autoneg",
                "reason": "speed unknown: auto-negotiation did not settle; check both ends negotiate automatically"}
    if duplex == "half":
        return {"status": "below", "cause": "autoneg",
                "reason": "half duplex: one end is forced (auto-negotiation off) or negotiation failed; "
                          "set both ends to auto"}
    if speed >= target_mbps:
        return {"status": "reached", "cause": None, "reason": "reached the %d Mbps target" % target_mbps}
    nic_max = nic.get("max_speed_mbps") or documented.get("supported_mbps")
    if nic_max and nic_max < target_mbps:
        reason = ("the NIC (%s) supports at most %s: it needs a NIC that does %d Mbps"
                  % (nic.get("driver") or documented.get("model") or "unknown", mbps_text(nic_max), target_mbps))
        if speed <= CABLE_FLOOR_MBPS < nic_max:
            reason += "; and at %s it is below even the NIC's own maximum, likely the cable" % mbps_text(speed)
        return {"status": "below", "cause": "nic", "reason": reason}
    switch = documented.get("switch")
    port = (devices.get(switch or "") or {}).get("port_speed_mbps")
    if speed <= CABLE_FLOOR_MBPS:
        return {"status": "below", "cause": "cable",
                "reason": "likely the cable: both ends do more, yet it linked at %s (a damaged pair or a "
                          "two-pair cable); re-seat or replace it" % mbps_text(speed)}
    if port and port < target_mbps:
        return {"status": "below", "cause": "other_end",
                "reason": "likely the other end: %s's ports are documented at %s" % (switch, mbps_text(port))}
    if switch and port:
        return {"status": "below", "cause": "cable",
                "reason": "likely the cable: the NIC and %s's port both do %s or more, yet it linked at %s; "
                          "use Cat5e or better" % (switch, mbps_text(target_mbps), mbps_text(speed))}
    return {"status": "below", "cause": "other_end",
            "reason": "likely the other end: no switch port documented for it, and the NIC does %s"
                      % mbps_text(nic_max)}


def check_host(nics: List[Dict[str, Any]], counters: Dict[str, Dict[str, Optional[int]]],
               documented: List[Dict[str, Any]], devices: Dict[str, Any], target_mbps: int,
               hypervisor: Optional[str] = None, baseline: Optional[Dict[str, Any]] = None,
               host: str = "") -> List[Dict[str, Any]]:
    """Every physical or paravirtual NIC of one host, judged, with counters and one summary line each.

    Software interfaces (bridges, veths) are left out: they have no link of their own.
    """
    by_name = {d.get("name"): d for d in documented or [] if isinstance(d, dict)}
    base_nics = (baseline or {}).get("nics") or {}
    links = []
    for nic in nics:
        if nic.get("virtual") and nic.get("name") not in by_name:
            continue
        name = nic.get("name")
        doc = by_name.get(name) or {}
        verdict = classify_link(nic, doc, devices or {}, target_mbps, hypervisor)
        now = counters.get(name) or {}
        grown = counter_growth(base_nics.get(name) if baseline else None, now)
        base_speed = (base_nics.get(name) or {}).get("speed_mbps") if baseline else None
        link = {
            "host": host, "name": name, "driver": nic.get("driver"), "speed_mbps": nic.get("speed_mbps"),
            "duplex": nic.get("duplex"), "max_speed_mbps": nic.get("max_speed_mbps"), "target_mbps": target_mbps,
            "switch": doc.get("switch"), "status": verdict["status"], "cause": verdict["cause"],
            "reason": verdict["reason"], "counters": {k: now.get(k) for k in COUNTERS},
            "counters_grown": grown, "baseline_speed_mbps": base_speed, "compared_with_baseline": baseline is not None,
        }
        uplink = uplink_speed(devices or {}, doc.get("switch"))
        if verdict["status"] == "reached" and uplink and uplink["speed_mbps"] and uplink["speed_mbps"] < target_mbps:
            link["reason"] += "; but %s's uplink to %s runs at %s" % (
                uplink["device"], uplink["to"], mbps_text(uplink["speed_mbps"]))
        link["summary"] = summary_line(link)
        links.append(link)
    return links


def summary_line(link: Dict[str, Any]) -> str:
    """"pumped-piglet enp4s0: 2500 Mbps full — reached 2500 target" and the like."""
    who = " ".join(x for x in (link.get("host"), link.get("name")) if x)
    speed = mbps_text(link.get("speed_mbps")) + (" " + link["duplex"] if link.get("duplex") else "")
    if link["status"] == "vm":
        head = "%s: %s — %s" % (who, speed, link["reason"])
    elif link["status"] == "reached":
        head = "%s: %s — reached %d target" % (who, speed, link["target_mbps"])
        if "; but " in link["reason"]:
            head += link["reason"][link["reason"].index(";"):]
    else:
        head = "%s: %s — below target, %s" % (who, speed, link["reason"])
    if link.get("baseline_speed_mbps") and link.get("speed_mbps") and link["baseline_speed_mbps"] != link["speed_mbps"]:
        head += " (was %s at baseline)" % mbps_text(link["baseline_speed_mbps"])
    if link.get("counters_grown"):
        since = "since baseline" if link.get("compared_with_baseline") else "so far"
        grown = sorted(link["counters_grown"].items())
        head += "; counters grew %s: %s" % (since, ", ".join("%s +%d" % kv for kv in grown))
    return head


def throughput(result_json: Optional[str], target_mbps: int) -> Dict[str, Any]:
    """iperf3 -J client output -> {"mbps", "retransmits", "reached", "summary"}; raises ValueError if unusable."""
    try:
        data = json.loads(result_json or "")
    except ValueError:
        raise ValueError("iperf3 printed no JSON result") from None
    if not isinstance(data, dict):
        raise ValueError("iperf3 printed no JSON result")
    if data.get("error"):
        raise ValueError("iperf3: %s" % data["error"])
    end = data.get("end") or {}
    received = end.get("sum_received") or end.get("sum") or {}
    bits = received.get("bits_per_second")
    if not isinstance(bits, (int, float)):
        raise ValueError("iperf3's result has no received throughput")
    mbps = int(round(bits / 1e6))
    sent = end.get("sum_sent") or {}
    reached = mbps >= target_mbps * 0.9  # TCP over a link tops out near 94% of its line rate
    return {"mbps": mbps, "retransmits": sent.get("retransmits"), "reached": reached,
            "summary": "%d Mbps measured — %s the %d Mbps target (90%% of it counts as reached)"
                       % (mbps, "reached" if reached else "below", target_mbps)}
