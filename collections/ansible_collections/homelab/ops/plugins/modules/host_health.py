#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_health
short_description: Say why a host is slow (runaway processes, memory, disks, I/O, failed units), changing nothing
description:
  - Samples every process's CPU time from C(/proc) three times, O(sample_seconds) apart. A process above
    O(cpu_threshold_pct) of one core in both samples is a runaway (a short spike is not), with its systemd
    unit and cgroup from C(/proc/PID/cgroup) and whether it runs in a k3s pod (its cgroup is under kubepods).
  - Reads the load against the host's cores, memory and swap (C(/proc/meminfo)), OOM kills (C(/proc/vmstat)),
    space and inodes of each real filesystem (statvfs; kernel filesystems and runtime trees are left out),
    I/O wait between the first and last C(/proc/stat) samples, failed units (C(systemctl --failed)) and recent
    errors in the journal (C(journalctl -p err -o json)), grouped by unit. Without systemd, C(skipped) says so.
  - Returns the fact C(homelab_discovered) with its C(health) entry, so a read playbook refreshes the inventory's
    discovered health, and the steps it proposes (C(proposals)).
  - Read-only; runs unchanged under C(--check) and always reports C(changed=false).
options:
  cpu_threshold_pct:
    description: Percent of one core (as top shows it) a process must exceed in both samples to be a runaway.
    type: int
    default: 80
  sample_seconds:
    description: Seconds between the CPU samples.
    type: int
    default: 3
  top_n:
    description: How many of the busiest processes to list.
    type: int
    default: 5
  disk_threshold_pct:
    description: Percent of a filesystem's space or inodes in use from which it is reported full.
    type: int
    default: 90
  journal_since:
    description: How far back to read the journal's errors, as C(journalctl --since) takes it.
    type: str
    default: 1 hour ago
extends_documentation_fragment:
  - homelab.ops.read_only
attributes:
  facts:
    description: Returns C(homelab_discovered) (its C(health) entry) in C(ansible_facts).
    support: full
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Diagnose the host
  homelab.ops.host_health:
    cpu_threshold_pct: 80
    sample_seconds: 3
  become: true
  register: _health
"""

RETURN = r"""
health:
  description: The host's health section (checked_at, cores, load, iowait_pct, memory, oom_kills, filesystems,
    failed_units, journal_errors, top, runaway, findings, skipped), as kept under discovered.health.
  returned: always
  type: dict
proposals:
  description: The steps this diagnosis proposes (steps with playbook, kind, vars and reason; manual items).
  returned: always
  type: dict
report:
  description: One line per finding (severity, id, summary, evidence), for a person.
  returned: always
  type: list
  elements: str
"""

import datetime
import os
import pwd
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils import host_health as hh
from ansible_collections.homelab.ops.plugins.module_utils.probes import Probes, read_text

_HZ = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _processes():
    """{pid: pid_stat} of every process now; one that exits while being read is left out."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                found[int(name)] = hh.pid_stat(read_text("/proc/%s/stat" % name, 4096))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _rates(before, after, seconds):
    """pid -> the process at ``after`` with its share of one core between the two readings."""
    out = {}
    for pid, now in after.items():
        old = before.get(pid)
        if old is not None and old["start_time"] == now["start_time"]:
            out[pid] = dict(now, cpu_pct=round(100.0 * (now["ticks"] - old["ticks"]) / (_HZ * seconds), 1))
    return out


def _describe(pid, proc):
    """The process's command line, user, unit, cgroup and k3s pod, read now."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read(4096)
        cgroup, unit, pod = hh.cgroup_of(read_text("/proc/%d/cgroup" % pid, 8192))
        uid = os.stat("/proc/%d" % pid).st_uid
    except OSError:
        raw, cgroup, unit, pod, uid = b"", "", "", False, None
    try:
        user = pwd.getpwuid(uid).pw_name if uid is not None else ""
    except KeyError:
        user = str(uid)
    return {"pid": pid, "start_time": proc["start_time"], "comm": hh.text(proc["comm"]),
            "cmdline": hh.cmdline(raw) or "[%s]" % hh.text(proc["comm"]), "user": hh.text(user),
            "cpu_pct": proc["cpu_pct"],
            "unit": unit, "cgroup": cgroup, "k3s_pod": pod}


def _sample(seconds):
    """Two CPU samples per process (three readings ``seconds`` apart) and /proc/stat at both ends."""
    cpu_before = hh.cpu_times(read_text("/proc/stat"))
    readings = [(time.monotonic(), _processes())]
    for _unused in range(2):
        time.sleep(seconds)
        readings.append((time.monotonic(), _processes()))
    cpu_after = hh.cpu_times(read_text("/proc/stat"))
    first = _rates(readings[0][1], readings[1][1], readings[1][0] - readings[0][0])
    second = _rates(readings[1][1], readings[2][1], readings[2][0] - readings[1][0])
    return first, second, hh.iowait_pct(cpu_before, cpu_after)


def _filesystems(probes):
    found = []
    for mount, fstype in hh.real_mounts(read_text("/proc/self/mounts", 1024 * 1024)):
        try:
            entry = hh.filesystem(mount, fstype, os.statvfs(mount))
        except OSError as exc:
            probes.errors.append("%s: %s" % (mount, exc.strerror or exc))
            continue
        if entry is not None:
            found.append(entry)
    return found[:hh.MAX_FILESYSTEMS]


def _systemd(probes, since, skipped):
    """Failed units and the journal's errors, where systemd runs."""
    if not os.path.isdir("/run/systemd/system"):
        skipped.append("failed units and journal: systemd is not running here (no /run/systemd/system)")
        return [], []
    failed, errors = [], []
    systemctl = probes.which("systemctl")
    if systemctl:
        out = probes.run("systemctl --failed", [systemctl, "--failed", "--no-legend", "--plain", "--no-pager"])
        failed = hh.failed_units(out) if out is not None else []
    else:
        skipped.append("failed units: systemctl is not installed")
    journalctl = probes.which("journalctl")
    if journalctl:
        out = probes.run("journalctl", [journalctl, "-p", "err", "--since", since, "-o", "json", "--no-pager",
                                        "-q", "-n", "1000"])
        errors = hh.journal_errors(out) if out is not None else []
    else:
        skipped.append("journal: journalctl is not installed")
    return failed, errors


def main():
    module = AnsibleModule(argument_spec={
        "cpu_threshold_pct": {"type": "int", "default": 80},
        "sample_seconds": {"type": "int", "default": 3},
        "top_n": {"type": "int", "default": 5},
        "disk_threshold_pct": {"type": "int", "default": 90},
        "journal_since": {"type": "str", "default": "1 hour ago"},
    }, supports_check_mode=True)
    p = module.params
    for name, low, high in (("cpu_threshold_pct", 1, 10000), ("sample_seconds", 1, 60), ("top_n", 0, 100),
                            ("disk_threshold_pct", 1, 100)):
        if not low <= p[name] <= high:
            module.fail_json(msg="%s must be between %d and %d, got %d" % (name, low, high, p[name]))
    probes = Probes(module, 30)
    skipped = []
    first, second, iowait = _sample(p["sample_seconds"])
    mem_text = read_text("/proc/meminfo", 16384)
    memory = hh.meminfo(mem_text)
    try:
        vmstat = hh.oom_kills(read_text("/proc/vmstat"))
    except OSError:
        vmstat = 0
        skipped.append("OOM kills: /proc/vmstat cannot be read")
    total_bytes = memory["total_mib"] * 2**20
    top = []
    for pid, proc in sorted(second.items(), key=lambda kv: (-kv[1]["cpu_pct"], kv[0]))[:p["top_n"]]:
        d = _describe(pid, proc)
        top.append({"pid": pid, "user": d["user"], "comm": d["comm"], "cmdline": d["cmdline"],
                    "cpu_pct": proc["cpu_pct"], "unit": d["unit"],
                    "mem_pct": round(100.0 * proc["rss_pages"] * _PAGE / total_bytes, 1) if total_bytes else 0.0})
    runaway = [_describe(r["pid"], r) for r in hh.runaways(first, second, p["cpu_threshold_pct"])]
    failed, journal = _systemd(probes, p["journal_since"], skipped)
    filesystems = _filesystems(probes)
    skipped.extend("%s: %s" % (e["probe"], e["message"]) if isinstance(e, dict) else e for e in probes.errors)
    health = {
        "checked_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "cores": hh.cores(read_text("/proc/cpuinfo", 1024 * 1024), os.cpu_count() or 1),
        "load": hh.load(read_text("/proc/loadavg")),
        "iowait_pct": iowait, "memory": memory, "oom_kills": vmstat,
        "filesystems": filesystems, "failed_units": failed, "journal_errors": journal,
        "top": top, "runaway": runaway, "findings": [], "skipped": [hh.text(s) for s in skipped],
    }
    health["findings"] = hh.findings(health, p["cpu_threshold_pct"], p["disk_threshold_pct"], p["sample_seconds"])
    module.exit_json(changed=False, ansible_facts={"homelab_discovered": {"health": health}}, health=health,
                     proposals=hh.proposals(health), report=hh.report_lines(health))


if __name__ == "__main__":
    main()
