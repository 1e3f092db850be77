"""The lab's DHCP: the server's files on maas, the client's packets and lease file, the `ip` replay's view."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from planner.errors import InventoryError
from planner.lab import dhcp
from planner.lab.hardware import HardwareProfile, NicProfile
from planner.lab.scenario import Addressing, Scenario, host_scenario
from planner.lab.spec import LabHost

REPLAY = Path(dhcp.__file__).parent / "replay"
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def load_client() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("lab_dhclient", str(REPLAY / "lab-dhclient"))
    spec = importlib.util.spec_from_loader("lab_dhclient", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def nic(mac: str) -> NicProfile:
    return NicProfile(name="ens18", model="virtio", driver="virtio_net", mac=mac, speed_mbps=1000,
                      supported_mbps=(1000,), duplex="full", link=True)


def host(name: str, octet: int, lan: str, method: str = "static", reserved: bool = True,
         documented: str | None = None) -> LabHost:
    addressing = Addressing("ens18", lan, 24, "192.168.4.1", method, documented or lan, reserved)
    mac = f"02:00:00:00:00:{octet:02x}"
    return LabHost(name, f"127.0.9.{octet}", 22, (), HardwareProfile(name, (), (nic(mac),)), Scenario(addressing))


MAAS = host("maas", 18, "192.168.4.53")
FAWN = host("k3s-vm-still-fawn", 15, "192.168.4.21", "dhcp")
CHIEF = host("k3s-vm-chief-horse", 17, "192.168.4.57", "dhcp", reserved=False, documented="192.168.4.23")
HOSTS = [host("still-fawn", 11, "192.168.4.11"), FAWN, CHIEF, MAAS]


def test_the_maas_host_serves_dhcp_over_loopback_with_its_own_settings() -> None:
    files, links = dhcp.files(MAAS, HOSTS, "127.0.9", NOW)
    conf = files[dhcp.CONF][0].splitlines()
    for line in ("port=0", "interface=lo", "dhcp-alternate-port=20018,20019", "dhcp-authoritative",
                 "dhcp-sequential-ip", "no-ping", "log-dhcp", f"dhcp-leasefile={dhcp.LEASE_DB}",
                 "dhcp-range=192.168.4.20,192.168.4.52,255.255.255.0,12h",
                 "dhcp-range=192.168.4.54,192.168.4.99,255.255.255.0,12h",
                 "dhcp-option=option:router,192.168.4.1", "dhcp-option=option:dns-server,192.168.4.53",
                 "conf-dir=/etc/dnsmasq.d/,*.conf"):
        assert line in conf
    assert not any(path.startswith("/etc/dnsmasq.d/") and "listen-address" in text for path, (text, _) in
                   files.items()), "the DNS instance's settings must stay out of what both instances read"
    assert links == ["/etc/systemd/system/multi-user.target.wants/dnsmasq-dhcp.service"]
    assert f"-C {dhcp.CONF}" in files["/etc/systemd/system/dnsmasq-dhcp.service"][0]
    # A reservation for every DHCP host but those planted without one, exactly as reserve_addresses writes it.
    assert files[dhcp.reservation_path("k3s-vm-still-fawn")][0] == (
        "# Managed by homelab-planner (reserve_addresses): k3s-vm-still-fawn's documented address.\n"
        "dhcp-host=02:00:00:00:00:0f,192.168.4.21,k3s-vm-still-fawn\n"
        "host-record=k3s-vm-still-fawn.maas,k3s-vm-still-fawn,192.168.4.21\n")
    assert dhcp.reservation_path("k3s-vm-chief-horse") not in files
    # One valid lease per DHCP host on its current address (chief-horse's planted one), 12 h from now.
    expiry = int(NOW.timestamp()) + 43200
    assert files[dhcp.LEASE_DB][0].splitlines()[:2] == [
        f"{expiry} 02:00:00:00:00:0f 192.168.4.21 k3s-vm-still-fawn *",
        f"{expiry} 02:00:00:00:00:11 192.168.4.57 k3s-vm-chief-horse *"]


def test_a_dhcp_host_gets_the_client_and_its_settings() -> None:
    files, links = dhcp.files(CHIEF, HOSTS, "127.0.9", NOW)
    settings = json.loads(files[dhcp.CLIENT_CONF][0])
    assert settings == {"nic": "ens18", "mac": "02:00:00:00:00:11", "hostname": "k3s-vm-chief-horse",
                        "server": "127.0.9.18", "server_port": 20018, "relay": "127.0.9.17",
                        "subnet": "192.168.4.0", "prefix": 24, "gateway": "192.168.4.1",
                        "lease_file": "/var/lib/dhcp/dhclient.ens18.leases"}
    assert "SyslogIdentifier=dhclient" in files["/etc/systemd/system/lab-dhclient.service"][0]
    assert links == ["/etc/systemd/system/multi-user.target.wants/lab-dhclient.service"]
    assert dhcp.files(HOSTS[0], HOSTS, "127.0.9")[0] == {}, "a static host has no client"
    assert dhcp.files(CHIEF, [CHIEF], "127.0.9") == ({}, []), "no server in the lab: the seeded lease stays"


def test_every_lab_net_has_its_own_server_port() -> None:
    ports = {dhcp.server_port(f"127.{x}.{y}") for x in range(3) for y in range(256)}
    assert len(ports) == 3 * 256 and all(1024 < p < 65535 for p in ports)


def test_dhcp_reserved_is_planted_as_a_boolean() -> None:
    profile = HardwareProfile("h", (), (nic("02:00:00:00:00:01"),))
    scenario, _ = host_scenario("h", (), {"lan_ip": "192.168.4.23", "addressing": "dhcp"}, profile,
                                {"lan_ip": "192.168.4.57", "dhcp_reserved": False})
    assert scenario.addressing == Addressing("ens18", "192.168.4.57", 24, None, "dhcp", "192.168.4.23", False)
    with pytest.raises(InventoryError, match="dhcp_reserved must be true or false"):
        host_scenario("h", (), {"lan_ip": "192.168.4.23", "addressing": "dhcp"}, profile, {"dhcp_reserved": "no"})


def test_client_packets_are_relayed_bootp_with_subnet_selection() -> None:
    client = load_client()
    packet = client.build(client.DISCOVER, 0x1234, "02:AA:00:00:00:01", "127.0.9.17", "192.168.4.0",
                          "k3s-vm-chief-horse", requested="192.168.4.57")
    assert packet[0] == 1 and packet[3] == 1, "a BOOTREQUEST one relay hop away"
    assert packet[24:28] == bytes([127, 0, 9, 17]), "giaddr: the host's own lab address"
    assert packet[28:34] == bytes.fromhex("02aa00000001")
    opts = packet[240:]
    assert opts[:3] == bytes([53, 1, 1]) and bytes([50, 4, 192, 168, 4, 57]) in opts
    assert bytes([118, 4, 192, 168, 4, 0]) in opts and opts.endswith(b"\xff")
    # A reply looks the same on the wire, with op 2: parse reads it back.
    reply = bytes([2]) + packet[1:16] + bytes([192, 168, 4, 41]) + packet[20:240] + bytes(
        [53, 1, 5, 54, 4, 127, 0, 0, 1, 51, 4, 0, 0, 0xA8, 0xC0, 255])
    xid, yiaddr, mac, got = client.parse(reply)
    assert (xid, yiaddr, mac) == (0x1234, "192.168.4.41", "02:aa:00:00:00:01")
    assert got[53] == b"\x05" and client.addr(got, 54) == "127.0.0.1" and client.seconds(got, 51, 0) == 43200
    assert client.parse(packet) is None, "a request is not a reply"


def test_client_lease_file_is_dhclients() -> None:
    client = load_client()
    opts = {1: bytes([255, 255, 255, 0]), 3: bytes([192, 168, 4, 1]), 6: bytes([192, 168, 4, 53]),
            51: (43200).to_bytes(4, "big"), 54: bytes([127, 0, 0, 1])}
    block = client.lease_block("ens18", "192.168.4.41", opts, NOW.timestamp())
    assert "  fixed-address 192.168.4.41;\n" in block and "  option dhcp-server-identifier 127.0.0.1;\n" in block
    assert "  renew 0 2026/12/06 16:00:00;\n" in block and "  expire 0 2026/12/06 22:00:00;\n" in block
    older = block.replace("192.168.4.41", "192.168.4.57")
    assert client.last_lease(older + block) == {"address": "192.168.4.41", "server": "127.0.0.1",
                                                "expire": NOW.timestamp() + 43200}
    assert client.last_lease("") is None


def test_the_ip_replay_shows_what_the_client_bound(tmp_path: Path) -> None:
    data = {"links": [{"ifindex": 2, "ifname": "ens18", "flags": ["UP"], "mtu": 1500, "operstate": "UP",
                       "link_type": "ether", "address": "02:00:00:00:00:11",
                       "addr_info": [{"family": "inet", "local": "192.168.4.57", "prefixlen": 24}]}],
            "routes": [{"dst": "192.168.4.0/24", "dev": "ens18", "protocol": "kernel", "flags": []}]}
    (tmp_path / "ip").mkdir()
    (tmp_path / "ip" / "ip.json").write_text(json.dumps(data))
    env = {"HOMELAB_LAB_REPLAY_DIR": str(tmp_path), "HOMELAB_LAB_RUN_DIR": str(tmp_path / "run")}

    def ip(*args: str) -> object:
        out = subprocess.run([sys.executable, str(REPLAY / "ip"), "-j", *args], env=env, capture_output=True,
                             text=True, check=True).stdout
        return json.loads(out)

    assert ip("addr")[0]["addr_info"][0]["local"] == "192.168.4.57", "nothing bound yet: the seeded address"
    (tmp_path / "run").mkdir()
    bound = {"nic": "ens18", "address": "192.168.4.41", "prefix": 24, "gateway": "192.168.4.1",
             "lease_seconds": 43200}
    (tmp_path / "run" / "ip-bound.json").write_text(json.dumps(bound))
    info = ip("addr")[0]["addr_info"]
    assert [a["local"] for a in info] == ["192.168.4.41"] and info[0]["dynamic"] is True
    assert ip("route", "default") == [{"dst": "default", "gateway": "192.168.4.1", "dev": "ens18",
                                       "protocol": "dhcp", "flags": []}]
    (tmp_path / "run" / "ip-bound.json").write_text(json.dumps({**bound, "address": None}))
    assert ip("addr")[0]["addr_info"] == [] and ip("route") == []
