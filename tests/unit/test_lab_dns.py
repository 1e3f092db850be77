"""The lab's DNS files: dnsmasq on the maas lab host only, on its own address; every host resolves through it."""

from __future__ import annotations

import socket

import pytest

from planner.errors import LabError
from planner.lab import dns
from planner.lab.hardware import HardwareProfile
from planner.lab.scenario import Addressing, Scenario
from planner.lab.spec import LabHost


def host(name: str, octet: int, lan: str | None = None, method: str = "static") -> LabHost:
    scenario = Scenario(Addressing("enp1s0", lan, 24, "192.168.4.1", method, lan)) if lan else Scenario()
    return LabHost(name, f"127.0.9.{octet}", 22, (), HardwareProfile(name, (), ()), scenario)


HOSTS = [host("still-fawn", 11, "192.168.4.11"), host("maas", 18, "192.168.4.53"),
         host("k3s-vm-chief-horse", 19, "192.168.4.57", "dhcp")]


def test_the_maas_host_runs_dnsmasq_for_the_lab_domain_on_its_address_only() -> None:
    files, off, on = dns.files(HOSTS[1], HOSTS)
    # The DNS instance's own settings stay out of /etc/dnsmasq.d/, which the DHCP instance reads too.
    conf = files["/etc/dnsmasq.conf"].splitlines()
    assert "listen-address=127.0.9.18" in conf and "bind-interfaces" in conf and "port=53" in conf
    assert "no-resolv" in conf and "local=/maas/" in conf
    records = files["/etc/dnsmasq.d/00-homelab-lab.conf"].splitlines()
    assert not any(line.startswith(("listen-address", "port", "interface")) for line in records)
    # The LAN's view, as MAAS serves it: static hosts at their LAN addresses; a DHCP host's name comes
    # with its reservation (planner/lab/dhcp.py), so none here.
    assert [r for r in records if r.startswith("host-record=")] == [
        "host-record=still-fawn.maas,still-fawn,192.168.4.11", "host-record=maas.maas,maas,192.168.4.53"]
    assert on == ["/etc/systemd/system/multi-user.target.wants/dnsmasq.service"]
    assert sorted(off) == ["/etc/systemd/system/multi-user.target.wants/dnsmasq.service",
                           "/etc/systemd/system/multi-user.target.wants/lighttpd.service"]


def test_other_hosts_resolve_through_it_and_run_neither_service() -> None:
    files, off, on = dns.files(HOSTS[0], HOSTS)
    assert set(files) == {"/etc/resolv.conf"} and on == [] and len(off) == 2
    assert "nameserver 127.0.9.18" in files["/etc/resolv.conf"] and "search maas" in files["/etc/resolv.conf"]


def test_an_inventory_without_maas_keeps_its_services_off() -> None:
    assert dns.files(HOSTS[0], HOSTS[:1])[0] == {}


def test_port_53_taken_fails_clearly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.9.250", 53))  # the tests run as root, as the lab does
        with pytest.raises(LabError, match="127.0.9.250:53 .UDP. is already in use"):
            dns.check_port_free("127.0.9.250")
    dns.check_port_free("127.0.9.250")


def test_the_dns_host_runs_no_stand_in_on_the_port_its_dnsmasq_serves() -> None:
    from planner.lab.scenario import _services_for

    documented = [{"name": "maas-dns", "tier": "manual", "host": "maas", "port": 53},
                  {"name": "maas", "tier": "manual", "host": "maas", "port": 5240}]
    assert [s.name for s in _services_for("maas", ("infra",), documented)] == ["maas"]
    # Anywhere else a documented port 53 is held by a stand-in like any other port.
    elsewhere = [{**documented[0], "host": "uptime-kuma"}]
    assert [(s.name, s.port) for s in _services_for("uptime-kuma", ("monitoring",), elsewhere)] == [("maas-dns", 53)]
