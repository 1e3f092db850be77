"""homelab.ops.address_check's parsers and judgement, over the captures in tests/fixtures/addressing/.

The MAAS bodies are MAAS API 2.0 responses (GET machines/, GET devices/) trimmed from the examples recorded
in Canonical's gomaasapi test data (see the fixtures' README.md).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import addressing as ad  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import maas_machines as mm  # noqa: E402

HERE = ROOT / "tests" / "fixtures" / "addressing"
MAC = "52:54:00:12:34:56"
NOW = "2026-12-06T10:05:00+00:00"


def read(name: str) -> str:
    return (HERE / name).read_text()


def test_dhclient_blocks_oldest_first_with_times_server_and_line() -> None:
    leases = ad.dhclient_leases(read("dhclient.enp6s18.leases"), "/var/lib/dhcp/dhclient.enp6s18.leases")
    assert [x["address"] for x in leases] == ["192.168.4.57", "192.168.4.20"]
    old = leases[0]
    assert old["expires"] == "2026-12-06T02:00:00+00:00" and old["obtained"] == "2026-12-05T14:00:00+00:00"
    assert old["server"] == "192.168.4.53" and old["interface"] == "enp6s18"
    assert old["source"] == "/var/lib/dhcp/dhclient.enp6s18.leases:1"
    assert leases[1]["source"].endswith(":12")


def test_networkd_lease_takes_its_times_from_the_file() -> None:
    lease = ad.networkd_lease(read("networkd-lease-2"), "/run/systemd/netif/leases/2", 1796536800)
    assert lease["address"] == "192.168.4.31" and lease["server"] == "192.168.4.53"
    assert lease["obtained"] == "2026-12-06T06:00:00+00:00" and lease["expires"] == "2026-12-06T18:00:00+00:00"


def test_dnsmasq_lease_database_and_reservations() -> None:
    leases = ad.dnsmasq_leases(read("dnsmasq.leases"), "/var/lib/misc/dnsmasq.leases")
    assert [(x["mac"], x["address"], x["name"]) for x in leases] == [
        ("52:54:00:aa:00:57", "192.168.4.57", "guest-laptop"), (MAC, "192.168.4.20", "k3s-vm-chief-horse"),
        ("52:54:00:12:34:99", "192.168.4.22", "k3s-vm-pumped-piglet")]
    assert leases[2]["expires"] is None and leases[1]["source"] == "/var/lib/misc/dnsmasq.leases:2"
    found = ad.dnsmasq_reservations({"/etc/dnsmasq.d/10-lab.conf": read("10-lab.conf"),
                                     "/etc/dnsmasq.d/60-a.conf": read("60-homelab-address-k3s-vm-still-fawn.conf")})
    assert [(r["macs"], r["address"], r["name"], r["source"]) for r in found] == [
        (["aa:bb:cc:dd:ee:01"], "192.168.4.200", "printer", "/etc/dnsmasq.d/10-lab.conf:3"),
        (["52:54:00:12:34:31"], "192.168.4.31", "k3s-vm-still-fawn", "/etc/dnsmasq.d/60-a.conf:2")]


def test_journal_events_of_the_server_only_name_this_mac() -> None:
    events = ad.journal_events(read("journal-dnsmasq.txt"), mac=MAC)
    assert [(e["kind"], e["address"]) for e in events] == [
        ("request", "192.168.4.57"), ("ack", "192.168.4.57"), ("request", "192.168.4.57"), ("nak", "192.168.4.57"),
        ("discover", None), ("offer", "192.168.4.20"), ("ack", "192.168.4.20")]
    assert events[1]["time"] == "2026-12-05T14:00:01+00:00" and "DHCPACK(lo)" in events[1]["line"]


def test_journal_events_of_dhclient_and_the_history_they_give() -> None:
    events = ad.journal_events(read("journal-dhclient.txt"))
    assert [e["kind"] for e in events] == ["request", "nak", "discover", "offer", "ack", "bound"]
    assert events[1]["server"] == "192.168.4.53" and events[4]["address"] == "192.168.4.20"
    server = ad.journal_events(read("journal-dnsmasq.txt"), mac=MAC)
    seen = ad.history(sorted(server + events, key=lambda e: e["time"]))
    assert [(h["address"], h["first_seen"]) for h in seen] == [
        ("192.168.4.57", "2026-12-05T14:00:01+00:00"), ("192.168.4.20", "2026-12-06T10:00:05+00:00")]


def _local(**change: object) -> dict:
    leases = ad.dhclient_leases(read("dhclient.enp6s18.leases"), "/var/lib/dhcp/dhclient.enp6s18.leases")
    local = {"interface": "enp6s18", "mac": MAC, "address": "192.168.4.20", "method": "dhcp", "manager": "ifupdown",
             "client": "dhclient", "config_source": "/etc/network/interfaces", "leases": leases,
             "events": ad.journal_events(read("journal-dhclient.txt"))}
    local.update(change)
    return local


def _server(reservations: str = "10-lab.conf") -> dict:
    return {"reservations": ad.dnsmasq_reservations({"/etc/dnsmasq.d/x.conf": read(reservations)}),
            "leases": ad.dnsmasq_leases(read("dnsmasq.leases"), "/var/lib/misc/dnsmasq.leases")[:2],
            "events": ad.journal_events(read("journal-dnsmasq.txt"), mac=MAC), "searched": "dhcp-host= lines"}


DNSMASQ = {"kind": "dnsmasq", "host": "maas"}
DNS_NOTHING = {"name": "k3s-vm-chief-horse.maas", "server": "127.0.1.5", "addresses": [], "error": None}


def test_a_host_that_moved_without_a_reservation_proposes_reserving_it() -> None:
    report, proposals = ad.assess("k3s-vm-chief-horse", {"lan_ip": "192.168.4.23", "addressing": "dhcp"},
                                  _local(), DNSMASQ, _server(), None, DNS_NOTHING, NOW)
    ids = [f["id"] for f in report["findings"]]
    assert ids == ["address-moved", "lease-expired", "no-reservation", "dns-mismatch"]
    assert report["previous_address"] == "192.168.4.57" and report["actual"]["address"] == "192.168.4.20"
    expired = report["findings"][1]
    assert "192.168.4.57 expired 2026-12-06T02:00:00+00:00" in expired["summary"]
    assert "went to another device" in expired["summary"] and "dnsmasq.leases:1" in expired["evidence"]
    assert all(f["evidence"] and f["runbook"] in ad.RUNBOOK.values() for f in report["findings"])
    assert proposals["steps"] == [{"playbook": "reserve_addresses", "kind": "standard", "vars": {},
                                   "reason": proposals["steps"][0]["reason"]}]
    assert "no reservation on maas for 52:54:00:12:34:56" in proposals["steps"][0]["reason"]


def test_a_reserved_host_where_it_belongs_proposes_nothing() -> None:
    local = _local(address="192.168.4.31", mac="52:54:00:12:34:31", leases=[], events=[])
    dns = dict(DNS_NOTHING, name="k3s-vm-still-fawn.maas", addresses=["192.168.4.31"])
    report, proposals = ad.assess("k3s-vm-still-fawn", {"lan_ip": "192.168.4.31", "addressing": "dhcp"}, local,
                                  DNSMASQ, dict(_server("60-homelab-address-k3s-vm-still-fawn.conf"), events=[],
                                                leases=[]), None, dns, NOW)
    assert report["findings"] == [] and proposals == {"steps": [], "manual": []}
    assert report["server"]["reservation"]["source"] == "/etc/dnsmasq.d/x.conf:2"


def test_a_current_lease_past_its_expiry_is_critical() -> None:
    leases = ad.dhclient_leases(read("dhclient.enp6s18.leases"), "l")[:1]
    report, _ = ad.assess("h", {"lan_ip": "192.168.4.57", "addressing": "dhcp"},
                          _local(address="192.168.4.57", leases=leases, events=[]), {"kind": "none"}, None, None,
                          dict(DNS_NOTHING, addresses=["192.168.4.57"]), NOW)
    assert [(f["id"], f["severity"], f["evidence"]) for f in report["findings"]] == [
        ("lease-expired", "critical", "l:1")]


def test_a_static_host_off_its_documented_address() -> None:
    report, proposals = ad.assess("still-fawn", {"lan_ip": "192.168.4.17", "addressing": "static"},
                                  _local(address="192.168.4.99", method="static", leases=[], events=[]),
                                  {"kind": "none"}, None, None, {"error": "no DNS server to ask"}, NOW)
    assert [f["id"] for f in report["findings"]] == ["static-mismatch"] and proposals["steps"] == []


def test_maas_without_api_url_is_left_to_the_person_and_routers_are_checked_by_hand() -> None:
    report, proposals = ad.assess("k3s-vm-chief-horse", {"lan_ip": "192.168.4.23", "addressing": "dhcp"},
                                  _local(), {"kind": "maas", "host": "maas"}, None, None, DNS_NOTHING, NOW,
                                  routers=["router"])
    assert report["server"]["status"] == "not configured" and proposals["steps"] == []
    assert [m["title"] for m in proposals["manual"]] == ["Reserve k3s-vm-chief-horse's address in MAAS by hand",
                                                         "Check the DHCP server on router router"]
    assert "reserve in MAAS by hand" in proposals["manual"][0]["reason"]


def _maas_bodies() -> tuple[list, list]:
    return json.loads(read("maas-machines.json")), json.loads(read("maas-devices.json"))


def test_maas_finds_the_machine_and_its_link_mode() -> None:
    machines, devices = _maas_bodies()
    found = mm.lookup(machines, devices, "52:54:00:55:B6:81")
    assert (found["registered"], found["kind"], found["hostname"], found["link_mode"], found["ip"]) == (
        True, "machine", "untasted-markita", "auto", "192.168.100.5")
    device = mm.lookup(machines, devices, "78:f0:f1:16:a7:46")
    assert (device["kind"], device["link_mode"], device["ip"]) == ("device", None, None)
    assert mm.lookup(machines, devices, MAC)["registered"] is False
    assert mm.node_url("http://maas:5240/MAAS", "machines", MAC) == (
        "http://maas:5240/MAAS/api/2.0/machines/?mac_address=52%3A54%3A00%3A12%3A34%3A56")


def test_maas_auto_link_is_no_reservation_and_a_static_one_is() -> None:
    machines, devices = _maas_bodies()
    local = _local(mac="52:54:00:55:b6:80", address="192.168.100.4", leases=[], events=[])
    dns = dict(DNS_NOTHING, addresses=["192.168.100.4"])
    maas = {"kind": "maas", "host": "maas", "api_url": "http://maas:5240/MAAS"}
    report, proposals = ad.assess("h", {"lan_ip": "192.168.100.4", "addressing": "dhcp"}, local, maas, None,
                                  mm.lookup(machines, devices, "52:54:00:55:b6:80"), dns, NOW)
    assert [f["id"] for f in report["findings"]] == ["no-reservation"] and "link mode auto" in \
        report["findings"][0]["summary"]
    assert [s["playbook"] for s in proposals["steps"]] == ["reserve_addresses"]
    machines[0]["interface_set"][0]["links"][0]["mode"] = "static"  # what MAAS reports for a sticky address
    report, proposals = ad.assess("h", {"lan_ip": "192.168.100.4", "addressing": "dhcp"}, local, maas, None,
                                  mm.lookup(machines, devices, "52:54:00:55:b6:80"), dns, NOW)
    assert report["findings"] == [] and proposals["steps"] == []
    report, _ = ad.assess("h", {"lan_ip": "192.168.100.4", "addressing": "dhcp"}, _local(address="192.168.100.4"),
                          maas, None, mm.lookup(machines, devices, MAC), dns, NOW)
    assert "not-registered" in [f["id"] for f in report["findings"]]


def test_dns_query_goes_to_the_server_named_and_reads_its_answer() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)

    def answer() -> None:
        query, peer = server.recvfrom(512)
        ident = struct.unpack("!H", query[:2])[0]
        question = query[12:]
        record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("192.168.4.20")
        server.sendto(struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + record, peer)

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert ad.resolve("127.0.0.1", "k3s-vm-chief-horse.maas", server.getsockname()[1], 5) == ["192.168.4.20"]
    finally:
        thread.join(10)
        server.close()


@pytest.mark.parametrize("packet", [b"", b"\x00\x01\x81\x82" + b"\x00" * 8])
def test_a_dns_answer_that_is_no_answer_is_refused(packet: bytes) -> None:
    with pytest.raises(ValueError):
        ad.dns_answer(packet, 1)


def test_history_from_lease_blocks_alone_and_before_the_journal() -> None:
    leases = ad.dhclient_leases(read("dhclient.enp6s18.leases"), "f")
    assert [(h["address"], h["first_seen"], h["source"]) for h in ad.history([], leases)] == [
        ("192.168.4.57", "2026-12-05T14:00:00+00:00", "f:1"), ("192.168.4.20", "2026-12-06T10:00:00+00:00", "f:12")]
    recent = [e for e in ad.journal_events(read("journal-dhclient.txt")) if e["kind"] == "ack"]
    assert [h["address"] for h in ad.history(recent, leases)] == ["192.168.4.57", "192.168.4.20"]


def test_a_local_time_lease_file_keeps_its_epoch_and_no_server_leaves_the_reservation_to_the_person() -> None:
    # dhclient's `db-time-format local` writes each time as an epoch followed by a comment.
    text = ("lease {\n  interface \"ens18\";\n  fixed-address 192.168.4.57;\n"
            "  expire epoch 1733400000; # Thu Dec 05 12:00:00 2024\n}\n")
    [lease] = ad.dhclient_leases(text, "l")
    assert lease["expires"] is not None and lease["expires"].startswith("2024-12-05")
    report, proposals = ad.assess("k3s-vm-chief-horse", {"lan_ip": "192.168.4.23", "addressing": "dhcp"},
                                  _local(), {"kind": "none"}, None, None, DNS_NOTHING, NOW)
    assert "address-moved" in [f["id"] for f in report["findings"]] and proposals["steps"] == []
    assert [m["title"] for m in proposals["manual"]] == [
        "Reserve k3s-vm-chief-horse's address on the DHCP server by hand"]


def test_back_on_its_documented_address_nothing_is_left_to_fix() -> None:
    # The old lease block stays in the lease file after the host came back: it is history, not an expiry now.
    report, proposals = ad.assess("k3s-vm-chief-horse", {"lan_ip": "192.168.4.20", "addressing": "dhcp"},
                                  _local(), DNSMASQ, _server("60-homelab-address-k3s-vm-still-fawn.conf"), None,
                                  dict(DNS_NOTHING, addresses=["192.168.4.20"]), NOW)
    assert [(f["id"], f["severity"]) for f in report["findings"] if f["id"] != "no-reservation"] == [
        ("address-moved", "info")], report["findings"]
    assert all(s["playbook"] != "reserve_addresses" or "no reservation" in s["reason"] for s in proposals["steps"])
