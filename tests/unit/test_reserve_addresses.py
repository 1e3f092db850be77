"""reserve_addresses' judgement: when a dnsmasq reservation is safe, and what MAAS's answers call for.

The dnsmasq inputs are as dnsmasq writes and reads them (dhcp-host fields in any order, the lease
database's ``expiry mac ip name client-id`` lines); the MAAS answers are tests/unit/fixtures/maas/
(see its README for where their shape comes from).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import dnsmasq_reservations as dr  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import maas_ip  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "maas"
MAC = "02:bd:63:44:47:16"
NOW = 1_765_000_000
OTHER_FILE = ("# Managed by homelab-planner (reserve_addresses): k3s-vm-still-fawn's documented address.\n"
              "dhcp-host=02:11:22:33:44:55,192.168.4.21,k3s-vm-still-fawn\n"
              "host-record=k3s-vm-still-fawn.maas,k3s-vm-still-fawn,192.168.4.21\n")


def body(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())


def test_dhcp_host_fields_are_read_in_any_order() -> None:
    text = ("dhcp-host=k3s-vm-x,192.168.4.40,AA-BB-CC-DD-EE-FF,infinite  # comment\n"
            "#dhcp-host=02:00:00:00:00:01,192.168.4.41\n"
            "dhcp-host=id:01:02,set:lab,192.168.4.42,12h\n"
            "dhcp-range=192.168.4.20,192.168.4.52,12h\n")
    assert dr.parse_dhcp_hosts(text) == [
        {"macs": ["aa:bb:cc:dd:ee:ff"], "address": "192.168.4.40", "name": "k3s-vm-x"},
        {"macs": [], "address": "192.168.4.42", "name": None},
    ]


def test_the_lease_database_lines_are_read_and_ipv6_left_out() -> None:
    text = ("1765043200 02:bd:63:44:47:16 192.168.4.57 k3s-vm-chief-horse 01:02:bd:63:44:47:16\n"
            "0 52:54:00:aa:bb:cc 192.168.4.23 * *\n"
            "duid 00:01:00:01:2c:00:00:00:52:54:00:12:34:56\n"
            "1765043200 1234 fd00::5 * 00:01\n")
    assert dr.parse_leases(text) == [
        {"expires": 1765043200, "mac": MAC, "address": "192.168.4.57", "name": "k3s-vm-chief-horse"},
        {"expires": 0, "mac": "52:54:00:aa:bb:cc", "address": "192.168.4.23", "name": None},
    ]


def test_a_free_address_and_the_hosts_own_lease_are_no_conflict() -> None:
    leases = f"{NOW + 600} {MAC} 192.168.4.23 k3s-vm-chief-horse *\n"
    assert dr.conflicts("k3s-vm-chief-horse", MAC.upper(), "192.168.4.23",
                        {"/etc/dnsmasq.d/60-homelab-address-k3s-vm-still-fawn.conf": OTHER_FILE}, leases, NOW) == []


@pytest.mark.parametrize(("files", "leases", "expected"), [
    ({"/etc/dnsmasq.d/60-homelab-address-k3s-vm-still-fawn.conf": OTHER_FILE.replace(".21", ".23")}, "",
     "60-homelab-address-k3s-vm-still-fawn.conf reserves 192.168.4.23 for k3s-vm-still-fawn (02:11:22:33:44:55)"),
    ({"/etc/dnsmasq.d/10-old.conf": f"dhcp-host={MAC},192.168.4.30\n"}, "",
     "10-old.conf already reserves 192.168.4.30 for this MAC"),
    ({}, f"{NOW + 3600} 5e:11:22:33:44:55 192.168.4.23 guest-laptop *\n",
     "an active lease gives 192.168.4.23 to 5e:11:22:33:44:55 (guest-laptop)"),
    ({}, "0 5e:11:22:33:44:55 192.168.4.23 * *\n", "an active lease gives 192.168.4.23 to 5e:11:22:33:44:55"),
])
def test_another_reservation_or_an_active_lease_of_another_mac_refuses(files: dict, leases: str, expected: str) -> None:
    found = dr.conflicts("k3s-vm-chief-horse", MAC, "192.168.4.23", files, leases, NOW)
    assert len(found) == 1 and expected in found[0], found


def test_an_expired_lease_of_another_mac_does_not_hold_the_address() -> None:
    leases = f"{NOW - 1} 5e:11:22:33:44:55 192.168.4.23 guest-laptop *\n"
    assert dr.conflicts("k3s-vm-chief-horse", MAC, "192.168.4.23", {}, leases, NOW) == []


def test_maas_reserves_an_address_it_does_not_hold() -> None:
    assert maas_ip.decide([], "192.168.4.23", MAC) == {"action": "reserve", "before": [], "after": [MAC]}


def test_maas_already_holding_the_address_for_the_mac_changes_nothing() -> None:
    plan = maas_ip.decide(body("ipaddresses_reserved.json"), "192.168.4.23", MAC.upper())
    assert plan == {"action": "none", "before": [MAC], "after": [MAC]}


def test_maas_holding_the_address_for_another_machine_is_refused() -> None:
    with pytest.raises(maas_ip.ReservationConflict, match=r"192\.168\.4\.23 \(Sticky\) for a8:a1:59:0e:21:7c"):
        maas_ip.decide(body("ipaddresses_sticky.json"), "192.168.4.23", MAC)


def test_the_ipaddresses_urls_share_the_dns_resources_api_root() -> None:
    assert maas_ip.ipaddresses_url("http://maas:5240/MAAS/") == "http://maas:5240/MAAS/api/2.0/ipaddresses/"
    assert (maas_ip.ipaddresses_url("http://maas:5240/MAAS/api/2.0", "192.168.4.23")
            == "http://maas:5240/MAAS/api/2.0/ipaddresses/?ip=192.168.4.23&all=true")


@pytest.mark.parametrize(("clause", "manual"), [
    ("add a DHCP reservation for k3s-vm-chief-horse", False),
    ("fix the IP addresses so they stop changing", False),
    ("reserve the addresses of the k3s VMs", False),
    ("add a DHCP reservation on the router", True),
    ("change the DHCP range to 192.168.4.100-200", True),
    ("reserve the addresses and change the DNS server", True),
    ("set a static IP on the gateway", True),
])
def test_reservations_are_a_catalog_step_and_the_dhcp_servers_settings_stay_manual(clause: str, manual: bool) -> None:
    from planner.planning.framework import MANUAL_NETWORK, manual_match

    found = manual_match(clause)
    assert (found is not None and found[0].name == MANUAL_NETWORK) is manual, found


@pytest.mark.parametrize(("mac", "address"), [
    ("aa:bb:cc:dd:ee:ff\ndhcp-script=/tmp/x", "192.168.4.23"),  # a host-reported MAC with a line of its own
    ("aa-bb-cc-dd-ee-ff", "192.168.4.23"),
    ("aa:bb:cc:dd:ee", "192.168.4.23"),
    ("aa:bb:cc:dd:ee:ff", "192.168.4.23\nserver=8.8.8.8"),
    ("aa:bb:cc:dd:ee:ff", "192.168.4.023"),
])
def test_only_a_plain_mac_and_address_reach_the_servers_configuration(mac: str, address: str) -> None:
    assert dr.unsafe_input(mac, address) is not None
    assert dr.unsafe_input("AA:bb:cc:dd:ee:ff", "192.168.4.23") is None
