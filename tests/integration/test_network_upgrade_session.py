"""The 2.5GbE upgrade as the person lives it, five commands on the lab, each through plan → review → apply:

    homelab plan "I want to upgrade to 2.5GbE network"
    homelab revise ID "delay the k3s nodes until next weekend"
    homelab apply ID --at "now + 1 minute"          (the test's stand-in for "fri 22:00")
    (the person swaps NICs, cables and the switch: here `homelab lab link`)
    homelab plan "did the 2.5GbE upgrade work?"

Each part has its own closer tests (test_network_assessment, test_network_prepare, test_schedule,
test_network_verify); this one checks that they hold together: the revision keeps everything but the deferred
waves, the scheduled run applies exactly the revised plan's automated steps, and the check afterwards sees the
planted hardware change.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import run_homelab
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_lab import lab_ssh

HOSTS = ("still-fawn", "pumped-piglet", "chief-horse", "fun-bedbug", "k3s-vm-still-fawn", "k3s-vm-pumped-piglet",
         "k3s-vm-chief-horse", "maas", "uptime-kuma")
K3S = {"k3s-vm-still-fawn", "k3s-vm-pumped-piglet", "k3s-vm-chief-horse"}
BASELINE = "/var/lib/homelab/network-upgrade/baseline.json"
#: "now + 1 minute" fires within two minutes; the recheck and the apply on nine hosts take about one more.
FIRE_WAIT_S = 300


def assessment(plan: dict) -> dict:
    [report] = [t["report"] for t in plan["review"]["steps"][0]["tasks"] if t["report"] is not None]
    return report["assessment"]


def wait_until_ran(project: Path, plan_id: str) -> dict:
    deadline, record = time.monotonic() + FIRE_WAIT_S, {}
    while time.monotonic() < deadline:
        listed = homelab_in(project, "schedule", "--format", "json")
        assert listed.rc == 0, listed.stderr
        record = {s["plan"]: s for s in json.loads(listed.stdout)}[plan_id]
        if record["state"] == "ran":
            return record
        time.sleep(3)
    log = project / record.get("log", "missing")
    raise AssertionError(f"the scheduled run did not finish in {FIRE_WAIT_S} s: {record}\n"
                         f"{log.read_text() if log.is_file() else '(no log)'}")


def test_the_five_command_upgrade_session(lab: Lab, project: Path, atd: None) -> None:
    # 1. What is there, what blocks, the waves, the person's steps.
    made = homelab_in(project, "plan", "I want to upgrade to 2.5GbE network", "--format", "json")
    assert made.rc == 0, made.stderr
    first = plan_json(made)
    assert [s["playbook"] for s in first["steps"]] == ["assess_network_upgrade", "prepare_network_upgrade"]
    found = assessment(first)
    assert found["summary"].startswith("11 devices: ")
    assert first["manual"] and first["review"]["documents"]

    # 2. The k3s waves move to next weekend; nothing else does.
    revised = homelab_in(project, "revise", first["id"], "delay the k3s nodes until next weekend", "--format", "json")
    assert revised.rc == 0, revised.stderr
    second = plan_json(revised)
    assert second["parent"] == first["id"]
    assert [(s["playbook"], s["limit"], s["hosts"]) for s in second["steps"]] == [
        (s["playbook"], s["limit"], s["hosts"]) for s in first["steps"]]
    before, after = first["steps"][0]["vars"], second["steps"][0]["vars"]
    assert {k for k in {*before, *after} if before.get(k) != after.get(k)} == {
        "network_assessment_defer", "network_assessment_defer_window"}
    assert after["network_assessment_defer"] == "k3s"
    assert after["network_assessment_defer_window"].startswith("next weekend (Sat ")
    assert second["steps"][1]["vars"] == first["steps"][1]["vars"]
    moved = assessment(second)
    later = [w for w in moved["waves"] if w["deferred"]]
    assert later and all(w["when"] == after["network_assessment_defer_window"] for w in later)
    assert {h for w in later for h in [*w["hosts"], *w["vms_down"]]} & K3S == K3S
    # The same waves with the same steps; only when the deferred ones happen moved.
    assert {w["name"]: w["steps"] for w in moved["waves"]} == {w["name"]: w["steps"] for w in found["waves"]}
    now = [w for w in moved["waves"] if not w["deferred"]]
    assert now and not {h for w in now for h in [*w["hosts"], *w["vms_down"]]} & K3S
    assert {w["name"]: w["when"] for w in now} == {w["name"]: w["when"] for w in found["waves"]
                                                   if w["name"] in {n["name"] for n in now}}
    for wave in moved["waves"]:
        assert len({*wave["hosts"], *wave["vms_down"]} & K3S) <= 1, wave

    # 3. The automated steps run when the window opens, not now.
    nobody = lab_ssh(lab, "fun-bedbug", f"test -e {BASELINE}")
    assert nobody.returncode == 1, "the baseline exists before the scheduled run"
    scheduled = homelab_in(project, "apply", second["id"], "--at", "now + 1 minute", "--scheduler", "at", "--yes",
                           "--format", "json")
    assert scheduled.rc == 0, scheduled.stderr
    assert json.loads(scheduled.stdout)["state"] == "waiting"
    assert plan_json(homelab_in(project, "show", second["id"], "--format", "json"))["status"] == "planned"
    ran = wait_until_ran(project, second["id"])
    assert ran["outcome"] == "succeeded", (project / ran["log"]).read_text()
    shown = plan_json(homelab_in(project, "show", second["id"], "--format", "json"))
    assert shown["status"] == "applied" and shown["applies"][-1]["surprise_count"] == 0
    for host in ("fun-bedbug", "k3s-vm-still-fawn"):
        assert lab_ssh(lab, host, f"test -s {BASELINE}").returncode == 0, host
    history = homelab_in(project, "history")
    assert f"Plan {second['id']} scheduled apply succeeded." in history.stdout
    sessions = "".join(p.read_text() for p in (project / "docs" / "sessions").glob("*.md"))
    assert f"Plan {second['id']} scheduled apply succeeded." in sessions

    # 4. The person's work; the lab stands in with a faster link on pumped-piglet.
    swapped = run_homelab("lab", "link", "pumped-piglet", "enp4s0", "--speed", "2500", env=lab.env)
    assert swapped.rc == 0, swapped.stderr
    try:
        # 5. Which links reached the target, which did not, and why.
        checked = homelab_in(project, "plan", "did the 2.5GbE upgrade work?", "--format", "json")
        assert checked.rc == 0, checked.stderr
        verify = plan_json(checked)
        assert [s["playbook"] for s in verify["steps"]] == ["verify_network_upgrade"]
        lines = {t["host"]: t["report"] for t in verify["review"]["steps"][0]["tasks"]
                 if t["task"] == "Show each link against the target"}
        assert "reached 2500 target" in lines["pumped-piglet"]
        for host in ("still-fawn", "chief-horse", "fun-bedbug"):
            assert "below target" in lines[host], lines[host]
    finally:
        back = run_homelab("lab", "link", "pumped-piglet", "enp4s0", "--speed", "1000", env=lab.env)
        # The session's lab is shared: later tests start from hosts without the window's baseline.
        for host in HOSTS:
            lab_ssh(lab, host, f"sudo rm -f {BASELINE}")
        assert back.rc == 0, back.stderr
