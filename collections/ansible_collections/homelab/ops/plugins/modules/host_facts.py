#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_facts
short_description: Discover a host's NICs, addresses, GPUs and services without changing anything
description:
  - Reads C(/sys/class/net), network configuration and DHCP lease files, and the output of
    C(ip), C(ethtool), C(nvidia-smi), C(systemctl), C(ss), C(docker), C(podman) and C(k3s),
    and returns what it found as the fact C(homelab_discovered).
  - Read-only. It never changes the host, so it always reports C(changed=false) and runs
    unchanged under C(--check).
  - A tool that is not installed means the thing it reports on is absent (no C(nvidia-smi)
    means no NVIDIA GPU), not an error. A probe that fails or times out is recorded in
    C(probe_errors) and the other probes still run; the module itself does not fail.
  - Values the host cannot tell are null, never 0. Every string in the result is cut to 256
    characters and every list to 256 items, since a host writes its own facts.
  - Commands run directly (an argument list, never a shell), each stopped after
    O(probe_timeout) seconds. Files are read up to 64 KiB each (lease files, which grow at
    the end, from their last 64 KiB).
  - Some data is visible to root only (the processes behind listening sockets, NetworkManager
    connection files, the Docker socket), so run it with C(become) for the full picture.
options:
  probe_timeout:
    description:
      - Seconds each command may run before it is stopped and recorded as a probe error.
      - A hung C(nvidia-smi) (a GPU in a bad state) or an unreachable container daemon
        then costs this much, not the whole play.
    type: int
    default: 10
extends_documentation_fragment:
  - homelab.ops.read_only
attributes:
  facts:
    description: Returns C(homelab_discovered) in C(ansible_facts).
    support: full
notes:
  - The sandbox lab's hosts expose replayed hardware through the same interfaces (a
    C(nvidia-smi) and C(ethtool) on C(PATH), a rendered C(/sys/class/net)), so the module
    reads them as it reads a real host.
  - Only the target's Python standard library is needed (Python 3.9 or later); PyYAML is used
    for netplan files when present.
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Discover what each host is made of
  homelab.ops.host_facts:
  become: true

- name: Allow slow tools more time
  homelab.ops.host_facts:
    probe_timeout: 30

- name: Show the GPUs found
  ansible.builtin.debug:
    msg: "{{ ansible_facts['homelab_discovered']['gpus'] | map(attribute='model') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: dict
  contains:
    homelab_discovered:
      description:
        - What the probes found. Unknown values are null.
      returned: always
      type: dict
      contains:
        schema:
          description: Version of this structure.
          type: int
          returned: always
          sample: 1
        nics:
          description:
            - Network interfaces from C(/sys/class/net), C(lo) left out, with C(ethtool)'s link
              modes, driver and bus address where it is installed.
            - C(speed_mbps) is null when the speed is unknown (sysfs -1, ethtool C(Unknown!)) or
              there is no link. C(max_speed_mbps) is the fastest supported link mode.
            - C(virtual) is true for software interfaces with no device behind them (bridge,
              bond, veth, tun); a VM's virtio NIC has a device and is not virtual.
          type: list
          elements: dict
          returned: always
          sample:
            - name: enp5s0
              mac: "02:1c:42:aa:bb:cc"
              driver: r8169
              state: up
              carrier: true
              speed_mbps: 1000
              duplex: full
              max_speed_mbps: 1000
              supported_link_modes: ["10baseT/Half", "10baseT/Full", "1000baseT/Full"]
              bus_info: "0000:05:00.0"
              virtual: false
        addresses:
          description:
            - IPv4 and IPv6 addresses from C(ip -j addr show), loopback left out.
            - C(dynamic) marks DHCP or SLAAC addresses; C(valid_lft) is the remaining lifetime in
              seconds, null for "forever".
          type: list
          elements: dict
          returned: always
          sample:
            - {interface: enp5s0, family: inet, address: 192.168.1.20, prefix: 24, dynamic: true, valid_lft: 3412}
        default_route:
          description: The IPv4 default route (lowest metric), or null if there is none or C(ip) is missing.
          type: dict
          returned: always
          sample: {gateway: 192.168.1.1, interface: enp5s0}
        ip_config:
          description:
            - How each interface gets its IPv4 address, from systemd-networkd, ifupdown, NetworkManager
              and netplan configuration files, with the current DHCP lease where one is found.
            - C(method) is C(dhcp), C(static) or C(unknown); C(lease_expires) is ISO 8601 UTC.
            - An interface with a lease but no configuration file found gets an entry of its own.
          type: list
          elements: dict
          returned: always
          sample:
            - interface: enp5s0
              method: dhcp
              manager: networkd
              source: /etc/systemd/network/10-lan.network
              lease_expires: "2026-01-17T23:00:00Z"
              lease_address: 192.168.1.20
        gpus:
          description:
            - NVIDIA GPUs from C(nvidia-smi); empty when it is absent or failing.
            - Memory in MiB, power in W, temperature in degrees C; C(mig_mode) is C(Enabled),
              C(Disabled) or null (no MIG support).
          type: list
          elements: dict
          returned: always
          sample:
            - index: 0
              model: NVIDIA H100 80GB HBM3
              uuid: GPU-dc1af2b3-25ba-0a15-9b83-a8a60c00c70f
              pci_bus_id: "00000000:00:06.0"
              driver: "580.159.04"
              cuda_version: "13.0"
              memory_total_mib: 81559
              memory_used_mib: 20213
              memory_free_mib: 60867
              utilization_pct: 100
              temperature_c: 59
              power_draw_w: 699.09
              power_limit_w: 700.0
              mig_mode: Disabled
              processes: [{pid: 415, name: python3, used_memory_mib: 20204}]
        services:
          description:
            - C(units) are systemd services that are active, activating or failed; C(listening)
              are TCP listeners from C(ss) (process and pid need root); C(containers) come from
              Docker and Podman; C(k3s) says whether k3s is installed, its role from the active
              unit and its version.
          type: dict
          returned: always
          sample:
            units: [{name: ssh.service, active: active, sub: running}]
            listening: [{address: "::", port: 22, process: sshd, pid: 640}]
            containers: [{runtime: docker, name: web, image: "nginx:1.27", state: running}]
            k3s: {present: true, role: server, version: v1.30.4+k3s1}
        nvidia_smi:
          description: C(ok), C(absent) (not installed), or C(error) and the first line nvidia-smi printed.
          type: str
          returned: always
          sample: "error: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
        probe_errors:
          description: Probes that failed, timed out or could not run, each with a short message.
          type: list
          elements: dict
          returned: always
          sample: [{probe: docker, message: "exit 1: Cannot connect to the Docker daemon"}]
"""

import contextlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.host_facts import (
    MAX_ITEMS,
    build_facts,
    cap_facts,
    probe_error,
)
from ansible_collections.homelab.ops.plugins.module_utils.probes import (  # noqa: F401 (Probes, gather_gpus: the tests')
    Probes,
    gather_gpus,
    read_text,
)

SYS_CLASS_NET = "/sys/class/net"
# The sysfs entries parse_sysfs_nic reads. Of the links, `device` is resolved in full (its
# parent directory can hold the PCI address) and `device/driver` only for its last name.
_SYSFS_FILES = ("address", "operstate", "carrier", "speed", "duplex", "ifindex")


def read_sysfs_net(root=SYS_CLASS_NET, errors=None):
    """{interface: {entry: text}} for parse_sysfs_nic, ``lo`` left out.

    Entries the kernel refuses (speed and carrier of an interface that is down) are left out.
    With more than MAX_ITEMS interfaces (a busy k3s node has a veth per pod), those with a
    device behind them are kept first.
    """
    names = [n for n in os.listdir(root) if n != "lo"]
    names.sort(key=lambda n: (not os.path.lexists(os.path.join(root, n, "device")), n))
    if len(names) > MAX_ITEMS and errors is not None:
        errors.append(probe_error("nics", "%d interfaces; only the first %d were read" % (len(names), MAX_ITEMS)))
    found = {}
    for name in names[:MAX_ITEMS]:
        base = os.path.join(root, name)
        files = {}
        for entry in _SYSFS_FILES:
            with contextlib.suppress(OSError):
                files[entry] = read_text(os.path.join(base, entry), 4096)
        device = os.path.join(base, "device")
        if os.path.lexists(device):
            files["device"] = os.path.realpath(device)
            with contextlib.suppress(OSError):
                files["device/driver"] = os.readlink(os.path.join(device, "driver"))
        found[name] = files
    return found


def gather_nics(probes, raw, root=SYS_CLASS_NET):
    try:
        raw["sysfs_net"] = read_sysfs_net(root, errors=probes.errors)
    except OSError as exc:
        probes.errors.append(probe_error("nics", "%s: %s" % (root, exc.strerror or exc)))
        return
    ethtool = probes.which("ethtool")
    if not ethtool:
        return
    raw["ethtool"] = {}
    for name, files in raw["sysfs_net"].items():
        # Software interfaces have no link modes or bus to report, and a host can have
        # hundreds of them (veths, taps): ethtool only asks about real devices.
        if not files.get("device"):
            continue
        raw["ethtool"][name] = {
            "settings": probes.run("ethtool " + name, [ethtool, name]),
            "driver": probes.run("ethtool -i " + name, [ethtool, "-i", name]),
        }


def gather_network(probes, raw):
    ip = probes.which("ip")
    if ip:
        raw["ip_addr"] = probes.run("ip addr", [ip, "-j", "addr", "show"])
        raw["ip_route"] = probes.run("ip route", [ip, "-j", "route", "show", "default"])
    else:
        probes.missing("ip", "addresses and the default route are")
    raw["networkd"] = probes.files("networkd", ["/etc/systemd/network/*.network"])
    raw["ifupdown"] = probes.files("ifupdown", ["/etc/network/interfaces", "/etc/network/interfaces.d/*"])
    raw["nmconnection"] = probes.files("NetworkManager", ["/etc/NetworkManager/system-connections/*.nmconnection"])
    raw["netplan"] = probes.files("netplan", ["/etc/netplan/*.yaml"])
    # dhclient appends to its lease file, so the current lease is at the end.
    raw["dhclient_leases"] = probes.files("dhclient lease", ["/var/lib/dhcp/dhclient*.leases"], tail=True)
    raw["networkd_leases"] = probes.files("networkd lease", ["/run/systemd/netif/leases/*"], with_mtime=True)
    raw["nm_leases"] = probes.files("NetworkManager lease", ["/var/lib/NetworkManager/*.lease"], tail=True,
                                    with_mtime=True)


def gather_services(probes, raw):
    systemctl = probes.which("systemctl")
    if systemctl:
        raw["systemctl"] = probes.run("systemctl", [
            systemctl, "list-units", "--type=service", "--all", "--no-legend", "--plain", "--no-pager"])
    else:
        probes.missing("systemctl", "services are")
    ss = probes.which("ss")
    if ss:
        raw["ss"] = probes.run("ss", [ss, "-H", "-ltnp"])
    else:
        probes.missing("ss", "listening ports are")
    docker = probes.which("docker")
    if docker:
        raw["docker"] = probes.run("docker", [docker, "ps", "--all", "--format", "{{json .}}"])
    podman = probes.which("podman")
    if podman:
        raw["podman"] = probes.run("podman", [podman, "ps", "--all", "--format", "json"])
    # The k3s installer puts the binary in /usr/local/bin, which a non-login PATH may lack.
    k3s = probes.which("k3s", ["/usr/local/bin"])
    raw["k3s"] = {"present": bool(k3s), "version": probes.run("k3s --version", [k3s, "--version"]) if k3s else None}


def main():
    module = AnsibleModule(
        argument_spec={"probe_timeout": {"type": "int", "default": 10}},
        supports_check_mode=True,
    )
    timeout = module.params["probe_timeout"]
    if timeout < 1:
        module.fail_json(msg="probe_timeout must be at least 1 second, got %d" % timeout)
    probes = Probes(module, timeout)
    raw = {}
    gather_nics(probes, raw)
    gather_network(probes, raw)
    gather_gpus(probes, raw)
    gather_services(probes, raw)
    raw["errors"] = probes.errors
    facts = cap_facts(build_facts(raw))
    module.exit_json(changed=False, ansible_facts={"homelab_discovered": facts})


if __name__ == "__main__":
    main()
