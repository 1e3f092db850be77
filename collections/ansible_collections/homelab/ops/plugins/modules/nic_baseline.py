#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nic_baseline
short_description: Read each wired NIC's driver, firmware, link and error counters, changing nothing
description:
  - For every interface in C(/sys/class/net) that has a device behind it (a C(device) link;
    bridges, bonds, VLANs, veths and C(lo) have none), reads the link speed, duplex and the
    C(statistics) error and drop counters from sysfs, and the driver and firmware version from
    C(ethtool -i).
  - Returns them as C(nics), in the layout of the network upgrade's baseline file, so a later
    run can compare the link after a NIC or cable swap with the one before it.
  - Read-only. It never changes the host, so it reports C(changed=false) and runs unchanged
    under C(--check).
  - Fails when a counter cannot be read or C(ethtool -i) fails for a NIC, since a baseline
    with holes would make the comparison after the swap meaningless.
options: {}
extends_documentation_fragment:
  - homelab.ops.read_only
notes:
  - The sandbox lab's hosts show their hardware profile through the same interfaces (a
    rendered C(/sys/class/net) and an C(ethtool) replay), so the module reads them as it reads
    a real host.
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Read every NIC's driver, firmware and counters
  homelab.ops.nic_baseline:
  register: _nics
"""

RETURN = r"""
nics:
  description:
    - One entry per wired NIC, keyed by interface name. C(speed_mbps) is null when the link is
      down or its speed unknown; C(firmware) is null when the driver reports none.
  returned: always
  type: dict
  sample:
    enp5s0:
      driver: r8169
      firmware: rtl8168h-2_0.0.2 02/26/15
      speed_mbps: 1000
      duplex: full
      rx_errors: 0
      tx_errors: 0
      rx_dropped: 0
      tx_dropped: 0
"""

import os

from ansible.module_utils.basic import AnsibleModule

SYS_CLASS_NET = "/sys/class/net"
COUNTERS = ("rx_errors", "tx_errors", "rx_dropped", "tx_dropped")
# sysfs prints -1 (or the u32 value 4294967295 on some drivers) for an unknown speed.
_SPEED_UNKNOWN_U32 = 0xFFFFFFFF


def _read(path):
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read(4096).strip()


def wired_nics(root=SYS_CLASS_NET):
    """Interface names with a device behind them, sorted."""
    return sorted(n for n in os.listdir(root) if os.path.lexists(os.path.join(root, n, "device")))


def link(root, name):
    """(speed_mbps or None, duplex) from sysfs; the kernel refuses both reads while the link is down."""
    try:
        speed = int(_read(os.path.join(root, name, "speed")))
    except (OSError, ValueError):
        speed = None
    if speed is not None and (speed <= 0 or speed >= _SPEED_UNKNOWN_U32):
        speed = None
    try:
        duplex = _read(os.path.join(root, name, "duplex")).lower()
    except OSError:
        duplex = "unknown"
    return speed, duplex if duplex in ("full", "half") else "unknown"


def counters(root, name):
    """The error and drop counters; OSError or ValueError when one cannot be read."""
    return {c: int(_read(os.path.join(root, name, "statistics", c))) for c in COUNTERS}


def parse_driver_info(text):
    """(driver, firmware) from ``ethtool -i``; an empty or "N/A" firmware-version is None."""
    values = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    firmware = values.get("firmware-version") or None
    return values.get("driver") or None, None if firmware in (None, "N/A", "n/a") else firmware


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    ethtool = module.get_bin_path("ethtool", required=False)
    names = wired_nics()
    if names and not ethtool:
        module.fail_json(msg="ethtool is not installed, so the NICs' drivers and firmware cannot be read; "
                             "install the ethtool package first")
    nics = {}
    for name in names:
        rc, out, err = module.run_command([ethtool, "-i", name], check_rc=False)
        if rc != 0:
            module.fail_json(msg="ethtool -i %s failed (exit %d): %s" % (name, rc, (err or out).strip()))
        driver, firmware = parse_driver_info(out)
        try:
            stats = counters(SYS_CLASS_NET, name)
        except (OSError, ValueError) as exc:
            module.fail_json(msg="cannot read the counters of %s under %s/%s/statistics: %s"
                                 % (name, SYS_CLASS_NET, name, exc))
        speed, duplex = link(SYS_CLASS_NET, name)
        nics[name] = dict({"driver": driver or "unknown", "firmware": firmware, "speed_mbps": speed,
                           "duplex": duplex}, **stats)
    module.exit_json(changed=False, nics=nics)


if __name__ == "__main__":
    main()
