"""homelab.ops.maas_reservation through real ansible-playbook against a MAAS API stand-in on loopback.

The stand-in extends test_maas_dns's: it also answers /MAAS/api/2.0/ipaddresses/ as MAAS's API reference
describes it (read with ip and all; op=reserve with ip, mac and hostname, which also gives the name a DNS
resource in the default domain, as MAAS does), and records every request, so the test sees what check
mode sends (reads only), that a second run changes nothing, and that an address MAAS holds for another
MAC is refused without a write.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.test_maas_dns import FakeMaas, run_module, serving

MAC = "02:bd:63:44:47:16"


class FakeMaasAddresses(FakeMaas):
    addresses: dict[str, dict] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if "/ipaddresses/" not in self.path:
            return super().do_GET()
        self._record()
        ip = parse_qs(urlsplit(self.path).query).get("ip", [""])[0]
        self._reply(200, [a for a in self.addresses.values() if a["ip"] == ip])

    def do_POST(self) -> None:  # noqa: N802
        if "/ipaddresses/" not in self.path:
            return super().do_POST()
        self._record()
        form = self._form()
        assert form.get("op") == "reserve", form
        self.addresses[form["ip"]] = {
            "alloc_type": 4, "alloc_type_name": "User reserved", "ip": form["ip"], "created": "2026-12-06T10:00:00",
            "owner": {"username": "admin"}, "subnet": {"cidr": "192.168.4.0/24"},
            "interface_set": [{"id": 1, "name": "eth0", "mac_address": form["mac"]}],
            "resource_uri": "/MAAS/api/2.0/ipaddresses/"}
        rid = max(self.resources, default=0) + 1
        self.resources[rid] = {"id": rid, "fqdn": f"{form['hostname']}.maas", "address_ttl": None,
                               "resource_records": [], "ip_addresses": [{"ip": form["ip"]}],
                               "resource_uri": f"/MAAS/api/2.0/dnsresources/{rid}/"}
        self._reply(200, self.addresses[form["ip"]])


@pytest.fixture
def maas() -> Iterator[str]:
    FakeMaasAddresses.addresses = {}
    with serving(FakeMaasAddresses) as url:
        yield url


def run(tmp_path: Path, url: str, *extra: str, ok: bool = True) -> dict:
    result = run_module(tmp_path, "homelab.ops.maas_reservation", f"""        api_url: {url}
        api_key: "{{{{ lookup('ansible.builtin.env', 'MAAS_API_KEY') }}}}"
        hostname: k3s-vm-chief-horse
        domain: maas
        mac: "{MAC.upper()}"
        address: 192.168.4.23""", *extra)
    assert bool(result.get("failed")) is not ok, result
    return result


def test_an_address_is_reserved_once_with_its_name(tmp_path: Path, maas: str) -> None:
    checked = run(tmp_path, maas, "--check")
    assert checked["changed"] and (checked["ip_action"], checked["dns_action"]) == ("reserve", "create")
    assert {r[0] for r in FakeMaas.requests} == {"GET"}, "check mode must only read"
    assert FakeMaasAddresses.addresses == {} and FakeMaas.resources == {}

    applied = run(tmp_path, maas)
    assert applied["ip_action"] == "reserve" and applied["changed"]
    assert FakeMaasAddresses.addresses["192.168.4.23"]["interface_set"][0]["mac_address"] == MAC
    assert [r["fqdn"] for r in FakeMaas.resources.values()] == ["k3s-vm-chief-horse.maas"]
    posts = [r for r in FakeMaas.requests if r[0] == "POST"]
    assert len(posts) == 1 and 'oauth_signature="%26secret"' in posts[0][2]

    again = run(tmp_path, maas)
    assert not again["changed"] and (again["ip_action"], again["dns_action"]) == ("none", "none")
    assert len([r for r in FakeMaas.requests if r[0] == "POST"]) == 1


def test_an_address_maas_holds_for_another_mac_is_refused_without_a_write(tmp_path: Path, maas: str) -> None:
    FakeMaasAddresses.addresses = {"192.168.4.23": {
        "alloc_type": 1, "alloc_type_name": "Sticky", "ip": "192.168.4.23",
        "interface_set": [{"id": 12, "name": "enp1s0", "mac_address": "a8:a1:59:0e:21:7c"}]}}
    refused = run(tmp_path, maas, ok=False)
    assert "MAAS already holds 192.168.4.23 (Sticky) for a8:a1:59:0e:21:7c" in refused["msg"]
    assert {r[0] for r in FakeMaas.requests} == {"GET"}
