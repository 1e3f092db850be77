# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""The network upgrade assessment: documented topology and the links found now -> classes, waves, report.

Pure Python, no Ansible import, so the unit tests import it directly and the action plugin
(``homelab.ops.network_assessment``) is only the glue that reads hostvars on the controller.

Inputs are plain dicts, as Ansible's hostvars hold them:

``hosts``: {name: {"hardware": {...documented, with nics and form_factor},
                   "hypervisor": str | None,
                   "discovered_nics": [homelab.ops.host_facts nics] | None (not reached now)}}
``groups``: {group: [host, ...]}   ``network_devices``: group_vars/all/network.yml's mapping.

The classes, in the words the report uses:

- ``ready``: the link is at the target already (or, for a network device, its ports are);
- ``held_back``: both ends could do the target but the link is lower: a switch port below the
  target, an uplink, or the cable (a link below what both the NIC and the port support);
- ``needs_nic``: the NIC cannot reach the target; a NIC that fits the machine is the change;
- ``needs_switch``: a switch whose ports are below the target; replaced by one with enough
  target-speed ports for every port in use;
- ``follows_hypervisor``: a VM (virtio reports no speed), as fast as its hypervisor's link.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Set

READY, HELD_BACK, NEEDS_NIC, NEEDS_SWITCH, FOLLOWS = (
    "ready", "held_back", "needs_nic", "needs_switch", "follows_hypervisor")

#: Which 2.5GbE NIC fits which kind of machine (``hardware.form_factor`` in host_vars).
NIC_FOR_FORM_FACTOR = {
    "desktop": "a PCIe x1 2.5GbE card (Intel I226-V based) in a free PCIe slot",
    "server": "a PCIe x1 2.5GbE card (Intel I226-V based) in a free PCIe slot",
    "sff": "a low-profile PCIe x1 2.5GbE card (Intel I226-V based)",
    "mini-pc": "a USB 3 2.5GbE adapter (RTL8156B) or an M.2 2.5GbE card where a free M.2 slot allows",
    "laptop": "a USB 3 2.5GbE adapter (RTL8156B)",
}
FORM_FACTORS = tuple(NIC_FOR_FORM_FACTOR)

#: Groups whose hosts carry the cluster's quorum, and the host everyone's DHCP/DNS depends on.
K3S_GROUPS = ("k3s", "k3s_servers", "k3s_server")
INFRA_GROUPS = ("infra",)
INFRA_NAMES = ("maas",)

NEW_SWITCH = "new switch"
RECABLE_MINUTES = 2
NIC_FIT_MINUTES = 30


def _speed(value: Any) -> Optional[int]:
    """An int speed in Mbps, or None for unknown (None, -1, text, bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


def mbps(value: Optional[int]) -> str:
    """1000 -> '1GbE', 2500 -> '2.5GbE', 100 -> '100 Mbps', None -> 'unknown'."""
    if value is None:
        return "unknown"
    if value >= 1000:
        gb = value / 1000
        return ("%g" % gb) + "GbE"
    return "%d Mbps" % value


def _ident(name: str) -> str:
    """A Mermaid node id for a name."""
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _host_groups(groups: Dict[str, List[str]]) -> Dict[str, Set[str]]:
    out: Dict[str, Set[str]] = {}
    for group, members in groups.items():
        for host in members or []:
            out.setdefault(host, set()).add(group)
    return out


def _nic_row(host: str, doc: Dict[str, Any], found: Optional[Dict[str, Any]], devices: Dict[str, Any],
             target: int) -> Dict[str, Any]:
    """One physical link: a documented NIC, what discovery saw of it and the port it plugs into."""
    switch = doc.get("switch")
    device = devices.get(switch) if isinstance(switch, str) else None
    port = _speed((device or {}).get("port_speed_mbps"))
    documented = _speed(doc.get("speed_mbps"))
    seen = _speed((found or {}).get("speed_mbps"))
    nic_top = _speed((found or {}).get("max_speed_mbps")) or _speed(doc.get("supported_mbps"))
    linked = seen if found is not None else documented
    both = min(x for x in (nic_top, port) if x is not None) if (nic_top or port) else None
    if linked is not None and linked >= target:
        status, held_by, cause = READY, None, "linked at %s" % mbps(linked)
    elif nic_top is not None and nic_top < target:
        status, held_by = NEEDS_NIC, None
        cause = "%s tops out at %s" % (doc.get("model") or "the NIC", mbps(nic_top))
    elif port is not None and port < target:
        status, held_by = HELD_BACK, switch
        cause = "the NIC can do %s but %s's ports are %s" % (mbps(nic_top), switch, mbps(port))
    else:
        status, held_by = HELD_BACK, "cable"
        cause = "both ends support %s but the link is %s: the cable or auto-negotiation" % (
            mbps(both), mbps(linked))
    return {"host": host, "nic": doc.get("name"), "model": doc.get("model"), "driver": doc.get("driver"),
            "switch": switch, "port_mbps": port, "nic_max_mbps": nic_top, "documented_mbps": documented,
            "found_mbps": seen, "linked_mbps": linked, "status": status, "held_by": held_by,
            "why": cause}


def _disagreements(host: str, doc: Dict[str, Any], found: Optional[Dict[str, Any]],
                   port: Optional[int]) -> List[Dict[str, Any]]:
    """Where the documentation and discovery disagree about one NIC, with the likely cause."""
    name = doc.get("name")
    if found is None:
        return []
    out = []
    documented, seen = _speed(doc.get("speed_mbps")), _speed(found.get("speed_mbps"))
    if documented is not None and seen != documented:
        top = min(x for x in (_speed(found.get("max_speed_mbps")) or documented, port or documented))
        if seen is None:
            cause = "no link now: the cable is out or the switch port is down"
        elif seen < documented and seen < top:
            cause = ("both ends support %s but it negotiated %s: a damaged cable or one with only two pairs "
                     "wired (a gigabit link falls back to 100 Mbps), or auto-negotiation forced at one end"
                     % (mbps(top), mbps(seen)))
        else:
            cause = "the documentation is out of date (update speed_mbps in host_vars)"
        out.append({"host": host, "nic": name, "field": "speed_mbps", "documented": documented,
                    "found": seen, "likely_cause": cause})
    doc_top, found_top = _speed(doc.get("supported_mbps")), _speed(found.get("max_speed_mbps"))
    if doc_top is not None and found_top is not None and doc_top != found_top:
        out.append({"host": host, "nic": name, "field": "supported_mbps", "documented": doc_top,
                    "found": found_top, "likely_cause": "ethtool's supported link modes differ from the "
                    "documented model: the NIC was changed, or the documentation is wrong"})
    if doc.get("driver") and found.get("driver") and doc["driver"] != found["driver"]:
        out.append({"host": host, "nic": name, "field": "driver", "documented": doc["driver"],
                    "found": found["driver"], "likely_cause": "a different NIC than documented, or an "
                    "out-of-tree driver"})
    return out


def _nic_advice(hardware: Dict[str, Any]) -> str:
    form = hardware.get("form_factor")
    if form in NIC_FOR_FORM_FACTOR:
        return "%s (%s)" % (NIC_FOR_FORM_FACTOR[form], form)
    return "a 2.5GbE NIC that fits the machine (document hardware.form_factor for a specific suggestion)"


def classify(hosts: Dict[str, Dict[str, Any]], network_devices: Dict[str, Any], target: int) -> Dict[str, Any]:
    """Every device and link classified against ``target`` Mbps (see the module's docstring)."""
    devices = {k: v for k, v in (network_devices or {}).items() if isinstance(v, dict)}
    links: List[Dict[str, Any]] = []
    disagreements: List[Dict[str, Any]] = []
    entries: Dict[str, Dict[str, Any]] = {}
    for name in sorted(hosts):
        info = hosts[name]
        if info.get("hypervisor"):
            continue
        hardware = info.get("hardware") or {}
        found_by_name = {n.get("name"): n for n in info.get("discovered_nics") or [] if isinstance(n, dict)}
        reached = info.get("discovered_nics") is not None
        rows = []
        for doc in hardware.get("nics") or []:
            if not isinstance(doc, dict) or not doc.get("switch"):
                continue  # a NIC plugged into nothing documented is no LAN link
            found = found_by_name.get(doc.get("name")) if reached else None
            if reached and found is None:
                disagreements.append({"host": name, "nic": doc.get("name"), "field": "name",
                                      "documented": doc.get("name"), "found": None,
                                      "likely_cause": "no such interface now: renamed, or the NIC was removed"})
            port = _speed((devices.get(doc["switch"]) or {}).get("port_speed_mbps"))
            disagreements += _disagreements(name, doc, found, port)
            rows.append(_nic_row(name, doc, found, devices, target))
        links += rows
        order = (NEEDS_NIC, HELD_BACK, READY)
        status = next((s for s in order if any(r["status"] == s for r in rows)), None)
        best = max((r for r in rows), key=lambda r: r["linked_mbps"] or 0, default=None)
        entries[name] = {
            "name": name, "kind": "host", "status": status or "unknown",
            "speed_mbps": best["linked_mbps"] if best else None,
            "nics": [r["nic"] for r in rows], "switch": best["switch"] if best else None,
            "held_by": next((r["held_by"] for r in rows if r["status"] == HELD_BACK), None),
            "why": "; ".join("%s: %s" % (r["nic"], r["why"]) for r in rows) or "no documented wired NIC",
            "change": ("fit %s" % _nic_advice(hardware)) if status == NEEDS_NIC else None,
            "form_factor": hardware.get("form_factor"), "vms": [],
        }
    for name in sorted(hosts):
        parent = hosts[name].get("hypervisor")
        if not parent:
            continue
        under = entries.get(parent)
        if under is not None:
            under["vms"].append(name)
        entries[name] = {
            "name": name, "kind": "vm", "status": FOLLOWS, "hypervisor": parent,
            "speed_mbps": under["speed_mbps"] if under else None,
            "follows": under["status"] if under else "unknown",
            "why": "virtio reports no speed; it is as fast as %s's link" % parent, "change": None, "vms": [],
        }
    for name in sorted(devices):
        entries[name] = _device_entry(name, devices, hosts, links, target)
    return {"devices": [entries[k] for k in _device_order(entries)], "links": links,
            "disagreements": disagreements}


def _device_entry(name: str, devices: Dict[str, Any], hosts: Dict[str, Any], links: List[Dict[str, Any]],
                  target: int) -> Dict[str, Any]:
    device = devices[name]
    port = _speed(device.get("port_speed_mbps"))
    kind = device.get("kind") or "device"
    uplink = device.get("uplink")
    uplink_port = _speed((devices.get(uplink) or {}).get("port_speed_mbps")) if uplink else None
    base = {"name": name, "kind": kind, "model": device.get("model"), "speed_mbps": port, "uplink": uplink,
            "change": None, "vms": []}
    if kind == "switch":
        in_use = sorted({"%s %s" % (r["host"], r["nic"]) for r in links if r["switch"] == name}
                        | {"%s uplink" % d for d, v in devices.items() if isinstance(v, dict)
                           and v.get("uplink") == name})
        base["ports_in_use"] = in_use
        if port is not None and port >= target:
            return dict(base, status=READY, why="its ports run at %s" % mbps(port))
        return dict(base, status=NEEDS_SWITCH, why="its %s ports are %s" % (device.get("ports") or "", mbps(port)),
                    change="replace it with a switch with at least %d %s ports (%d in use: %s)"
                    % (len(in_use), mbps(target), len(in_use), ", ".join(in_use)))
    if port is not None and port >= target:
        now = min(port, uplink_port) if uplink_port else port
        note = ("its %s port is ready; it links at %s through %s until that is replaced"
                % (mbps(port), mbps(now), uplink)) if now < target else "its %s port is ready" % mbps(port)
        return dict(base, status=READY, why=note, linked_mbps=now)
    return dict(base, status=NEEDS_SWITCH if kind == "switch" else NEEDS_NIC,
                why="its ports are %s" % mbps(port), change="replace it with one that has %s ports" % mbps(target))


def _device_order(entries: Dict[str, Dict[str, Any]]) -> List[str]:
    rank = {"host": 0, "vm": 1, "switch": 2, "router": 3}
    return sorted(entries, key=lambda k: (rank.get(entries[k]["kind"], 4), k))


def summary_sentence(devices: List[Dict[str, Any]], target: int) -> str:
    """The one sentence the report starts with, counting every device."""
    hosts = [d for d in devices if d["kind"] in ("host", "vm")]
    below = [d for d in hosts if (d.get("speed_mbps") or 0) < target]
    fastest_below = max((d.get("speed_mbps") or 0 for d in below), default=0)
    by = {s: [d["name"] for d in devices if d["status"] == s] for s in (READY, HELD_BACK, NEEDS_NIC, NEEDS_SWITCH)}
    held = [d for d in devices if d["status"] == HELD_BACK]
    holders = sorted({d["held_by"] for d in held if d.get("held_by")})
    vms = [d["name"] for d in devices if d["kind"] == "vm"]
    parts = []
    if by[NEEDS_NIC]:
        parts.append("%s need%s a %s NIC" % (" and ".join(by[NEEDS_NIC]) if len(by[NEEDS_NIC]) < 3
                                             else ", ".join(by[NEEDS_NIC]), "s" if len(by[NEEDS_NIC]) == 1 else "",
                                             mbps(target)))
    if held:
        parts.append("%s %s capable but held at %s by %s" % (
            " and ".join(d["name"] for d in held) if len(held) < 3 else ", ".join(d["name"] for d in held),
            "is" if len(held) == 1 else "are", mbps(max(d.get("speed_mbps") or 0 for d in held)),
            " and ".join(holders) or "the link"))
    if vms:
        one = len(vms) == 1
        parts.append("%d VM%s follow%s %s hypervisor" % (len(vms), "" if one else "s", "s" if one else "",
                                                         "its" if one else "their"))
    for name in by[NEEDS_SWITCH]:
        parts.append("%s is the switch to replace" % name)
    for d in devices:
        if d["status"] == READY and d["kind"] not in ("host", "vm"):
            parts.append("the %s's %s port is ready" % (d["name"], mbps(d.get("speed_mbps")))
                         if d["kind"] == "router" else "%s is ready" % d["name"])
        elif d["status"] == READY:
            parts.append("%s is at %s already" % (d["name"], mbps(d.get("speed_mbps"))))
    speed_words = "on %s or slower" % mbps(fastest_below) if fastest_below else "below %s" % mbps(target)
    return "%d devices: %d %s now — %s." % (len(devices), len(below), speed_words, "; ".join(parts))


# --- migration waves ---------------------------------------------------------------------------------------------

def _unit(entry: Dict[str, Any], links: List[Dict[str, Any]], replaced: Set[str], member_of: Dict[str, Set[str]],
          defer: Set[str]) -> Optional[Dict[str, Any]]:
    """What moving one physical host (and the VMs on it) takes, or None when it needs nothing."""
    rows = [r for r in links if r["host"] == entry["name"]]
    if entry["status"] == NEEDS_NIC:
        work = "nic"
    elif any(r["switch"] in replaced for r in rows):
        work = "recable"
    elif entry["status"] == HELD_BACK:
        work = "cable"
    else:
        return None
    everyone = [entry["name"]] + list(entry["vms"])
    k3s = [h for h in everyone if member_of.get(h, set()) & set(K3S_GROUPS)]
    infra = [h for h in everyone if member_of.get(h, set()) & set(INFRA_GROUPS) or h in INFRA_NAMES]
    return {"host": entry["name"], "vms": list(entry["vms"]), "work": work, "k3s": k3s, "infra": infra,
            "deferred": any(h in defer for h in everyone), "rows": rows, "change": entry.get("change")}


def _downtime(unit: Dict[str, Any]) -> str:
    host = unit["host"]
    if unit["work"] == "nic":
        text = ("about %d minutes: %s is powered off while the NIC is fitted, then boots again"
                % (NIC_FIT_MINUTES, host))
        if unit["vms"]:
            text += "; its VMs (%s) are down with it" % ", ".join(unit["vms"])
    else:
        text = "about %d minutes without network while the cable moves; nothing reboots" % RECABLE_MINUTES
        if unit["vms"]:
            text += "; its VMs (%s) lose the network for that time" % ", ".join(unit["vms"])
    if unit["infra"]:
        text += (". DHCP and DNS for the LAN (%s) are down for that time: hosts keep their addresses and "
                 "leases, but new leases and .maas name lookups fail until it is back" % ", ".join(unit["infra"]))
    return text


def _person(text: str) -> Dict[str, Any]:
    return {"who": "person", "text": text}


def _automated(text: str, playbook: str, hosts: List[str]) -> Dict[str, Any]:
    return {"who": "automated", "text": text, "playbook": playbook, "hosts": hosts}


def _precheck(hosts: List[str]) -> Dict[str, Any]:
    return _automated("Pre-checks on %s: `homelab apply` of a prepare_network_upgrade plan (iperf3 installed, each "
                      "NIC's baseline recorded)" % ", ".join(hosts), "prepare_network_upgrade", hosts)


def _verify(hosts: List[str], target: int) -> Dict[str, Any]:
    return _automated("Verify %s: verify_network_upgrade (each link's speed against %s, duplex, errors and drops; "
                      "`homelab plan \"did the %s upgrade work?\"`)" % (", ".join(hosts), mbps(target), mbps(target)),
                      "verify_network_upgrade", hosts)


def _unit_steps(unit: Dict[str, Any], new_switch: str, target: int) -> List[Dict[str, Any]]:
    everyone = [unit["host"]] + unit["vms"]
    steps = [_precheck(everyone)]
    if unit["vms"] and unit["work"] == "nic":
        steps.append(_person("Shut down the VMs on %s cleanly (%s), then %s itself"
                             % (unit["host"], ", ".join(unit["vms"]), unit["host"])))
    elif unit["work"] == "nic":
        steps.append(_person("Shut %s down cleanly" % unit["host"]))
    for row in unit["rows"]:
        where = "the " + new_switch if new_switch else row["switch"]
        if unit["work"] == "nic":
            steps.append(_person("Fit %s in %s (replaces %s %s) and cable it to %s" % (
                unit["change"].replace("fit ", "", 1) if unit["change"] else "a %s NIC" % mbps(target),
                unit["host"], row["nic"], row["model"] or "", where)))
        elif unit["work"] == "recable":
            steps.append(_person("Move %s %s's cable from %s to %s" % (unit["host"], row["nic"], row["switch"],
                                                                       where)))
        else:
            steps.append(_person("Replace the cable of %s %s (Cat 5e or better) and check the port" % (
                unit["host"], row["nic"])))
    if unit["work"] == "nic":
        steps.append(_person("Power %s on; start its VMs if they do not start on their own" % unit["host"]))
    for vm in unit["k3s"]:
        steps.append(_person("Wait until `kubectl get nodes` shows %s Ready and etcd has all its members before "
                             "the next wave (quorum)" % vm))
    steps.append(_verify(everyone, target))
    return steps


def plan_waves(classified: Dict[str, Any], groups: Dict[str, List[str]], target: int, defer: List[str],
               window: str = "", defer_window: str = "") -> List[Dict[str, Any]]:
    """The migration in waves that keep the homelab up.

    The new switch goes in beside the old one first, so moved and unmoved hosts still reach each other;
    then one physical host (with its VMs) per wave, so no wave takes more than one k3s server down (etcd
    keeps quorum with two of three) and the DHCP/DNS host has a wave of its own; deferred hosts, and a
    hypervisor whose VMs are deferred, come later in the deferred window; the old switch is retired last.
    """
    member_of = _host_groups(groups)
    deferred_names = set(defer or [])
    devices = classified["devices"]
    replaced = {d["name"] for d in devices if d["status"] == NEEDS_SWITCH and d["kind"] == "switch"}
    new_switch = NEW_SWITCH if replaced else ""
    units = [u for u in (_unit(d, classified["links"], replaced, member_of, deferred_names)
                         for d in devices if d["kind"] == "host") if u is not None]
    rank = {"recable": 0, "cable": 1, "nic": 2}
    units.sort(key=lambda u: (u["deferred"], bool(u["infra"]), rank[u["work"]], u["host"]))
    waves: List[Dict[str, Any]] = []
    now = window or "when you choose"
    later = defer_window or "later, when the deferred hosts can be worked on"
    if replaced:
        steps = [_precheck([d["name"] for d in devices if d["kind"] in ("host", "vm")])]
        for name in sorted(replaced):
            ports = next(d for d in devices if d["name"] == name)["ports_in_use"]
            steps.append(_person("Install the new %s switch beside %s (at least %d %s ports) and link the two "
                                 "switches, so moved and unmoved hosts reach each other" % (
                                     mbps(target), name, len(ports), mbps(target))))
        for d in devices:
            if d["kind"] != "switch" and d.get("uplink") in replaced:
                steps.append(_person("Move the %s's uplink from %s to the new switch (the LAN loses its gateway "
                                     "for about a minute)" % (d["name"], d["uplink"])))
        waves.append({"name": "the new switch", "hosts": [], "vms_down": [], "k3s_down": [], "deferred": False,
                      "when": now, "downtime": "no host goes down; the gateway is away for about a minute while "
                      "its cable moves", "steps": steps})
    for unit in units:
        waves.append({"name": unit["host"] + (" (DHCP/DNS)" if unit["infra"] else ""), "hosts": [unit["host"]],
                      "vms_down": unit["vms"], "k3s_down": unit["k3s"], "infra": unit["infra"],
                      "deferred": unit["deferred"], "when": later if unit["deferred"] else now,
                      "work": unit["work"], "downtime": _downtime(unit),
                      "steps": _unit_steps(unit, new_switch or (unit["rows"][0]["switch"] if unit["rows"] else ""),
                                           target)})
    if replaced:
        moved = sorted({r["host"] for r in classified["links"]})
        waves.append({"name": "retire %s" % ", ".join(sorted(replaced)), "hosts": [], "vms_down": [],
                      "k3s_down": [], "deferred": any(u["deferred"] for u in units),
                      "when": later if any(u["deferred"] for u in units) else now, "downtime": "none",
                      "steps": [_person("Check nothing is plugged into %s any more, then retire it"
                                        % ", ".join(sorted(replaced))), _verify(moved, target)]})
    for number, wave in enumerate(waves, start=1):
        wave["number"] = number
    return waves


def manual_steps(waves: List[Dict[str, Any]]) -> List[Dict[str, str]]:
    """The person's steps of every wave, in order, as checklist items for the plan."""
    out = []
    for wave in waves:
        for step in wave["steps"]:
            if step["who"] == "person":
                out.append({"title": "Wave %d (%s): %s" % (wave["number"], wave["name"], step["text"]),
                            "reason": "hands-on work for the person (when: %s); the tool only checks before and "
                            "after" % wave["when"]})
    return out


# --- the report --------------------------------------------------------------------------------------------------

_LABEL = {READY: "ready", HELD_BACK: "capable, held back", NEEDS_NIC: "needs a NIC", NEEDS_SWITCH: "replace",
          FOLLOWS: "follows its hypervisor", "unknown": "unknown"}


def _cell(value: Any) -> str:
    text = " ".join(str(value).split()) if value not in (None, "", []) else "—"
    return text.replace("|", "\\|").replace("<", "&lt;")


def mermaid(classified: Dict[str, Any], target: int, after: bool) -> str:
    """A Mermaid diagram of the LAN: now (the links as they are) or after every wave."""
    devices = classified["devices"]
    replaced = {d["name"] for d in devices if d["status"] == NEEDS_SWITCH and d["kind"] == "switch"}
    lines = ["graph LR"]
    shown: Set[str] = set()
    for d in devices:
        if d["kind"] not in ("switch", "router") or (after and d["name"] in replaced):
            continue
        lines.append('  %s["%s (%s)"]' % (_ident(d["name"]), d["name"], mbps(d.get("speed_mbps"))))
        shown.add(d["name"])
    if after and replaced:
        lines.append('  %s["%s (%s)"]' % (_ident(NEW_SWITCH), NEW_SWITCH, mbps(target)))
    for d in devices:
        up = d.get("uplink")
        if d["kind"] in ("switch", "router") and up and d["name"] in shown:
            to = NEW_SWITCH if after and up in replaced else up
            top = min(x for x in (d.get("speed_mbps"), target if to == NEW_SWITCH else
                                  next((e.get("speed_mbps") for e in devices if e["name"] == to), None)) if x)
            lines.append('  %s ---|"%s"| %s' % (_ident(d["name"]), mbps(top), _ident(to)))
    for d in devices:
        if d["kind"] != "host":
            continue
        vms = ", ".join(d["vms"])
        lines.append('  %s["%s%s"]' % (_ident(d["name"]), d["name"], ("<br/>" + vms) if vms else ""))
    for r in classified["links"]:
        speed = r["linked_mbps"]
        switch = r["switch"]
        if after:
            switch = NEW_SWITCH if switch in replaced else switch
            speed = target if r["status"] != READY else speed
        nic = "new NIC" if after and r["status"] == NEEDS_NIC else r["nic"]
        lines.append('  %s ---|"%s %s"| %s' % (_ident(r["host"]), nic, mbps(speed), _ident(switch)))
    return "\n".join(lines)


def markdown(result: Dict[str, Any]) -> str:
    """The assessment as a markdown report (the review shows it; the tool writes it under docs/)."""
    target = result["target_mbps"]
    out = ["# Network upgrade to %s: assessment" % mbps(target), "", result["summary"], ""]
    when = ["When: %s." % result["window"]] if result["window"] else []
    if result["deferred"]:
        when.append("Deferred (%s): %s." % (", ".join(result["deferred"]), result["defer_window"] or "later"))
    out += [" ".join(when), ""] if when else []
    if result["disagreements"]:
        out += ["## Where the documentation and discovery disagree", "",
                "| host | NIC | what | documented | found now | likely cause |", "|---|---|---|---|---|---|"]
        out += ["| %s | %s | %s | %s | %s | %s |" % tuple(_cell(x) for x in (
            d["host"], d["nic"], d["field"], d["documented"], d["found"], d["likely_cause"]))
            for d in result["disagreements"]]
        out.append("")
    out += ["## Devices", "", "| device | kind | now | class | why | change needed |", "|---|---|---|---|---|---|"]
    for d in result["devices"]:
        status = _LABEL.get(d["status"], d["status"])
        if d["status"] == FOLLOWS:
            status += " (%s: %s)" % (d["hypervisor"], _LABEL.get(d.get("follows"), d.get("follows")))
        out.append("| %s | %s | %s | %s | %s | %s |" % tuple(_cell(x) for x in (
            d["name"], d["kind"], mbps(d.get("speed_mbps")), status, d["why"], d.get("change"))))
    out += ["", "## Links", "", "| host | NIC | model | switch | linked | NIC max | port | class |",
            "|---|---|---|---|---|---|---|---|"]
    out += ["| %s | %s | %s | %s | %s | %s | %s | %s |" % tuple(_cell(x) for x in (
        r["host"], r["nic"], r["model"], r["switch"], mbps(r["linked_mbps"]), mbps(r["nic_max_mbps"]),
        mbps(r["port_mbps"]), _LABEL[r["status"]] + (" by %s" % r["held_by"] if r["held_by"] else "")))
        for r in result["links"]]
    out += ["", "## Migration waves", "",
            "Each wave keeps the homelab up: at most one k3s server down at a time (etcd keeps quorum with two "
            "of three), the DHCP/DNS host on its own. Steps marked **you** are yours; the tool runs only the "
            "automated ones, and only through a plan you approve.", ""]
    for wave in result["waves"]:
        out.append("### Wave %d: %s%s" % (wave["number"], wave["name"], " (deferred)" if wave["deferred"] else ""))
        out += ["", "- When: %s" % wave["when"], "- Downtime: %s" % wave["downtime"]]
        if wave["vms_down"]:
            out.append("- VMs affected: %s" % ", ".join(wave["vms_down"]))
        out.append("")
        for number, step in enumerate(wave["steps"], start=1):
            who = "**you**" if step["who"] == "person" else "automated"
            out.append("%d. [%s] %s" % (number, who, step["text"]))
        out.append("")
    out += ["## The network now", "", "```mermaid", mermaid(result, target, after=False), "```", "",
            "## After the upgrade", "", "```mermaid", mermaid(result, target, after=True), "```", ""]
    return "\n".join(out)


def assess(hosts: Dict[str, Dict[str, Any]], groups: Dict[str, List[str]], network_devices: Dict[str, Any],
           target: int = 2500, defer: Optional[List[str]] = None, window: str = "",
           defer_window: str = "") -> Dict[str, Any]:
    """The whole assessment: classes, disagreements, waves, the person's steps and the markdown report."""
    classified = classify(hosts, network_devices, target)
    waves = plan_waves(classified, groups, target, list(defer or []), window, defer_window)
    result = dict(classified, target_mbps=target, window=window, defer_window=defer_window,
                  deferred=sorted(set(defer or []) & set(hosts)),
                  summary=summary_sentence(classified["devices"], target), waves=waves,
                  manual=manual_steps(waves))
    result["markdown"] = markdown(result)
    return result
