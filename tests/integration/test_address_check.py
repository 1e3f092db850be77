"""check_address_persistence on the sandbox lab: "services keep losing their IP addresses after reboots" after
k3s-vm-chief-horse's lease expired and it rebooted onto another address.

Real ansible-core through ansible-runner over SSH to the lab's hosts; the lab's DHCP server is dnsmasq on the
maas host (homelab_dhcp kind dnsmasq). `homelab lab plant k3s-vm-chief-horse lease-expiry` expires its lease in
the server's lease database and hands its address to a guest's device; `homelab lab restart` reboots it keeping
its disk, so its DHCP client asks again and it comes up on a new address. chief-horse holds no reservation
(planted dhcp_reserved: false).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import run_homelab
from tests.integration.conftest import Lab, homelab_in, plan_json

HOST = "k3s-vm-chief-horse"
OLD = "192.168.4.57"
DOCUMENTED = "192.168.4.23"
INTENT = "services keep losing their IP addresses after reboots"
REPORT_TASK = "Report the address and the proposed steps"


def _report(plan: dict, host: str) -> dict[str, Any]:
    step = plan["review"]["steps"][0]
    assert step["playbook"] == "check_address_persistence" and step["status"] == "successful", step
    (task,) = [t for t in step["tasks"] if t["host"] == host and t["task"] == REPORT_TASK]
    return task["report"]


def test_a_host_that_lost_its_address_is_named_with_its_old_and_new_address(lab: Lab, project: Path) -> None:
    try:
        planted = run_homelab("lab", "plant", HOST, "lease-expiry", env=lab.env)
        assert planted.rc == 0, planted.stderr
        restarted = run_homelab("lab", "restart", HOST, env=lab.env, timeout=300)
        assert restarted.rc == 0, restarted.stderr

        made = homelab_in(project, "plan", INTENT, "--format", "json")
        assert made.rc == 0, made.stderr
        plan = plan_json(made)
        assert plan["steps"][0]["playbook"] == "check_address_persistence" and HOST in plan["steps"][0]["hosts"]
        address = _report(plan, HOST)["homelab_address"]
        new = address["actual"]["address"]
        assert new not in (OLD, DOCUMENTED, None) and address["previous_address"] == OLD, address
        ids = [f["id"] for f in address["findings"]]
        assert {"address-moved", "no-reservation", "lease-expired"} <= set(ids), address["findings"]
        expired = next(f for f in address["findings"] if f["id"] == "lease-expired")
        assert OLD in expired["summary"] and expired["evidence"], expired

        shown = homelab_in(project, "show", plan["id"])
        assert shown.rc == 0, shown.stderr
        # The terminal renderer wraps long lines: the review is read with its whitespace joined.
        text = " ".join(shown.stdout.split())
        line = text[text.index(f"{HOST}: {OLD} → "):]
        assert line.startswith(f"{HOST}: {OLD} → {new} (documented {DOCUMENTED}), DHCP via "), line[:400]
        head = line[:line.index("; DNS ")]
        assert f"lease on {OLD} expired" in head and "no reservation on maas for " in head, head

        reserve = [s for s in plan["steps"] if s["playbook"] == "reserve_addresses"]
        if (project / "playbooks" / "reserve_addresses.yml").exists():
            assert len(reserve) == 1 and HOST in reserve[0]["hosts"], plan["steps"]
        else:
            assert f"check_address_persistence on {HOST} proposed reserve_addresses" in plan["explanation"]
    finally:
        run_homelab("lab", "plant", HOST, "lease-expiry", "--clear", env=lab.env)
