"""homelab.ops.network_assessment's logic (module_utils, pure Python): classes, disagreements and waves on the
reference inventory, with the k3s servers deferred, and on a bigger made-up topology."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

from planner.inventory.documented import FORM_FACTORS
from planner.inventory.hosts import load_inventory

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import network_assessment as na  # noqa: E402

K3S_SERVERS = {"k3s-vm-still-fawn", "k3s-vm-pumped-piglet", "k3s-vm-chief-horse"}


def reference(found_nics: dict[str, list[dict[str, Any]]] | None = None) -> tuple[dict, dict, dict]:
    """The reference inventory as the action plugin hands it over: hosts, groups, network devices."""
    inv = load_inventory(ROOT / "inventory")
    hosts = {}
    for name in inv.hosts:
        hv = inv.hostvars(name)
        hosts[name] = {"hardware": hv.get("hardware") or {}, "hypervisor": hv.get("hypervisor"),
                       "discovered_nics": (found_nics or {}).get(name)}
    return hosts, inv.group_hosts(), inv.groupvars("all")["network_devices"]


def lab_discovery() -> dict[str, list[dict[str, Any]]]:
    """What host_facts finds on the lab: as documented, but still-fawn's enp5s0 at 100 Mbps (planted)."""
    found = {}
    hosts, _, _ = reference()
    for name, info in hosts.items():
        nics = []
        for nic in info["hardware"].get("nics") or []:
            nics.append({"name": nic["name"], "driver": nic.get("driver"), "speed_mbps": nic.get("speed_mbps"),
                         "max_speed_mbps": nic["supported_mbps"], "duplex": "full"})
        found[name] = nics
    found["still-fawn"][0]["speed_mbps"] = 100
    return found


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in result["devices"]}


def k3s_down(wave: dict[str, Any], groups: dict[str, list[str]]) -> set[str]:
    """The k3s servers a wave takes down: its hosts and the VMs on them that are k3s members."""
    members = set(groups.get("k3s", []))
    return (set(wave["hosts"]) | set(wave["vms_down"])) & members


@pytest.fixture(scope="module")
def assessed() -> dict[str, Any]:
    hosts, groups, devices = reference(lab_discovery())
    return na.assess(hosts, groups, devices, 2500, [], "fri 22:00", "")


def test_reference_inventory_meets_the_done_when(assessed: dict[str, Any]) -> None:
    devices = by_name(assessed)
    assert devices["still-fawn"]["status"] == na.NEEDS_NIC and "RTL8111" in devices["still-fawn"]["why"]
    assert devices["chief-horse"]["status"] == na.NEEDS_NIC and "I219-LM" in devices["chief-horse"]["why"]
    for host in ("pumped-piglet", "fun-bedbug"):
        assert devices[host]["status"] == na.HELD_BACK and devices[host]["held_by"] == "sw-core"
        assert devices[host]["speed_mbps"] == 1000
    assert devices["sw-core"]["status"] == na.NEEDS_SWITCH
    # Every port in use is counted and named: four hosts and the router's uplink.
    assert devices["sw-core"]["ports_in_use"] == ["chief-horse eno1", "fun-bedbug enp1s0", "pumped-piglet enp4s0",
                                                  "router uplink", "still-fawn enp5s0"]
    assert "at least 5 2.5GbE ports" in devices["sw-core"]["change"]
    assert devices["router"]["status"] == na.READY
    # VMs follow their hypervisor: virtio has no speed of its own.
    assert devices["maas"]["status"] == na.FOLLOWS and devices["maas"]["follows"] == na.HELD_BACK
    assert devices["k3s-vm-still-fawn"]["speed_mbps"] == 100


def test_the_report_counts_devices_in_its_first_sentence(assessed: dict[str, Any]) -> None:
    summary = assessed["summary"]
    assert summary.startswith("11 devices: 9 on 1GbE or slower now — ")
    assert "chief-horse and still-fawn need a 2.5GbE NIC" in summary
    assert "fun-bedbug and pumped-piglet are capable but held at 1GbE by sw-core" in summary
    assert "sw-core is the switch to replace" in summary and "the router's 2.5GbE port is ready" in summary
    assert assessed["markdown"].splitlines()[2] == summary


def test_a_nic_is_suggested_by_form_factor(assessed: dict[str, Any]) -> None:
    devices = by_name(assessed)
    assert "PCIe x1" in devices["still-fawn"]["change"]  # desktop
    assert "USB 3" in devices["chief-horse"]["change"]  # mini PC
    assert set(FORM_FACTORS) == set(na.FORM_FACTORS)


def test_a_planted_slow_link_is_a_disagreement_with_its_likely_cause(assessed: dict[str, Any]) -> None:
    [found] = assessed["disagreements"]
    assert (found["host"], found["nic"], found["documented"], found["found"]) == ("still-fawn", "enp5s0",
                                                                                        1000, 100)
    assert "cable" in found["likely_cause"]
    assert "| still-fawn | enp5s0 | speed_mbps | 1000 | 100 |" in assessed["markdown"]


def test_documented_values_are_used_for_hosts_not_reached() -> None:
    hosts, groups, devices = reference()
    result = na.assess(hosts, groups, devices)
    assert result["disagreements"] == []
    assert by_name(result)["still-fawn"]["speed_mbps"] == 1000


def test_waves_keep_quorum_and_maas_alone(assessed: dict[str, Any]) -> None:
    _, groups, _ = reference()
    waves = assessed["waves"]
    assert waves[0]["name"] == "the new switch" and waves[0]["hosts"] == []
    assert waves[-1]["name"] == "retire sw-core"
    for wave in waves:
        assert len(k3s_down(wave, groups)) <= 1, wave["name"]
    [maas] = [w for w in waves if "maas" in w["vms_down"]]
    assert maas["hosts"] == ["fun-bedbug"] and maas["vms_down"] == ["maas"] and maas["k3s_down"] == []
    assert "DHCP and DNS" in maas["downtime"] and "minutes" in maas["downtime"]
    chief = next(w for w in waves if w["hosts"] == ["chief-horse"])
    assert chief["vms_down"] == ["k3s-vm-chief-horse", "uptime-kuma"]
    assert all(w["when"] == "fri 22:00" for w in waves)


def test_steps_come_in_order_and_the_persons_are_marked(assessed: dict[str, Any]) -> None:
    still = next(w for w in assessed["waves"] if w["hosts"] == ["still-fawn"])
    kinds = [(s["who"], s.get("playbook")) for s in still["steps"]]
    assert kinds[0] == ("automated", "prepare_network_upgrade") and kinds[-1] == ("automated",
                                                                                  "verify_network_upgrade")
    texts = [s["text"] for s in still["steps"] if s["who"] == "person"]
    assert texts[0].startswith("Shut down the VMs on still-fawn") and texts[1].startswith("Fit a PCIe x1")
    titles = [m["title"] for m in assessed["manual"]]
    assert titles[0].startswith("Wave 1 (the new switch): Install the new 2.5GbE switch beside sw-core")
    assert titles[-1].startswith("Wave 6 (retire sw-core): Check nothing is plugged into sw-core")
    assert "[**you**] Move pumped-piglet enp4s0's cable from sw-core to the new switch" in assessed["markdown"]


def test_the_report_draws_the_network_now_and_after(assessed: dict[str, Any]) -> None:
    text = assessed["markdown"]
    now, after = text.split("## The network now")[1].split("## After the upgrade")
    assert 'n_still_fawn ---|"enp5s0 100 Mbps"| n_sw_core' in now
    assert "n_sw_core" not in after and 'n_pumped_piglet ---|"enp4s0 2.5GbE"| n_new_switch' in after
    assert text.count("```mermaid") == 2


def test_deferring_the_k3s_servers_moves_their_waves_and_nothing_else(assessed: dict[str, Any]) -> None:
    hosts, groups, devices = reference(lab_discovery())
    deferred = na.assess(hosts, groups, devices, 2500, sorted(K3S_SERVERS), "fri 22:00", "next weekend")
    assert deferred["devices"] == assessed["devices"] and deferred["links"] == assessed["links"]
    now = [w for w in deferred["waves"] if not w["deferred"]]
    later = [w for w in deferred["waves"] if w["deferred"]]
    assert [w["name"] for w in now] == ["the new switch", "fun-bedbug (DHCP/DNS)"]
    assert {h for w in later for h in w["hosts"]} == {"still-fawn", "pumped-piglet", "chief-horse"}
    assert all(w["when"] == "next weekend" for w in later) and all(w["when"] == "fri 22:00" for w in now)
    # The same waves, only moved: each one's steps are what they were.
    def steps(waves: list[dict[str, Any]]) -> dict[str, Any]:
        return {w["name"]: w["steps"] for w in waves}
    assert steps(deferred["waves"]) == steps(assessed["waves"])
    assert ("When: fri 22:00. Deferred (k3s-vm-chief-horse, k3s-vm-pumped-piglet, k3s-vm-still-fawn): next weekend."
            in deferred["markdown"])


def bigger_topology() -> tuple[dict, dict, dict]:
    """Two switches, eight hypervisors, a 5-member k3s cluster on bare metal and VMs, maas and ready hosts."""
    hosts: dict[str, dict[str, Any]] = {}
    def physical(name: str, model: str, top: int, speed: int, switch: str, form: str = "desktop") -> None:
        hosts[name] = {"hypervisor": None, "discovered_nics": None, "hardware": {
            "form_factor": form, "nics": [{"name": "eth0", "model": model, "driver": "x", "supported_mbps": top,
                                           "speed_mbps": speed, "switch": switch}]}}
    for i in range(8):
        physical(f"pve{i}", "Intel I226-V" if i % 2 else "Realtek RTL8111", 2500 if i % 2 else 1000, 1000,
                 "sw-a" if i < 5 else "sw-b", "mini-pc" if i % 3 == 0 else "desktop")
    physical("nas", "Aquantia AQC107", 10000, 2500, "sw-fast")
    physical("bare-k3s", "Intel X550", 10000, 1000, "sw-b")
    for i in range(8):
        hosts[f"vm{i}"] = {"hypervisor": f"pve{i}", "discovered_nics": None, "hardware": {"nics": []}}
    groups = {"k3s": ["vm0", "vm2", "vm4", "vm6", "bare-k3s"], "infra": ["vm3"]}
    devices = {"sw-a": {"kind": "switch", "ports": 16, "port_speed_mbps": 1000},
               "sw-b": {"kind": "switch", "ports": 8, "port_speed_mbps": 1000, "uplink": "sw-a"},
               "sw-fast": {"kind": "switch", "ports": 8, "port_speed_mbps": 2500, "uplink": "sw-a"},
               "router": {"kind": "router", "ports": 2, "port_speed_mbps": 1000, "uplink": "sw-a"}}
    return hosts, groups, devices


def test_a_bigger_topology_keeps_one_k3s_server_per_wave() -> None:
    hosts, groups, devices = bigger_topology()
    result = na.assess(hosts, groups, devices, 2500, ["vm6"], "saturday", "sunday")
    found = by_name(result)
    assert found["nas"]["status"] == na.READY and found["sw-fast"]["status"] == na.READY
    assert found["router"]["status"] == na.NEEDS_NIC and "2.5GbE ports" in found["router"]["change"]
    assert {found[f"pve{i}"]["status"] for i in (0, 2, 4, 6)} == {na.NEEDS_NIC}
    assert found["bare-k3s"]["status"] == na.HELD_BACK and found["bare-k3s"]["held_by"] == "sw-b"
    assert "sw-b uplink" in found["sw-a"]["ports_in_use"] and len(found["sw-b"]["ports_in_use"]) == 4
    host_waves = [w for w in result["waves"] if w["hosts"]]
    assert sorted(h for w in host_waves for h in w["hosts"]) == sorted([f"pve{i}" for i in range(8)] + ["bare-k3s"])
    for wave in result["waves"]:
        assert len(k3s_down(wave, groups)) <= 1, wave["name"]
    [infra] = [w for w in host_waves if w.get("infra")]
    assert infra["hosts"] == ["pve3"] and infra["vms_down"] == ["vm3"]
    # The hypervisor of a deferred VM waits with it, and only it.
    assert [w["hosts"] for w in host_waves if w["deferred"]] == [["pve6"]]
    assert result["waves"][-1]["name"] == "retire sw-a, sw-b" and result["waves"][-1]["when"] == "sunday"
    assert "(deferred)" in result["markdown"]


def test_a_nic_without_form_factor_asks_for_it() -> None:
    hosts, groups, devices = reference()
    hosts = copy.deepcopy(hosts)
    del hosts["still-fawn"]["hardware"]["form_factor"]
    result = na.assess(hosts, groups, devices)
    assert "document hardware.form_factor" in by_name(result)["still-fawn"]["change"]


def test_a_link_below_both_ends_is_held_back_by_the_cable() -> None:
    hosts, groups, devices = reference({"pumped-piglet": [{"name": "enp4s0", "speed_mbps": 1000,
                                                           "max_speed_mbps": 2500}]})
    devices = copy.deepcopy(devices)
    devices["sw-core"]["port_speed_mbps"] = 2500
    result = na.assess(hosts, groups, devices)
    piglet = by_name(result)["pumped-piglet"]
    assert piglet["status"] == na.HELD_BACK and piglet["held_by"] == "cable"
    wave = next(w for w in result["waves"] if w["hosts"] == ["pumped-piglet"])
    assert any("Replace the cable" in s["text"] for s in wave["steps"])
