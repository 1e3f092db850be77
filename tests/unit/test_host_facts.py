"""homelab.ops.host_facts: its parsers on real captured output, on synthetic odd cases, on the
sandbox lab's replayed hardware, and the module itself run by ansible against this machine."""

from __future__ import annotations

import ast
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner.lab import hardware
from planner.lab.hardware import (
    gpu_uuid,
    profile_from_hostvars,
    render_files,
    render_sys_class_net,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import host_facts  # noqa: E402
from ansible_collections.homelab.ops.plugins.modules import host_facts as module  # noqa: E402

COLLECTIONS = ROOT / "collections"
PLUGINS = COLLECTIONS / "ansible_collections" / "homelab" / "ops" / "plugins"
CAPTURES = ROOT / "tests" / "fixtures" / "nvidia-smi"
REPLAY = Path(hardware.__file__).parent / "replay"
HOST_VARS = ROOT / "inventory" / "host_vars"

IDLE_UUID = "GPU-8ddc5723-e9d6-5338-9a89-90e28f156bb2"
BUSY_UUID = "GPU-dc1af2b3-25ba-0a15-9b83-a8a60c00c70f"
TOP_KEYS = {"schema", "nics", "addresses", "default_route", "ip_config", "gpus", "services", "nvidia_smi",
            "probe_errors"}
PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def capture(name: str) -> str:
    return (CAPTURES / name).read_text(encoding="utf-8")


# --- real captures: an idle and a busy H100 ------------------------------------------------------------------------

def test_query_gpu_capture_with_header_and_units():
    # The header names the columns (compute_cap too, which is not kept); values carry units.
    (gpu,) = host_facts.parse_nvidia_query_gpu(capture("h100-80gb/nvidia-smi-query-gpu.csv"))
    assert gpu == {
        "index": 0, "model": "NVIDIA H100 80GB HBM3", "uuid": IDLE_UUID, "pci_bus_id": "00000000:00:06.0",
        "driver": "580.159.04", "cuda_version": None, "memory_total_mib": 81559, "memory_used_mib": 0,
        "memory_free_mib": 81079, "utilization_pct": 0, "temperature_c": 36, "power_draw_w": 114.8,
        "power_limit_w": 700.0, "mig_mode": None, "processes": [],
    }


def test_query_gpu_busy_capture_nounits_without_header():
    # This capture asked for seven fields only: without a header, the caller names them.
    fields = ("index", "name", "uuid", "memory.total", "memory.used", "memory.free", "utilization.gpu")
    errors: list[str] = []
    (gpu,) = host_facts.parse_nvidia_query_gpu(capture("h100-80gb-busy/nvidia-smi-query-gpu-nounits.csv"),
                                               fields, errors=errors)
    assert errors == []
    assert (gpu["uuid"], gpu["memory_total_mib"], gpu["memory_used_mib"], gpu["memory_free_mib"]) == \
        (BUSY_UUID, 81559, 20213, 60867)
    assert gpu["utilization_pct"] == 100
    assert gpu["power_draw_w"] is None and gpu["temperature_c"] is None  # not asked for: unknown, not 0


def test_query_gpu_capture_read_with_the_wrong_fields_is_reported_not_guessed():
    errors: list[str] = []
    rows = host_facts.parse_nvidia_query_gpu(capture("h100-80gb-busy/nvidia-smi-query-gpu-nounits.csv"),
                                             errors=errors)
    assert rows == [] and len(errors) == 1


def test_compute_apps_captures():
    busy = host_facts.parse_nvidia_compute_apps(capture("h100-80gb-busy/nvidia-smi-apps.csv"))
    assert busy == [{"pid": 415, "name": "python3", "used_memory_mib": 20204, "gpu_uuid": BUSY_UUID}]
    # The idle capture is a header alone, labelled "used_gpu_memory [MiB]", with no gpu_uuid column.
    assert host_facts.parse_nvidia_compute_apps(capture("h100-80gb/nvidia-smi-apps.csv")) == []


def test_xml_captures():
    idle = host_facts.parse_nvidia_smi_xml(capture("h100-80gb/nvidia-smi-q.xml"))
    assert idle["cuda_version"] == "13.0" and idle["driver_version"] == "580.159.04"
    assert idle["gpus"][IDLE_UUID]["mig_mode"] == "Disabled"
    assert idle["gpus"][IDLE_UUID]["processes"] == []
    busy = host_facts.parse_nvidia_smi_xml(capture("h100-80gb-busy/nvidia-smi-q.xml"))
    assert busy["gpus"][BUSY_UUID]["processes"] == [{"pid": 415, "name": "python3", "used_memory_mib": 20204}]
    assert busy["gpus"][BUSY_UUID]["pci_bus_id"] == "00000000:00:06.0"


def test_busy_capture_end_to_end():
    facts = host_facts.build_facts({"nvidia_smi": {
        "status": "ok",
        "query": capture("h100-80gb-busy/nvidia-smi-query-gpu.csv"),
        "xml": capture("h100-80gb-busy/nvidia-smi-q.xml"),
        "apps": capture("h100-80gb-busy/nvidia-smi-apps.csv"),
    }})
    assert set(facts) == TOP_KEYS and facts["nvidia_smi"] == "ok" and facts["probe_errors"] == []
    (gpu,) = facts["gpus"]
    assert gpu["cuda_version"] == "13.0" and gpu["mig_mode"] == "Disabled"
    assert (gpu["utilization_pct"], gpu["temperature_c"], gpu["power_draw_w"]) == (100, 59, 699.09)
    assert gpu["processes"] == [{"pid": 415, "name": "python3", "used_memory_mib": 20204}]


def test_without_the_apps_query_processes_come_from_the_xml():
    facts = host_facts.build_facts({"nvidia_smi": {
        "status": "ok", "query": capture("h100-80gb-busy/nvidia-smi-query-gpu.csv"),
        "xml": capture("h100-80gb-busy/nvidia-smi-q.xml"), "apps": None}})
    assert facts["gpus"][0]["processes"] == [{"pid": 415, "name": "python3", "used_memory_mib": 20204}]


def sysfs_from_dump(text: str) -> dict[str, dict[str, str]]:
    """The captured dump's "NAME speed=S duplex=D operstate=O" lines as parse_sysfs_nic entries.

    The dump also holds the capturing shell's complaint that `ip` was missing; that line is
    not an interface.
    """
    nics = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(\S+) speed=(\S*) duplex=(\S*) operstate=(\S*)", line)
        if m:
            nics[m[1]] = {"speed": m[2], "duplex": m[3], "operstate": m[4]}
    return nics


def test_sys_class_net_capture():
    sysfs = sysfs_from_dump(capture("h100-80gb/sys-class-net.txt"))
    assert set(sysfs) == {"eth0", "ifb0", "ifb1", "lo"}
    facts = host_facts.build_facts({"sysfs_net": sysfs})
    nics = {n["name"]: n for n in facts["nics"]}
    assert set(nics) == {"eth0", "ifb0", "ifb1"}  # lo left out
    assert nics["eth0"]["state"] == "up"
    assert nics["eth0"]["speed_mbps"] is None and nics["eth0"]["duplex"] is None  # speed -1, duplex unknown
    assert nics["ifb0"]["state"] == "down" and nics["ifb0"]["speed_mbps"] is None  # empty speed


# --- synthetic odd cases (made up for these tests, not captured) ---------------------------------------------------

# Synthetic: two GPUs, the first with a comma in its name, one with a process whose name has one too.
SYNTHETIC_TWO_GPUS = (
    "0, NVIDIA GeForce RTX 3090, Founders Edition, GPU-11111111-2222-3333-4444-555555555555, 00000000:01:00.0, "
    "550.54.14, 24576, 1024, 23320, 5, 41, 31.50, 350.00\n"
    "1, NVIDIA RTX A4000, GPU-66666666-7777-8888-9999-000000000000, 00000000:02:00.0, 550.54.14, 16376, 0, 16101, "
    "[N/A], 30, [Not Supported], [Not Supported]\n"
)
SYNTHETIC_TWO_APPS = (
    "4242, /opt/my app, v2/bin/serve, 900, GPU-11111111-2222-3333-4444-555555555555\n"
    "4343, python3, [N/A], GPU-66666666-7777-8888-9999-000000000000\n"
)
# Synthetic: one A100 with MIG enabled; nvidia-smi shows no utilisation then.
SYNTHETIC_MIG_QUERY = (
    "0, NVIDIA A100-SXM4-40GB, GPU-abcdefab-cdef-abcd-efab-cdefabcdefab, 00000000:07:00.0, 550.54.14, 40960, 37, "
    "40326, [N/A], 33, 54.12, 400.00\n"
)
SYNTHETIC_MIG_XML = """<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
\t<driver_version>550.54.14</driver_version>
\t<cuda_version>12.4</cuda_version>
\t<attached_gpus>1</attached_gpus>
\t<gpu id="00000000:07:00.0">
\t\t<product_name>NVIDIA A100-SXM4-40GB</product_name>
\t\t<mig_mode>
\t\t\t<current_mig>Enabled</current_mig>
\t\t\t<pending_mig>Enabled</pending_mig>
\t\t</mig_mode>
\t\t<uuid>GPU-abcdefab-cdef-abcd-efab-cdefabcdefab</uuid>
\t\t<processes>
\t\t</processes>
\t</gpu>

</nvidia_smi_log>
"""


def test_several_gpus_and_a_comma_in_a_model_name():
    facts = host_facts.build_facts({"nvidia_smi": {
        "status": "ok", "query": SYNTHETIC_TWO_GPUS, "xml": None, "apps": SYNTHETIC_TWO_APPS}})
    assert facts["probe_errors"] == []
    first, second = facts["gpus"]
    assert first["model"] == "NVIDIA GeForce RTX 3090, Founders Edition"
    assert first["uuid"] == "GPU-11111111-2222-3333-4444-555555555555"
    assert (first["memory_total_mib"], first["power_draw_w"], first["index"]) == (24576, 31.5, 0)
    assert first["processes"] == [{"pid": 4242, "name": "/opt/my app, v2/bin/serve", "used_memory_mib": 900}]
    assert second["model"] == "NVIDIA RTX A4000"
    assert second["utilization_pct"] is None and second["power_draw_w"] is None and second["power_limit_w"] is None
    assert second["processes"] == [{"pid": 4343, "name": "python3", "used_memory_mib": None}]
    assert first["cuda_version"] is None and first["mig_mode"] is None  # no -q -x output: unknown


def test_mig_enabled():
    facts = host_facts.build_facts({"nvidia_smi": {
        "status": "ok", "query": SYNTHETIC_MIG_QUERY, "xml": SYNTHETIC_MIG_XML, "apps": ""}})
    (gpu,) = facts["gpus"]
    assert gpu["mig_mode"] == "Enabled" and gpu["cuda_version"] == "12.4"
    assert gpu["utilization_pct"] is None and gpu["processes"] == []


def test_xml_with_entities_is_refused():
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><nvidia_smi_log>&a;</nvidia_smi_log>'
    with pytest.raises(ValueError):
        host_facts.parse_nvidia_smi_xml(bomb)
    facts = host_facts.build_facts({"nvidia_smi": {"status": "ok", "query": SYNTHETIC_MIG_QUERY, "xml": bomb}})
    assert len(facts["gpus"]) == 1 and facts["probe_errors"][0]["probe"] == "nvidia-smi -q -x"


def test_no_gpu():
    facts = host_facts.build_facts({"nvidia_smi": {"status": "absent"}})
    assert facts["gpus"] == [] and facts["nvidia_smi"] == "absent"
    assert host_facts.build_facts({})["nvidia_smi"] == "absent"


def test_nvidia_smi_failing():
    # Synthetic, in the words nvidia-smi uses when the driver is not loaded (on stdout, exit 9).
    out = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
           "latest NVIDIA driver is installed and running.\n\n")
    status = host_facts.nvidia_smi_status(9, out, "")
    assert status == "error: " + out.strip()
    assert host_facts.nvidia_smi_status(None, "", "timed out after 10 s") == "error: timed out after 10 s"
    assert host_facts.nvidia_smi_status(0, "0, x", "") == "ok"
    facts = host_facts.build_facts({"nvidia_smi": {"status": status, "query": out}})
    assert facts["gpus"] == [] and facts["nvidia_smi"].startswith("error: NVIDIA-SMI has failed")


# Synthetic ethtool 6.1 output for a 2.5GbE NIC with no cable.
SYNTHETIC_ETHTOOL_NO_LINK = """Settings for enp2s0:
\tSupported ports: [ TP ]
\tSupported link modes:   10baseT/Half 10baseT/Full
\t                        100baseT/Half 100baseT/Full
\t                        1000baseT/Full
\t                        2500baseT/Full
\tSupported pause frame use: Symmetric
\tSupports auto-negotiation: Yes
\tSupported FEC modes: Not reported
\tAdvertised link modes:  10baseT/Half 10baseT/Full
\t                        100baseT/Half 100baseT/Full
\tAdvertised pause frame use: Symmetric
\tSpeed: Unknown!
\tDuplex: Unknown! (255)
\tAuto-negotiation: on
\tPort: Twisted Pair
\tMDI-X: Unknown
\tLink detected: no
"""


def test_nic_without_link():
    sysfs = {"address": "aa:bb:cc:00:11:22\n", "operstate": "down\n", "carrier": "0\n", "speed": "-1\n",
             "duplex": "unknown\n", "device": "/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0",
             "device/driver": "../../../../bus/pci/drivers/igc"}
    nic = host_facts.parse_sysfs_nic("enp2s0", sysfs)
    nic = host_facts.merge_ethtool(nic, host_facts.parse_ethtool(SYNTHETIC_ETHTOOL_NO_LINK), None)
    assert nic == {
        "name": "enp2s0", "mac": "aa:bb:cc:00:11:22", "driver": "igc", "state": "down", "carrier": False,
        "speed_mbps": None, "duplex": None, "max_speed_mbps": 2500,
        "supported_link_modes": ["10baseT/Half", "10baseT/Full", "100baseT/Half", "100baseT/Full",
                                 "1000baseT/Full", "2500baseT/Full"],
        "bus_info": "0000:02:00.0", "virtual": False,
    }


def test_down_nic_whose_sysfs_refuses_speed_and_carrier():
    # sysfs fails reads of speed and carrier on an interface that is administratively down.
    nic = host_facts.parse_sysfs_nic("enp3s0", {"operstate": "down", "device": "/sys/devices/x/0000:03:00.0"})
    assert (nic["carrier"], nic["speed_mbps"], nic["virtual"]) == (None, None, False)
    nic = host_facts.merge_ethtool(nic, host_facts.parse_ethtool(SYNTHETIC_ETHTOOL_NO_LINK), None)
    assert nic["carrier"] is False  # ethtool knows


def test_odd_sysfs_speeds_and_software_interfaces():
    assert host_facts.parse_sysfs_nic("x", {"speed": "4294967295"})["speed_mbps"] is None
    assert host_facts.parse_sysfs_nic("x", {"speed": "10000", "duplex": "full"})["speed_mbps"] == 10000
    bridge = host_facts.parse_sysfs_nic("vmbr0", {"operstate": "up", "carrier": "1"})
    assert bridge["virtual"] is True and bridge["driver"] is None and bridge["bus_info"] is None
    # A virtio NIC's device is "virtioN" inside its PCI device's directory.
    virtio = host_facts.parse_sysfs_nic("eth0", {"device": "/sys/devices/pci0000:00/0000:00:03.0/virtio2"})
    assert virtio["bus_info"] == "0000:00:03.0" and virtio["virtual"] is False


def test_ethtool_modes_listed_in_bit_order_give_the_true_maximum():
    # ethtool lists 10000baseT/Full before 2500baseT/Full (kernel bit order).
    indent = "\t" + " " * 24
    text = ("Settings for enp1s0:\n\tSupported link modes:   1000baseT/Full\n"
            + "".join(indent + mode + "\n" for mode in ("10000baseT/Full", "2500baseT/Full", "5000baseT/Full"))
            + "\tSpeed: 10000Mb/s\n\tDuplex: Full\n\tLink detected: yes\n")
    parsed = host_facts.parse_ethtool(text)
    assert (parsed["max_speed_mbps"], parsed["speed_mbps"], parsed["duplex"], parsed["link"]) == \
        (10000, 10000, "full", True)
    assert host_facts.parse_ethtool("Settings for lo:\n\tLink detected: yes\n")["supported_link_modes"] == []


# Synthetic `ss -H -ltnp` as root: IPv4, IPv6, a scoped address, a socket shared by two workers,
# a listener ss shows no process for, and a repeated row.
SYNTHETIC_SS = """LISTEN 0      4096         0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=640,fd=3))
LISTEN 0      4096            [::]:22           [::]:*    users:(("sshd",pid=640,fd=4))
LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=512,fd=14))
LISTEN 0      511                *:80              *:*    users:(("nginx",pid=901,fd=6),("nginx",pid=900,fd=6))
LISTEN 0      128   [fe80::1]%eth0:8080         [::]:*    users:(("python3",pid=77,fd=5))
LISTEN 0      4096   [::ffff:127.0.0.1]:6443        *:*
LISTEN 0      4096            [::]:22           [::]:*    users:(("sshd",pid=640,fd=4))
"""


def test_ss_listeners():
    assert host_facts.parse_ss_listening(SYNTHETIC_SS) == [
        {"address": "0.0.0.0", "port": 22, "process": "sshd", "pid": 640},
        {"address": "::", "port": 22, "process": "sshd", "pid": 640},
        {"address": "127.0.0.53%lo", "port": 53, "process": "systemd-resolve", "pid": 512},
        {"address": "*", "port": 80, "process": "nginx", "pid": 901},
        {"address": "fe80::1%eth0", "port": 8080, "process": "python3", "pid": 77},
        {"address": "::ffff:127.0.0.1", "port": 6443, "process": None, "pid": None},
    ]


# Synthetic `ip -j` output: a DHCP address with a lifetime, a static one, SLAAC IPv6.
SYNTHETIC_IP_ADDR = json.dumps([
    {"ifindex": 1, "ifname": "lo", "link_type": "loopback",
     "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "valid_life_time": 4294967295}]},
    {"ifindex": 2, "ifname": "enp5s0", "link_type": "ether", "addr_info": [
        {"family": "inet", "local": "192.168.4.20", "prefixlen": 24, "dynamic": True, "valid_life_time": 3412},
        {"family": "inet", "local": "192.168.4.99", "prefixlen": 24, "label": "enp5s0:1",
         "valid_life_time": 4294967295},
        {"family": "inet6", "local": "fd00::20", "prefixlen": 64, "dynamic": True, "valid_life_time": 86000}]},
])


def test_ip_addresses_and_default_route():
    assert host_facts.parse_ip_addr(SYNTHETIC_IP_ADDR) == [
        {"interface": "enp5s0", "family": "inet", "address": "192.168.4.20", "prefix": 24, "dynamic": True,
         "valid_lft": 3412},
        {"interface": "enp5s0", "family": "inet", "address": "192.168.4.99", "prefix": 24, "dynamic": False,
         "valid_lft": None},
        {"interface": "enp5s0", "family": "inet6", "address": "fd00::20", "prefix": 64, "dynamic": True,
         "valid_lft": 86000},
    ]
    routes = json.dumps([{"dst": "default", "gateway": "10.0.0.1", "dev": "wlan0", "metric": 600},
                         {"dst": "default", "gateway": "192.168.4.1", "dev": "enp5s0", "metric": 100}])
    assert host_facts.parse_ip_route_default(routes) == {"gateway": "192.168.4.1", "interface": "enp5s0"}
    assert host_facts.parse_ip_route_default("[]") is None
    facts = host_facts.build_facts({"ip_addr": "not json", "ip_route": "[]"})
    assert facts["addresses"] == [] and facts["probe_errors"][0]["probe"] == "ip addr"


# Synthetic configuration files of each manager.
SYNTHETIC_NETWORKD_DHCP = "[Match]\nName=enp5s0\n\n[Network]\nDHCP=yes\n"
SYNTHETIC_NETWORKD_STATIC = ("# the storage link\n[Match]\nName=enp6s0 enp7s0\n\n[Network]\nAddress=10.10.0.5/24\n"
                             "Gateway=10.10.0.1\nDNS=10.10.0.1\n")
SYNTHETIC_NETWORKD_ADDRESS_SECTION = "[Match]\nName=br0\n\n[Network]\nDHCP=no\n\n[Address]\nAddress=10.0.0.2/24\n"
SYNTHETIC_INTERFACES = """# Proxmox VE style
auto lo
iface lo inet loopback

iface enp4s0 inet manual

auto vmbr0
iface vmbr0 inet static
        address 192.168.4.12/24
        gateway 192.168.4.1
        bridge-ports enp4s0

iface vmbr0 inet6 auto

allow-hotplug usb0
iface usb0 inet dhcp
"""
SYNTHETIC_NMCONNECTION = """[connection]
id=Wired connection 1
uuid=2d0c8f8e-1111-2222-3333-444455556666
type=ethernet
interface-name=enp1s0

[ipv4]
method=auto

[ipv6]
method=auto
"""
# networkd's lease file format; LIFETIME is seconds from the (re)write.
SYNTHETIC_NETWORKD_LEASE = ("# This is private data. Do not parse.\nADDRESS=192.168.4.30\nNETMASK=255.255.255.0\n"
                            "ROUTER=192.168.4.1\nT1=1800\nT2=3150\nLIFETIME=3600\n")
SYNTHETIC_DHCLIENT_LEASES = """lease {
  interface "usb0";
  fixed-address 192.168.4.40;
  option subnet-mask 255.255.255.0;
  renew 2 2026/01/13 10:00:00;
  expire 2 2026/01/13 12:00:00;
}
lease {
  interface "usb0";
  fixed-address 192.168.4.41;
  renew 3 2026/01/14 17:00:00;
  rebind 3 2026/01/14 22:00:00;
  expire 3 2026/01/14 23:00:00;
}
lease {
  interface "wlan0";
  fixed-address 10.1.1.9;
  expire epoch 1768435200; # Thu Jan 15 00:00:00 2026
}
lease {
  interface "eth9";
  fixed-address 10.2.2.2;
  expire never;
}
"""


def test_networkd_files():
    assert host_facts.parse_networkd_network("/etc/systemd/network/10-lan.network", SYNTHETIC_NETWORKD_DHCP) == [
        {"interface": "enp5s0", "method": "dhcp", "manager": "networkd",
         "source": "/etc/systemd/network/10-lan.network", "lease_expires": None, "lease_address": None}]
    static = host_facts.parse_networkd_network("/s.network", SYNTHETIC_NETWORKD_STATIC)
    assert [(e["interface"], e["method"]) for e in static] == [("enp6s0", "static"), ("enp7s0", "static")]
    (bridge,) = host_facts.parse_networkd_network("/b.network", SYNTHETIC_NETWORKD_ADDRESS_SECTION)
    assert bridge["method"] == "static"
    (unknown,) = host_facts.parse_networkd_network("/u.network", "[Match]\nType=ether\n[Network]\nDHCP=ipv6\n")
    assert (unknown["interface"], unknown["method"]) == (None, "unknown")


def test_ifupdown_interfaces():
    entries = host_facts.parse_ifupdown("/etc/network/interfaces", SYNTHETIC_INTERFACES)
    assert [(e["interface"], e["method"], e["manager"]) for e in entries] == [
        ("enp4s0", "unknown", "ifupdown"), ("vmbr0", "static", "ifupdown"), ("usb0", "dhcp", "ifupdown")]


def test_nmconnection_auto():
    (entry,) = host_facts.parse_nmconnection("/etc/NetworkManager/system-connections/w.nmconnection",
                                             SYNTHETIC_NMCONNECTION)
    assert (entry["interface"], entry["method"], entry["manager"]) == ("enp1s0", "dhcp", "NetworkManager")


SYNTHETIC_NETPLAN = """# written by the installer
network:
  version: 2
  renderer: networkd
  ethernets:
    enp3s0:
      dhcp4: true
    eth1:
      match:
        macaddress: "aa:bb:cc:dd:ee:ff"
      set-name: lan1
      addresses:
      - 10.0.0.5/24
      routes:
        - to: default
          via: 10.0.0.1
    eth2:
      addresses: [10.0.1.5/24]
      dhcp4: no
    eth3:
      optional: true
  bridges:
    br0:
      interfaces: [enp3s0]
      dhcp4: yes
"""


@pytest.mark.parametrize("use_yaml", [True, False], ids=["pyyaml", "line-reader"])
def test_netplan(use_yaml):
    entries = host_facts.parse_netplan("/etc/netplan/50.yaml", SYNTHETIC_NETPLAN, use_yaml=use_yaml)
    assert sorted((e["interface"], e["method"], e["manager"]) for e in entries) == [
        ("br0", "dhcp", "netplan"), ("enp3s0", "dhcp", "netplan"), ("eth2", "static", "netplan"),
        ("eth3", "unknown", "netplan"), ("lan1", "static", "netplan")]


def test_dhclient_lease_expiry():
    leases = host_facts.parse_dhclient_leases(SYNTHETIC_DHCLIENT_LEASES)
    assert leases == {
        "usb0": {"address": "192.168.4.41", "expires": "2026-01-14T23:00:00Z"},  # the last lease wins
        "wlan0": {"address": "10.1.1.9", "expires": "2026-01-15T00:00:00Z"},
        "eth9": {"address": "10.2.2.2", "expires": None},
    }
    # A file read from its last 64 KiB can start inside a block; that fragment is ignored.
    assert host_facts.parse_dhclient_leases('  expire 1 2020/01/01 00:00:00;\n}\n') == {}


def test_ip_config_joins_leases():
    mtime = 1768400000.0  # 2026-01-14T14:13:20Z
    raw = {
        "sysfs_net": {"enp5s0": {"ifindex": "2\n"}, "usb0": {"ifindex": "5\n"}, "enp9s0": {"ifindex": "9\n"}},
        "networkd": {"/etc/systemd/network/10-lan.network": SYNTHETIC_NETWORKD_DHCP},
        "ifupdown": {"/etc/network/interfaces": SYNTHETIC_INTERFACES},
        "nmconnection": {"/etc/NetworkManager/system-connections/w.nmconnection": SYNTHETIC_NMCONNECTION},
        "dhclient_leases": {"/var/lib/dhcp/dhclient.usb0.leases": SYNTHETIC_DHCLIENT_LEASES},
        "networkd_leases": {"/run/systemd/netif/leases/2": (SYNTHETIC_NETWORKD_LEASE, mtime),
                            "/run/systemd/netif/leases/9": ("ADDRESS=10.9.9.9\n", mtime)},
        "nm_leases": {"/var/lib/NetworkManager/internal-2d0c8f8e-1111-2222-3333-444455556666-enp1s0.lease":
                      ("ADDRESS=192.168.4.50\nLIFETIME=7200\n", mtime)},
    }
    facts = host_facts.build_facts(raw)
    assert facts["probe_errors"] == []
    got = {(e["interface"], e["manager"]): e for e in facts["ip_config"]}
    lan = got[("enp5s0", "networkd")]
    assert (lan["method"], lan["lease_address"], lan["lease_expires"]) == \
        ("dhcp", "192.168.4.30", "2026-01-14T15:13:20Z")
    assert got[("usb0", "ifupdown")]["lease_expires"] == "2026-01-14T23:00:00Z"
    assert got[("vmbr0", "ifupdown")]["lease_expires"] is None
    nm = got[("enp1s0", "NetworkManager")]
    assert (nm["lease_address"], nm["lease_expires"]) == ("192.168.4.50", "2026-01-14T16:13:20Z")
    # Leases for interfaces no configuration file names still say DHCP; no LIFETIME: expiry unknown.
    assert got[("enp9s0", "networkd")]["method"] == "dhcp"
    assert got[("enp9s0", "networkd")]["lease_expires"] is None
    assert got[("wlan0", None)]["source"] == "/var/lib/dhcp/dhclient.usb0.leases"


# Synthetic `systemctl list-units --type=service --all --no-legend --plain --no-pager`.
SYNTHETIC_UNITS = """ssh.service                 loaded    active   running SSH server
k3s.service                 loaded    active   running Lightweight Kubernetes
\u25cf broken.service          loaded    failed   failed  Something broken
apt-daily.service           loaded    inactive dead    Daily apt download activities
nfs-server.service          not-found inactive dead    nfs-server.service
pending.service             loaded    activating start-pre Waiting
"""


def test_services_and_k3s():
    raw = {"systemctl": SYNTHETIC_UNITS, "k3s": {"present": True, "version":
                                                   "k3s version v1.30.4+k3s1 (98262b5d)\ngo version go1.22.5\n"},
           "docker": '{"Names":"web","Image":"nginx:1.27","State":"running","Status":"Up 2 hours"}\n'
                     '{"Names":"old","Image":"redis:7","State":"exited","Status":"Exited (0)"}\n',
           "podman": '[{"Names":["db"],"Image":"docker.io/library/postgres:16","State":"running"}]'}
    services = host_facts.build_facts(raw)["services"]
    assert services["units"] == [
        {"name": "ssh.service", "active": "active", "sub": "running"},
        {"name": "k3s.service", "active": "active", "sub": "running"},
        {"name": "broken.service", "active": "failed", "sub": "failed"},
        {"name": "pending.service", "active": "activating", "sub": "start-pre"},
    ]
    assert services["k3s"] == {"present": True, "role": "server", "version": "v1.30.4+k3s1"}
    assert services["containers"] == [
        {"runtime": "docker", "name": "web", "image": "nginx:1.27", "state": "running"},
        {"runtime": "docker", "name": "old", "image": "redis:7", "state": "exited"},
        {"runtime": "podman", "name": "db", "image": "docker.io/library/postgres:16", "state": "running"},
    ]
    agent = host_facts.k3s_facts(True, [{"name": "k3s-agent.service", "active": "active", "sub": "running"}], None)
    assert agent == {"present": True, "role": "agent", "version": None}
    assert host_facts.build_facts({})["services"]["k3s"] == {"present": False, "role": None, "version": None}


def test_caps():
    raw = {"ss": "".join(f"LISTEN 0 128 10.0.{i // 250}.{i % 250}:22 0.0.0.0:*\n" for i in range(300)),
           "systemctl": f"{'a' * 400}.service loaded active running x\n"}
    facts = host_facts.cap_facts(host_facts.build_facts(raw))
    assert len(facts["services"]["listening"]) == host_facts.MAX_ITEMS
    assert len(facts["services"]["units"][0]["name"]) == host_facts.MAX_STRING


def test_a_parser_bug_costs_one_probe_not_the_report():
    facts = host_facts.build_facts({"sysfs_net": {"eth0": "not a mapping"}, "ss": SYNTHETIC_SS})
    assert facts["nics"] == [] and facts["probe_errors"][0]["probe"] == "nics"
    assert len(facts["services"]["listening"]) == 6


@pytest.mark.parametrize("path", [PLUGINS / "module_utils" / "host_facts.py", PLUGINS / "modules" / "host_facts.py"],
                         ids=["module_utils", "module"])
def test_runs_on_python_39(path):
    # Managed hosts run their own Python; the oldest one this supports is 3.9.
    ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 9))


# --- the sandbox lab's replayed hardware ---------------------------------------------------------------------------

def host_vars(host: str) -> dict:
    """A host's vars as Ansible reads them: after `make demo` the file holds a discovered block with
    `!unsafe` strings, which a plain YAML loader refuses."""
    from planner.yamlio.reading import load_fast

    return load_fast(HOST_VARS / f"{host}.yml")


def lab_hosts() -> list[str]:
    return sorted(p.stem for p in HOST_VARS.glob("*.yml") if "hardware" in host_vars(p.stem))


class ReplayProbes(module.Probes):
    """The module's probes, with tools taken from a rendered lab root and run by this Python."""

    def __init__(self, root: Path):
        super().__init__(module=None, timeout=10)
        self.root = root

    def which(self, name, extra_dirs=None):
        for directory in ("usr/bin", "usr/sbin"):
            if (self.root / directory / name).exists():
                return str(self.root / directory / name)
        return None

    def run_raw(self, argv):
        env = dict(os.environ, HOMELAB_LAB_REPLAY_DIR=str(self.root / "usr/share/homelab-lab"))
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, timeout=30)
        return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("host", lab_hosts())
def test_lab_profile_read_through_the_modules_interfaces(host, tmp_path):
    profile = profile_from_hostvars(host, host_vars(host))
    for path, (content, mode) in render_files(profile).items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    render_sys_class_net(profile, tmp_path / "sys/class/net")

    probes = ReplayProbes(tmp_path)
    raw: dict = {}
    module.gather_nics(probes, raw, root=str(tmp_path / "sys/class/net"))
    module.gather_gpus(probes, raw)
    raw["errors"] = probes.errors
    facts = host_facts.build_facts(raw)
    assert facts["probe_errors"] == []

    nics = {n["name"]: n for n in facts["nics"]}
    assert set(nics) == {n.name for n in profile.nics}
    for nic in profile.nics:
        got = nics[nic.name]
        assert (got["mac"], got["driver"], got["state"], got["carrier"], got["virtual"]) == \
            (nic.mac, nic.driver, "up", True, False)
        assert got["speed_mbps"] == nic.speed_mbps
        assert got["duplex"] == ("full" if nic.speed_mbps else None)
        assert PCI.match(got["bus_info"])
        if nic.driver == "virtio_net":  # paravirtual: no link modes reported
            assert got["supported_link_modes"] == [] and got["max_speed_mbps"] is None
        else:
            assert got["max_speed_mbps"] == max(nic.supported_mbps)
            assert f"{max(nic.supported_mbps)}baseT/Full" in got["supported_link_modes"]

    assert facts["nvidia_smi"] == ("ok" if profile.gpus else "absent")
    assert [(g["index"], g["model"], g["memory_total_mib"], g["uuid"]) for g in facts["gpus"]] == \
        [(i, g.model, g.memory_mib, gpu_uuid(host, i)) for i, g in enumerate(profile.gpus)]
    for gpu in facts["gpus"]:
        # Everything else is the idle capture's.
        assert (gpu["driver"], gpu["cuda_version"], gpu["mig_mode"], gpu["utilization_pct"]) == \
            ("580.159.04", "13.0", "Disabled", 0)
        assert gpu["processes"] == []


def test_lab_bus_addresses_follow_the_nic_names(tmp_path):
    profile = profile_from_hostvars("lab-test", {"hardware": {"nics": [
        {"name": "enp4s0", "driver": "igc", "supported_mbps": 2500, "speed_mbps": 1000},
        {"name": "ens18", "driver": "virtio_net", "supported_mbps": 10000}]}})
    for path, (content, _mode) in render_files(profile).items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    render_sys_class_net(profile, tmp_path / "net")
    raw: dict = {}
    module.gather_nics(ReplayProbes(tmp_path), raw, root=str(tmp_path / "net"))
    nics = {n["name"]: n for n in host_facts.build_facts(raw)["nics"]}
    assert nics["enp4s0"]["bus_info"] == "0000:04:00.0"
    assert nics["ens18"]["bus_info"] == "0000:00:12.0"  # from ethtool -i: sysfs only says virtio0


# --- the module, run by ansible on this machine --------------------------------------------------------------------

def run_ansible_module(name: str, *extra: str, env: dict[str, str] | None = None, args: str = "") -> dict:
    """The result of one of the collection's modules run ad hoc against this machine (it must not change it)."""
    command = [str(ROOT / ".venv" / "bin" / "ansible"), "localhost", "-c", "local", "-i", "localhost,",
               "-m", name, *extra]
    if args:
        command += ["-a", args]
    if not os.access("/usr/bin/python3", os.X_OK):  # ansible.cfg names the Debian hosts' interpreter
        command += ["-e", "ansible_python_interpreter=" + sys.executable]
    full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1", **(env or {}))
    proc = subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Ad-hoc output is "localhost | SUCCESS => {…}": the result as JSON after the arrow.
    head, arrow, body = proc.stdout.partition(" => ")
    assert arrow and "SUCCESS" in head, proc.stdout + proc.stderr
    result = json.loads(body)
    assert result["changed"] is False
    return result


def run_module(*extra: str, env: dict[str, str] | None = None, args: str = "") -> dict:
    return run_ansible_module("homelab.ops.host_facts", *extra, env=env, args=args)["ansible_facts"][
        "homelab_discovered"]


def test_module_on_this_machine():
    facts = run_module("--check")
    assert set(facts) == TOP_KEYS and facts["schema"] == 1
    assert set(facts["services"]) == {"units", "listening", "containers", "k3s"}
    here = sorted(n for n in os.listdir("/sys/class/net") if n != "lo")
    if len(here) <= host_facts.MAX_ITEMS:
        assert sorted(n["name"] for n in facts["nics"]) == here
    else:
        assert len(facts["nics"]) == host_facts.MAX_ITEMS
    for nic in facts["nics"]:
        assert set(nic) == set(host_facts.NIC_KEYS)
        assert nic["speed_mbps"] is None or nic["speed_mbps"] > 0
    if not any(os.access(os.path.join(d, "nvidia-smi"), os.X_OK) for d in os.environ["PATH"].split(os.pathsep)
               + ["/sbin", "/usr/sbin", "/usr/local/sbin"]):
        assert facts["nvidia_smi"] == "absent" and facts["gpus"] == []
    assert all(set(e) == {"probe", "message"} for e in facts["probe_errors"])


def tool_wrapper(path: Path, script: str) -> None:
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_module_finds_replayed_tools_on_path(tmp_path):
    # The lab puts its replays where the real tools would be; here, first on PATH.
    devices = sorted(n for n in os.listdir("/sys/class/net")
                     if n != "lo" and os.path.lexists(os.path.join("/sys/class/net", n, "device")))
    hostvars = {"hardware": {
        "gpus": [{"model": "NVIDIA GeForce RTX 3090", "memory_gib": 24}, {"model": "NVIDIA RTX A4000",
                                                                        "memory_gib": 16}],
        "nics": [{"name": n, "driver": "igc", "supported_mbps": 2500, "speed_mbps": 1000} for n in devices]}}
    profile = profile_from_hostvars("replay-test", hostvars)
    for path, (content, _mode) in render_files(profile).items():
        target = tmp_path / "root" / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, where in (("nvidia-smi", "usr/bin"), ("ethtool", "usr/sbin")):
        replay = tmp_path / "root" / where / tool
        tool_wrapper(bin_dir / tool, f'#!/bin/sh\nexec "{sys.executable}" "{replay}" "$@"\n')
    facts = run_module(env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                            "HOMELAB_LAB_REPLAY_DIR": str(tmp_path / "root/usr/share/homelab-lab")})
    assert facts["nvidia_smi"] == "ok"
    assert [(g["model"], g["memory_total_mib"], g["cuda_version"]) for g in facts["gpus"]] == \
        [("NVIDIA GeForce RTX 3090", 24576, "13.0"), ("NVIDIA RTX A4000", 16384, "13.0")]
    for nic in facts["nics"]:
        if nic["name"] in devices:
            assert nic["max_speed_mbps"] == 2500
            assert "2500baseT/Full" in nic["supported_link_modes"]
    assert not [e for e in facts["probe_errors"] if e["probe"].startswith(("nvidia-smi", "ethtool"))]


@pytest.mark.parametrize("script, expected", [
    ("#!/bin/sh\nexec sleep 60\n", "error: timed out after 1 s"),
    ("#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"\nexit 9\n",
     "error: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."),
], ids=["hung", "no-driver"])
def test_module_survives_a_broken_nvidia_smi(tmp_path, script, expected):
    tool_wrapper(tmp_path / "nvidia-smi", script)
    started = time.monotonic()
    facts = run_module(args="probe_timeout=1", env={"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert time.monotonic() - started < 45  # stopped at the timeout, not after the minute the tool would take
    assert facts["nvidia_smi"] == expected and facts["gpus"] == []
