"""The "services keep losing their IP addresses after reboots" conversation, on the lab, with the offline planner:

    lab: k3s-vm-chief-horse's lease expires and a guest's laptop takes its address; a reboot moves it
    homelab plan "services keep losing their IP addresses after reboots"
        → the check names the host, its old and new address, the missing reservation and the expired lease,
          and the reservation it proposes is a step of the same plan, reviewed in check mode
    homelab apply ID            → the reservation and DNS record on the lab's dnsmasq, exactly as reviewed
    the same fix again          → nothing to change
    lab: another reboot         → back on its documented address, and it holds; `homelab drift` agrees
    homelab rca ID              → the incident review, a draft citing its evidence, clean for the linter
    homelab rca validate FILE   → validated; TROUBLESHOOTING.md and the knowledge base gain the known issue

Each part has its closer tests (test_lab_dhcp, test_reserve_addresses, test_rca and the unit tests of the
check's parsers and judgement); this one checks they hold together. It moves k3s-vm-chief-horse, so it runs its
own lab (``$HOMELAB_TEST_ADDRESS_LAB_NET``, by default the session lab's net + 120 in the third octet).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.knowledge import kb
from planner.knowledge.rca.validate import SECTIONS, parse
from tests.conftest import run_homelab
from tests.integration.conftest import LAB_NET, Lab, homelab_in, project_on, running_lab
from tests.integration.test_slow_host_session import applied as apply_it
from tests.integration.test_slow_host_session import made

HOST = "k3s-vm-chief-horse"
OLD = "192.168.4.57"
DOCUMENTED = "192.168.4.23"
INTENT = "services keep losing their IP addresses after reboots"
REPORT_TASK = "Report the address and the proposed steps"
RESERVATION = f"/etc/dnsmasq.d/60-homelab-address-{HOST}.conf"
ROOT = Path(__file__).resolve().parents[2]
_a, _b, _c = LAB_NET.split(".")
NET = os.environ.get("HOMELAB_TEST_ADDRESS_LAB_NET") or f"{_a}.{_b}.{(int(_c) + 120) % 256}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("address-lab"), NET) as lab:
        yield lab


def report(plan: dict[str, Any], host: str) -> dict[str, Any]:
    step = plan["review"]["steps"][0]
    assert step["playbook"] == "check_address_persistence" and step["status"] == "successful", step
    (task,) = [t for t in step["tasks"] if t["host"] == host and t["task"] == REPORT_TASK]
    return task["report"]["homelab_address"]


def applied(project: Path, plan: dict[str, Any]) -> dict[str, Any]:
    done = apply_it(project, plan)
    assert done["applies"][-1]["status"] == "succeeded", done["applies"][-1]
    return done


def changed(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["host"], t["task"]) for s in record["steps"] for t in s["tasks"] if t["status"] == "changed"]


def restart(lab: Lab) -> str:
    result = run_homelab("lab", "restart", HOST, "--format", "json", env=lab.env, timeout=300)
    assert result.rc == 0, result.stderr
    return result.stdout


def on_maas(lab: Lab, command: str) -> str:
    result = run_homelab("lab", "ssh", "maas", "--", "sudo", "sh", "-c", f"'{command}'", env=lab.env, timeout=60)
    assert result.rc == 0, result.stderr
    return result.stdout


def test_the_address_loss_conversation(lab: Lab, tmp_path: Path) -> None:
    project = project_on(lab, tmp_path)
    planted = run_homelab("lab", "plant", HOST, "lease-expiry", env=lab.env)
    assert planted.rc == 0, planted.stderr
    assert OLD in restart(lab)

    # The diagnosis: who moved, from where to where, and why.
    diagnosis = made(project, "plan", INTENT)
    address = report(diagnosis, HOST)
    new = address["actual"]["address"]
    assert new not in (OLD, DOCUMENTED, None) and address["previous_address"] == OLD, address
    findings = {f["id"]: f for f in address["findings"]}
    assert {"address-moved", "no-reservation", "lease-expired"} <= set(findings), address["findings"]
    assert OLD in findings["lease-expired"]["summary"] and findings["lease-expired"]["evidence"]
    shown = homelab_in(project, "show", diagnosis["id"])
    text = " ".join(shown.stdout.split())  # the terminal wraps long lines
    assert f"{HOST}: {OLD} → {new} (documented {DOCUMENTED}), DHCP via " in text, text[:2000]

    # The fix the check proposed is a step of the same plan, reviewed in check mode: the reservation's file.
    [reserve] = [s for s in diagnosis["steps"] if s["playbook"] == "reserve_addresses"]
    assert HOST in reserve["hosts"], diagnosis["steps"]
    assert DOCUMENTED in json.dumps(diagnosis["review"]["steps"][1]), diagnosis["review"]["steps"][1]
    assert "proposed" in diagnosis["explanation"] or reserve["rationale"], diagnosis["explanation"]

    done = applied(project, diagnosis)
    assert HOST in {h for h, _ in changed(done["applies"][-1])}, changed(done["applies"][-1])
    mac = address["actual"]["mac"]
    assert on_maas(lab, f"cat {RESERVATION}") == (
        f"# Managed by homelab-planner (reserve_addresses): {HOST}'s documented address.\n"
        f"dhcp-host={mac},{DOCUMENTED},{HOST}\nhost-record={HOST}.maas,{HOST},{DOCUMENTED}\n")

    # The knowledge base learns the fix under the known issue whose findings it resolves.
    [known] = [i for i in kb.load(project).issues if i.id == "address-lost-no-maas-reservation"]
    assert any(o.kind == "fix" and o.host == HOST and o.plan == diagnosis["id"] for o in known.occurrences)
    assert {o.symptom for o in known.occurrences if o.kind == "diagnosis" and o.host == HOST} \
        >= {"address-moved", "no-reservation", "lease-expired"}, known.occurrences

    # The same fix again changes nothing, in review and in apply.
    again = made(project, "plan", "-p", "reserve_addresses", "-l", HOST)
    assert changed(again["review"]) == [], again["review"]
    assert changed(applied(project, again)["applies"][-1]) == []

    # Another reboot: the reservation brings it back to its documented address, and it holds.
    assert DOCUMENTED in restart(lab)
    assert DOCUMENTED in restart(lab)
    after = made(project, "plan", INTENT)  # the check's review writes the addresses back
    held = report(after, HOST)
    assert held["actual"]["address"] == DOCUMENTED, held
    # Its move back is said (info), but nothing is left to fix.
    assert [(f["id"], f["severity"]) for f in held["findings"] if f["id"] in ("address-moved", "no-reservation")] \
        == [("address-moved", "info")], held["findings"]
    assert not any(s["playbook"] == "reserve_addresses" and HOST in s["hosts"] for s in after["steps"])
    drift = homelab_in(project, "drift", "--format", "json")
    assert drift.rc == 0, drift.stderr
    compared = json.loads(drift.stdout)
    assert HOST in compared["hosts_compared"], compared
    assert not [f for f in compared["findings"] if f["host"] == HOST and f["field"] == "address"], compared

    # The incident review: every section, its evidence cited, clean for the linter; then the person's word.
    written = homelab_in(project, "rca", diagnosis["id"], "--format", "json")
    assert written.rc == 0, written.stderr
    out = json.loads(written.stdout)
    path = project / out["path"]
    assert out["path"].startswith("docs/rca/") and HOST in out["path"], out
    review = parse(path)
    assert review.front["status"] == "draft" and diagnosis["id"] in review.front["plans"]
    assert list(review.sections) == list(SECTIONS) and all(review.sections.values())
    assert f"plan `{diagnosis['id']}`" in path.read_text() and "address-moved" in path.read_text()
    assert OLD in review.sections["Root cause"] or OLD in review.sections["Timeline"], path.read_text()
    linter = Path(sys.executable).with_name("pymarkdown")
    lint = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml"), "scan", str(path)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    validated = homelab_in(project, "rca", "validate", out["path"])
    assert validated.rc == 0, validated.stderr
    assert parse(path).front["status"] == "validated"
    [issue] = [i for i in kb.load(project).issues if i.rca is not None]
    assert issue.rca.path == out["path"]
    assert f"({out['path'].removeprefix('docs/')})" in (project / "docs" / "TROUBLESHOOTING.md").read_text()
