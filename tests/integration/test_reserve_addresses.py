"""reserve_addresses against a sandbox lab: k3s-vm-chief-horse's documented address reserved in the lab's dnsmasq.

The lab's maas host runs Debian's dnsmasq as two instances that read /etc/dnsmasq.d/ (DNS, and DHCP for
the lab hosts' real DHCP clients); the role writes the host's reservation file there, validated with
dnsmasq --test, and restarts both units. The test reads the file's exact text, runs dnsmasq's own
whole-configuration check, asks the lab's DNS for the name with a real query, plans again to see that
nothing is left to change, and restarts the host: its DHCP client comes back on the documented address.
Then the cases a person can meet: MAAS with no API (a checklist item), a host documented as static
(skipped), an address another host's reservation holds (refused, nothing changed), and the static
configuration asked for (a check-mode diff only).

It moves k3s-vm-chief-horse, so it runs its own lab (on ``$HOMELAB_TEST_RESERVE_LAB_NET``, by default the
session lab's /24 plus 110 in its third octet) and leaves the session's lab as the other tests expect it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_homelab
from tests.integration.conftest import LAB_NET, Lab, homelab_in, plan_json, project_on, running_lab
from tests.integration.test_lab import lab_ssh
from tests.integration.test_trial_service import apply, dns_query, lab_address

ROOT = Path(__file__).resolve().parents[2]
HOST = "k3s-vm-chief-horse"
FILE = f"/etc/dnsmasq.d/60-homelab-address-{HOST}.conf"
# The units that read /etc/dnsmasq.d/ in the lab (its DNS and its DHCP instance), where the lab's inventory
# names none: the role's default is dnsmasq alone.
DHCP_UNITS = ["dnsmasq", "dnsmasq-dhcp"]
_a, _b, _c = LAB_NET.split(".")
NET = os.environ.get("HOMELAB_TEST_RESERVE_LAB_NET") or f"{_a}.{_b}.{(int(_c) + 110) % 256}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("reserve-lab"), NET) as lab:
        yield lab


@pytest.fixture
def project(lab: Lab, tmp_path: Path) -> Path:
    return project_on(lab, tmp_path)


def lab_inventory(project: Path) -> Path:
    """The project's lab inventory, each host's DHCP server (the lab's dnsmasq) with the units that read it."""
    inv = project / ".homelab" / "lab-inventory"
    lab = yaml.safe_load((inv / "zz-lab.yml").read_text())
    for hostvars in lab["all"]["hosts"].values():
        dhcp = hostvars.setdefault("homelab_dhcp", {"kind": "dnsmasq", "host": "maas"})
        dhcp.setdefault("units", DHCP_UNITS)
    (inv / "zz-lab.yml").write_text(yaml.safe_dump(lab))
    return inv


def mac_of(lab: Lab, host: str) -> str:
    links = json.loads(lab_ssh(lab, host, "ip -j addr").stdout)
    return next(link["address"] for link in links if link["ifname"] == "ens18")


def playbook(inv: Path, limit: str, *extra: str) -> subprocess.CompletedProcess:
    """The catalog playbook run directly, as CI would run it."""
    return subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inv),
                           str(ROOT / "playbooks" / "reserve_addresses.yml"), "-l", limit, *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def changed_tasks(review_or_apply: dict) -> list[str]:
    return [t["task"] for step in review_or_apply["steps"] for t in step["tasks"] if t["status"] == "changed"]


def test_the_documented_address_is_reserved_once_and_resolves(lab: Lab, project: Path) -> None:
    inv = lab_inventory(project)
    mac = mac_of(lab, HOST)
    expected = (f"# Managed by homelab-planner (reserve_addresses): {HOST}'s documented address.\n"
                f"dhcp-host={mac},192.168.4.23,{HOST}\n"
                f"host-record={HOST}.maas,{HOST},192.168.4.23\n")
    assert lab_ssh(lab, "maas", f"test -e {FILE}").returncode == 1, "the lab already holds the reservation"

    made = homelab_in(project, "plan", "-p", "reserve_addresses", "-l", HOST, "--format", "json",
                      env={"HOMELAB_INVENTORY": str(inv)})
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    review = plan["review"]
    diff = json.dumps([t["diffs"] for s in review["steps"] for t in s["tasks"] if t["status"] == "changed"])
    assert f"dhcp-host={mac},192.168.4.23,{{host}}" in diff or f"dhcp-host={mac},192.168.4.23,{HOST}" in diff, diff
    assert lab_ssh(lab, "maas", f"test -e {FILE}").returncode == 1, "the check run wrote the file"

    applied = apply(project, plan)
    assert applied["status"] == "succeeded" and applied["surprise_count"] == 0, applied["surprises"]
    assert lab_ssh(lab, "maas", f"sudo cat {FILE}").stdout == expected
    check = lab_ssh(lab, "maas", "sudo /usr/share/dnsmasq/systemd-helper checkconfig")
    assert check.returncode == 0, check.stdout + check.stderr
    assert lab_ssh(lab, "maas", "systemctl is-active dnsmasq.service").stdout.strip() == "active"
    assert "192.168.4.23" in dns_query(lab_address(lab, "maas"), f"{HOST}.maas")
    reports = [json.dumps(t.get("report")) for t in applied["steps"][0]["tasks"] if t.get("report")]
    assert any("reserved on maas" in r for r in reports), reports

    again = homelab_in(project, "plan", "-p", "reserve_addresses", "-l", HOST, "--format", "json",
                       env={"HOMELAB_INVENTORY": str(inv)})
    assert again.rc == 0, again.stderr
    second = plan_json(again)
    assert changed_tasks(second["review"]) == [], "a second run would change something"
    reapplied = apply(project, second)
    assert reapplied["status"] == "succeeded" and changed_tasks(reapplied) == []
    assert any("already present on maas" in json.dumps(t.get("report")) for t in reapplied["steps"][0]["tasks"])

    # The host's own DHCP client asks the server again at boot, and the reservation decides the address.
    restarted = run_homelab("lab", "restart", HOST, "--format", "json", env=lab.env, timeout=180)
    assert restarted.rc == 0, restarted.stderr
    assert json.loads(restarted.stdout)["after"] == "192.168.4.23", restarted.stdout
    shown = json.loads(lab_ssh(lab, HOST, "ip -j -4 addr show dev ens18").stdout)
    assert [a["local"] for a in shown[0]["addr_info"]] == ["192.168.4.23"]


def test_what_the_tool_cannot_or_must_not_change_is_left_for_the_person(lab: Lab, project: Path) -> None:
    inv = lab_inventory(project)
    piglet = "k3s-vm-pumped-piglet"
    maas = json.dumps({"homelab_dhcp": {"kind": "maas", "host": "maas", "api_url": "", "api_key_env": "MAAS_API_KEY"}})
    run = playbook(inv, piglet, "-e", maas)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Reserve {mac_of(lab, piglet)} → 192.168.4.22 ({piglet}) in MAAS by hand" in run.stdout, run.stdout
    assert "Check router (OPNsense" in run.stdout and "changed=0" in run.stdout

    static = playbook(inv, "still-fawn")
    assert static.returncode == 0 and "skipped: documented as addressing: static" in static.stdout, static.stdout
    assert "changed=0" in static.stdout


def test_an_address_another_host_holds_is_refused_before_anything_changes(lab: Lab, project: Path) -> None:
    inv = lab_inventory(project)
    piglet, other = "k3s-vm-pumped-piglet", "/etc/dnsmasq.d/60-homelab-address-guest-laptop.conf"
    planted = lab_ssh(lab, "maas", f"echo 'dhcp-host=5e:11:22:33:44:55,192.168.4.22,guest-laptop' | sudo tee {other}")
    assert planted.returncode == 0, planted.stderr
    try:
        run = playbook(inv, piglet)
        assert run.returncode != 0
        assert f"192.168.4.22 cannot be reserved for {piglet}" in run.stdout, run.stdout
        assert "reserves 192.168.4.22 for guest-laptop (5e:11:22:33:44:55)" in run.stdout
        piglet_file = f"/etc/dnsmasq.d/60-homelab-address-{piglet}.conf"
        assert lab_ssh(lab, "maas", f"test -e {piglet_file}").returncode == 1, "a refused run wrote the file"
    finally:
        lab_ssh(lab, "maas", f"sudo rm -f {other}")


def test_a_static_configuration_is_shown_in_check_mode_and_written_only_when_asked(lab: Lab, project: Path) -> None:
    inv = lab_inventory(project)
    before = lab_ssh(lab, HOST, "cat /etc/network/interfaces").stdout
    run = playbook(inv, HOST, "--check", "--diff", "-e", '{"reserve_addresses_static": true}')
    assert run.returncode == 0, run.stdout + run.stderr
    assert "+iface ens18 inet static" in run.stdout and "+    address 192.168.4.23/24" in run.stdout, run.stdout
    assert "-iface ens18 inet dhcp" in run.stdout
    assert lab_ssh(lab, HOST, "cat /etc/network/interfaces").stdout == before, "check mode changed the host"
