"""assess_network_upgrade on the lab, from plain words: "I want to upgrade to 2.5GbE network" becomes the
assessment on every host; its review says what the reference homelab needs (the issue's done-when), files the
markdown report under docs/reports/ and puts the person's steps on the plan's checklist."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import Lab, homelab_in, plan_json

HOSTS = {"still-fawn", "pumped-piglet", "chief-horse", "fun-bedbug", "k3s-vm-still-fawn", "k3s-vm-pumped-piglet",
         "k3s-vm-chief-horse", "maas", "uptime-kuma"}
K3S = {"k3s-vm-still-fawn", "k3s-vm-pumped-piglet", "k3s-vm-chief-horse"}


def test_the_upgrade_request_is_assessed_and_its_report_filed(lab: Lab, project: Path) -> None:
    made = homelab_in(project, "plan", "I want to upgrade to 2.5GbE network", "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    step, companion = plan["steps"]
    assert (step["playbook"], step["limit"], set(step["hosts"])) == ("assess_network_upgrade", "all", HOSTS)
    assert step["vars"]["network_assessment_target_speed_mbps"] == 2500
    # The window's automated start comes with it, for `apply --at`; as a change it waits for approval.
    assert (companion["playbook"], companion["risk"], set(companion["hosts"])) == (
        "prepare_network_upgrade", "change", HOSTS)
    review = plan["review"]["steps"][0]
    assert review["status"] == "successful" and not review["check"]  # a read step: its check run is its real run
    [report] = [t["report"] for t in review["tasks"] if t["report"] is not None]
    found = report["assessment"]
    devices = {d["name"]: d for d in found["devices"]}

    # The done-when, as the lab's hosts report their NICs (ethtool and sysfs, replayed from their profiles).
    assert devices["still-fawn"]["status"] == "needs_nic" and "RTL8111" in devices["still-fawn"]["why"]
    assert devices["chief-horse"]["status"] == "needs_nic" and "I219-LM" in devices["chief-horse"]["why"]
    for host in ("pumped-piglet", "fun-bedbug"):
        assert (devices[host]["status"], devices[host]["held_by"], devices[host]["speed_mbps"]) == (
            "held_back", "sw-core", 1000)
    assert devices["sw-core"]["status"] == "needs_switch"
    assert devices["router"]["status"] == "ready"
    assert found["summary"].startswith("11 devices: 9 on 1GbE or slower now")
    # The lab plants a damaged cable on still-fawn: discovery finds 100 Mbps where 1000 is documented.
    [odd] = found["disagreements"]
    assert (odd["host"], odd["nic"], odd["documented"], odd["found"]) == ("still-fawn", "enp5s0", 1000, 100)

    for wave in found["waves"]:
        assert len((set(wave["hosts"]) | set(wave["vms_down"])) & K3S) <= 1, wave["name"]
    [maas] = [w for w in found["waves"] if "maas" in w["vms_down"]]
    assert (maas["hosts"], maas["vms_down"]) == (["fun-bedbug"], ["maas"])
    assert "DHCP and DNS" in maas["downtime"]

    # The report is filed under docs/ and its steps for the person are the plan's checklist.
    [path] = plan["review"]["documents"]
    assert path.startswith("docs/reports/network-upgrade-") and path.endswith(".md")
    text = (project / path).read_text()
    assert found["summary"] in text and text.count("```mermaid") == 2
    manual = plan["manual"]
    assert manual and all(m["rule"] == "report of assess_network_upgrade" for m in manual)
    assert any("Fit a PCIe x1" in m["title"] and "still-fawn" in m["title"] for m in manual)
    assert manual[-1]["title"].startswith("Wave ") and "retire" in manual[-1]["title"]

    # The terminal review shows the report as the finding, where it was filed, and the checklist.
    shown = homelab_in(project, "show", plan["id"])
    assert shown.rc == 0, shown.stderr
    words = " ".join(shown.stdout.split())  # the terminal wraps long lines
    assert found["summary"] in words and f"Report filed: {path}" in words
    assert "Manual checklist" in words and "## Migration waves" in words


def test_deferring_the_k3s_nodes_moves_only_their_waves(lab: Lab, project: Path) -> None:
    made = homelab_in(project, "plan", "upgrade the network to 2.5GbE on friday at 10pm, but delay the k3s nodes "
                      "until next weekend", "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    step = plan["steps"][0]
    assert step["limit"] == "all" and step["vars"]["network_assessment_defer"] == "k3s"
    [report] = [t["report"] for t in plan["review"]["steps"][0]["tasks"] if t["report"] is not None]
    waves = report["assessment"]["waves"]
    later = [w for w in waves if w["deferred"]]
    assert {h for w in later for h in w["hosts"]} == {"still-fawn", "pumped-piglet", "chief-horse"}
    assert all(w["when"].startswith("next weekend (Sat ") for w in later)
    assert all(w["when"] == "fri 22:00" for w in waves if not w["deferred"])
