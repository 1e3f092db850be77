"""The lab's DHCP server against real lab hosts: dnsmasq-dhcp on maas, each DHCP host's client, lab restart.

It moves k3s-vm-chief-horse, so it runs its own lab (on ``$HOMELAB_TEST_DHCP_LAB_NET``, by default the
session lab's /24 plus 100 in its third octet) and leaves the session's lab as the other tests expect it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.lab import dhcp
from tests.conftest import run_homelab
from tests.integration.conftest import LAB_NET, Lab, running_lab
from tests.integration.test_lab import lab_ssh

CHIEF = "k3s-vm-chief-horse"  # planted: no reservation, its lease on .57 (documented .23)
RESERVED = "k3s-vm-still-fawn"  # reserved at its documented .21
NIC = "ens18"
_a, _b, _c = LAB_NET.split(".")
NET = os.environ.get("HOMELAB_TEST_DHCP_LAB_NET") or f"{_a}.{_b}.{(int(_c) + 100) % 256}"


@pytest.fixture(scope="module")
def dhcp_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("dhcp-lab"), NET) as lab:
        yield lab


def restart(lab: Lab, host: str) -> dict:
    result = run_homelab("lab", "restart", host, "--format", "json", env=lab.env, timeout=180)
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def root(lab: Lab, host: str, command: str) -> str:
    done = lab_ssh(lab, host, f"sudo sh -c {json.dumps(command)}")
    assert done.returncode == 0, done.stderr
    return done.stdout


def dhclient_log(lab: Lab, host: str) -> list[str]:
    """This boot's dhclient lines in the host's journal."""
    return root(lab, host, "journalctl -b -t dhclient --no-pager -o cat").splitlines()


def last_lease(lab: Lab, host: str) -> str:
    text = root(lab, host, f"cat {dhcp.lease_file(NIC)}")
    return text[text.rindex("lease {"):]


def test_a_reserved_host_keeps_its_address_and_mistakes_fail_clearly(dhcp_lab: Lab) -> None:
    # Both instances accept what they read: the DNS one /etc/dnsmasq.conf, the DHCP one its own file.
    checks = root(dhcp_lab, "maas", f"dnsmasq --test 2>&1 && dnsmasq --test -C {dhcp.CONF} 2>&1")
    assert checks.count("syntax check OK") == 2, checks
    mac = json.loads(root(dhcp_lab, RESERVED, f"cat {dhcp.CLIENT_CONF}"))["mac"]
    assert root(dhcp_lab, "maas", f"cat {dhcp.reservation_path(RESERVED)}") == dhcp.reservation_text(
        RESERVED, mac, "192.168.4.21")
    assert root(dhcp_lab, "maas", f"ls {dhcp.reservation_path(CHIEF)} || true") == "", "planted: no reservation"
    done = restart(dhcp_lab, RESERVED)
    assert (done["before"], done["after"], done["method"]) == ("192.168.4.21", "192.168.4.21", "dhcp")
    assert "DHCPACK of 192.168.4.21 from 127.0.0.1" in dhclient_log(dhcp_lab, RESERVED)

    unknown = run_homelab("lab", "restart", "no-such-host", env=dhcp_lab.env)
    assert unknown.rc == 2 and "unknown lab host" in unknown.stderr
    static = run_homelab("lab", "plant", "still-fawn", "lease-expiry", env=dhcp_lab.env)
    assert static.rc == 2 and "statically addressed" in static.stderr, static.stderr


def test_a_lab_not_up_cannot_restart(tmp_path: Path) -> None:
    result = run_homelab("lab", "restart", CHIEF, env={"HOMELAB_LAB_DIR": str(tmp_path), "HOMELAB_LAB_NET": NET})
    assert result.rc == 3 and "is not running" in result.stderr and "Hint:" in result.stderr


def test_an_unreserved_host_moves_once_its_lease_expired_and_a_reservation_brings_it_back(dhcp_lab: Lab) -> None:
    mac = json.loads(root(dhcp_lab, CHIEF, f"cat {dhcp.CLIENT_CONF}"))["mac"]

    # While its lease is valid, a reboot keeps it: INIT-REBOOT, the server ACKs the recorded address.
    done = restart(dhcp_lab, CHIEF)
    assert (done["before"], done["after"]) == ("192.168.4.57", "192.168.4.57")
    log = dhclient_log(dhcp_lab, CHIEF)
    assert log[0] == f"DHCPREQUEST for 192.168.4.57 on {NIC} to 255.255.255.255 port 67", log
    assert not any("DHCPDISCOVER" in line for line in log)

    # Off for longer than its lease, and a guest laptop got its address meanwhile: it moves.
    planted = run_homelab("lab", "plant", CHIEF, "lease-expiry", env=dhcp_lab.env)
    assert planted.rc == 0, planted.stderr
    assert run_homelab("lab", "plant", CHIEF, "lease-expiry", env=dhcp_lab.env).rc == 0, "idempotent"
    leases = root(dhcp_lab, "maas", f"cat {dhcp.LEASE_DB}")
    assert f"{dhcp.GUEST_MAC} 192.168.4.57 {dhcp.GUEST_NAME}" in leases
    done = restart(dhcp_lab, CHIEF)
    moved = done["after"]
    assert done["before"] == "192.168.4.57" and moved not in (None, "192.168.4.57", "192.168.4.23"), done
    log = dhclient_log(dhcp_lab, CHIEF)
    assert f"DHCPDISCOVER on {NIC} to 255.255.255.255 port 67 interval 1" in log, log
    assert f"DHCPOFFER of {moved} from 127.0.0.1" in log and f"DHCPACK of {moved} from 127.0.0.1" in log
    assert f"fixed-address {moved};" in last_lease(dhcp_lab, CHIEF)
    assert f" {mac} {moved} {CHIEF} " in root(dhcp_lab, "maas", f"cat {dhcp.LEASE_DB}")
    server_log = root(dhcp_lab, "maas", "journalctl -b -t dnsmasq-dhcp --no-pager -o cat")
    assert f"DHCPACK(lo) {moved} {mac} {CHIEF}" in server_log

    # A reservation for its documented address (as reserve_addresses writes it) brings it back there:
    # the server NAKs the address it holds now, and it starts over.
    text = dhcp.reservation_text(CHIEF, mac, "192.168.4.23")
    encoded = base64.b64encode(text.encode()).decode()
    root(dhcp_lab, "maas", f"echo {encoded} | base64 -d > {dhcp.reservation_path(CHIEF)} && "
                           f"systemctl restart {dhcp.UNIT}")
    done = restart(dhcp_lab, CHIEF)
    assert (done["before"], done["after"]) == (moved, "192.168.4.23"), done
    log = dhclient_log(dhcp_lab, CHIEF)
    assert f"DHCPREQUEST for {moved} on {NIC} to 255.255.255.255 port 67" in log
    assert "DHCPNAK from 127.0.0.1" in log and "DHCPACK of 192.168.4.23 from 127.0.0.1" in log, log
    assert "fixed-address 192.168.4.23;" in last_lease(dhcp_lab, CHIEF)
    assert "inet 192.168.4.23/24" in lab_ssh(dhcp_lab, CHIEF, f"ip -4 addr show dev {NIC}").stdout
