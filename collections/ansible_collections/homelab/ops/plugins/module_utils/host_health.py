# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Why a host is slow, from what /proc, statvfs, systemctl and journalctl say: the judgement.

homelab.ops.host_health gathers; everything here is a plain function over text and numbers, so the
unit tests call it without Ansible or a host. Runs on the managed host under its own Python (3.9
syntax, standard library only).

A process is a runaway only when it stays above the threshold in two consecutive samples: a
compiler or a backup that spikes for a second is not one. Proposals follow the fixed contract:
the routine fix (stop the runaway processes that are not k3s pods), the permanent one (resource
limits for their units) and, for k3s pods, a step for the person (limits belong in the manifest).
"""

from __future__ import annotations

import json
import re

from ansible_collections.homelab.ops.plugins.module_utils import process_control as pc

MAX_TEXT = 256
MAX_JOURNAL_GROUPS = 10
MAX_FAILED_UNITS = 50
MAX_FILESYSTEMS = 64
#: The finding ids (fixed by the catalog's contract) and the PROCEDURES.md step each one points to.
RUNBOOK = {
    "cpu-runaway": "Runaway processes",
    "load-high": "Runaway processes",
    "memory-low": "Memory pressure",
    "swap-heavy": "Memory pressure",
    "oom-kills": "Memory pressure",
    "disk-full": "Filesystem full",
    "inodes-full": "Filesystem full",
    "iowait-high": "Slow storage",
    "failed-units": "Failed units",
    "journal-errors": "Errors in the journal",
}
#: Kernel and virtual filesystems: nothing a person fills.
PSEUDO_FS = frozenset((
    "proc", "sysfs", "cgroup", "cgroup2", "devtmpfs", "devpts", "mqueue", "debugfs", "tracefs", "securityfs",
    "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "autofs", "binfmt_misc", "efivarfs", "rpc_pipefs",
    "nsfs", "ramfs", "squashfs", "iso9660", "fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal", "selinuxfs",
))
#: Runtime trees and container engines' private mounts: their tmpfs and overlays are not storage a person
#: manages (a pod's secret volume, a container's root).
_RUNTIME_TREES = ("/proc", "/sys", "/dev", "/run", "/var/lib/kubelet/", "/var/lib/docker/",
                  "/var/lib/containers/", "/var/lib/rancher/k3s/agent/", "/snap/")


def text(value, limit=MAX_TEXT):
    """``value`` as one line of at most ``limit`` characters, its control characters written out (``\\x1b``).

    Every text field this diagnosis reports comes from the host (command lines, unit names, journal messages)
    and ends up on a person's terminal.
    """
    return pc.visible(" ".join(str(value).split()))[:limit]


def cpu_times(stat_text):
    """(busy, iowait, total) clock ticks from /proc/stat's aggregate ``cpu`` line."""
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:]]
            # user nice system idle iowait irq softirq steal (guest time is already in user).
            values += [0] * (8 - len(values))
            total = sum(values[:8])
            return total - values[3] - values[4], values[4], total
    raise ValueError("/proc/stat has no cpu line")


def iowait_pct(before, after):
    """The share of CPU time spent waiting for I/O between two :func:`cpu_times` readings."""
    total = after[2] - before[2]
    return round(100.0 * (after[1] - before[1]) / total, 1) if total > 0 else 0.0


def pid_stat(stat_text):
    """comm, state, utime+stime (ticks), start_time (field 22) and rss (pages) from /proc/PID/stat.

    comm is between the first "(" and the last ")": it may itself hold spaces and parentheses.
    """
    head, _unused, rest = stat_text.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()
    # fields[0] is field 3 (state); field N is fields[N - 3].
    return {"comm": comm, "state": fields[0], "ticks": int(fields[11]) + int(fields[12]),
            "start_time": int(fields[19]), "rss_pages": int(fields[21])}


def cmdline(raw):
    """The NUL-separated argv of /proc/PID/cmdline as homelab.ops.process_control compares it (one normalisation)."""
    return pc.join_cmdline(raw)


def cgroup_of(cgroup_text):
    """(cgroup path, unit, k3s_pod) from /proc/PID/cgroup, parsed as homelab.ops.process_control parses it."""
    path = pc.cgroup_path(cgroup_text)
    return text(path), text(pc.unit_of(path)), pc.is_k3s_pod(path)


def runaways(first, second, threshold_pct):
    """Processes above ``threshold_pct`` of one core in both samples, highest first.

    ``first`` and ``second`` map pid -> {"start_time", "cpu_pct", …}: a pid whose start_time differs
    between the samples is another process that reused it, and counts in neither.
    """
    found = []
    for pid, now in second.items():
        before = first.get(pid)
        if before is None or before["start_time"] != now["start_time"]:
            continue
        low = min(before["cpu_pct"], now["cpu_pct"])
        if low > threshold_pct:
            found.append(dict(now, pid=pid, cpu_pct=low))
    return sorted(found, key=lambda p: (-p["cpu_pct"], p["pid"]))


def meminfo(meminfo_text):
    """total, available, swap total and swap used in MiB from /proc/meminfo."""
    kib = {}
    for line in meminfo_text.splitlines():
        name, _unused, value = line.partition(":")
        fields = value.split()
        if fields and fields[0].isdigit():
            kib[name.strip()] = int(fields[0])
    total = kib.get("MemTotal", 0)
    available = kib.get("MemAvailable", kib.get("MemFree", 0))
    swap_total = kib.get("SwapTotal", 0)
    return {"total_mib": total // 1024, "available_mib": available // 1024, "swap_total_mib": swap_total // 1024,
            "swap_used_mib": (swap_total - kib.get("SwapFree", swap_total)) // 1024}


def oom_kills(vmstat_text):
    """The kernel's count of OOM kills since boot (/proc/vmstat ``oom_kill``; 0 on kernels without it)."""
    for line in vmstat_text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "oom_kill":
            return int(fields[1])
    return 0


def load(loadavg_text):
    """The 1, 5 and 15 minute load averages from /proc/loadavg."""
    return [float(v) for v in loadavg_text.split()[:3]]


def cores(cpuinfo_text, fallback):
    """How many CPUs /proc/cpuinfo lists (the host's own view: a container's is the one it is given)."""
    count = sum(1 for line in cpuinfo_text.splitlines() if line.split(":")[0].strip() == "processor")
    return count or fallback


def _unescape(field):
    # /proc/self/mounts writes a space as \040, a tab as \011, a newline as \012 and a backslash as \134.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def real_mounts(mounts_text):
    """(mount, fstype) of each filesystem worth watching in /proc/self/mounts, in order, each mount once.

    Kernel filesystems and runtime trees are left out. tmpfs counts where a person puts files (/tmp,
    /srv/…): it fills like a disk and fails writes the same way.
    """
    seen = set()
    found = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount, fstype = _unescape(fields[1]), fields[2]
        if fstype in PSEUDO_FS or mount in seen:
            continue
        if mount != "/" and (mount + "/").startswith(tuple(t if t.endswith("/") else t + "/"
                                                           for t in _RUNTIME_TREES)):
            continue
        seen.add(mount)
        found.append((mount, fstype))
    return found


def filesystem(mount, fstype, st):
    """One filesystems entry from an ``os.statvfs`` result; None for one without blocks (nothing to fill)."""
    if not st.f_blocks:
        return None
    used = st.f_blocks - st.f_bfree
    # As df computes Use%: used against what an unprivileged user can have (root's reserve left out).
    usable = used + st.f_bavail
    inodes_used = st.f_files - st.f_ffree
    return {"mount": text(mount), "fstype": text(fstype), "size_mib": st.f_blocks * st.f_frsize // 2**20,
            "used_pct": round(100.0 * used / usable, 1) if usable else 100.0,
            "inodes_used_pct": round(100.0 * inodes_used / st.f_files, 1) if st.f_files else 0.0}


def failed_units(systemctl_text):
    """Unit names from ``systemctl --failed --no-legend --plain``."""
    names = []
    for line in systemctl_text.splitlines():
        fields = line.replace("\u25cf", " ").split()
        if fields:
            names.append(text(fields[0]))
    return names[:MAX_FAILED_UNITS]


def _message(value):
    # journald sends a message that is not valid UTF-8 as a list of byte values.
    if isinstance(value, list):
        value = bytes(v for v in value if isinstance(v, int) and 0 <= v < 256).decode("utf-8", "replace")
    return text(value if value is not None else "")


def journal_errors(json_lines):
    """``journalctl -o json`` lines grouped by unit: its latest message and how many there were, most first."""
    groups = {}
    for line in json_lines.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        unit = entry.get("_SYSTEMD_UNIT") or entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM") or "kernel"
        group = groups.setdefault(text(unit), {"unit": text(unit), "message": "", "count": 0})
        group["count"] += 1
        group["message"] = _message(entry.get("MESSAGE"))
    return sorted(groups.values(), key=lambda g: (-g["count"], g["unit"]))[:MAX_JOURNAL_GROUPS]


def _finding(fid, severity, summary, evidence):
    return {"id": fid, "severity": severity, "summary": text(summary), "evidence": text(evidence, 1024),
            "runbook": RUNBOOK[fid]}


def _level(value, warning, critical):
    return "critical" if value >= critical else "warning" if value >= warning else None


def findings(health, cpu_threshold_pct, disk_threshold_pct, sample_seconds):
    """The findings the fixed ids name, worst first, from one host's health section."""
    out = []
    for p in health["runaway"]:
        where = p["unit"] or ("a k3s pod" if p["k3s_pod"] else "no unit")
        out.append(_finding(
            "cpu-runaway", "critical" if p["cpu_pct"] >= 95 else "warning",
            "%s (pid %d, %s) keeps %.0f %% of a core busy" % (
                p["cmdline"] or p["comm"], p["pid"], where, p["cpu_pct"]),
            "pid %d start_time %d user %s: at least %.1f %% of one core in both %d s samples (threshold %d %%); "
            "cgroup %s" % (p["pid"], p["start_time"], p["user"], p["cpu_pct"], sample_seconds, cpu_threshold_pct,
                           p["cgroup"] or "unknown")))
    per_core = health["load"][1] / max(health["cores"], 1)
    level = _level(per_core, 1.0, 2.0)
    if level:
        out.append(_finding("load-high", level, "load is %.2f per core over 5 minutes" % per_core,
                            "load %s on %d cores" % (" ".join("%.2f" % v for v in health["load"]), health["cores"])))
    mem = health["memory"]
    if mem["total_mib"]:
        free_pct = 100.0 * mem["available_mib"] / mem["total_mib"]
        level = _level(100 - free_pct, 90, 95)
        if level:
            out.append(_finding("memory-low", level, "only %.0f %% of the memory is available" % free_pct,
                                "MemAvailable %d MiB of %d MiB" % (mem["available_mib"], mem["total_mib"])))
    if mem["swap_total_mib"]:
        swap_pct = 100.0 * mem["swap_used_mib"] / mem["swap_total_mib"]
        level = _level(swap_pct, 50, 80)
        if level:
            out.append(_finding("swap-heavy", level, "%.0f %% of the swap is in use" % swap_pct,
                                "swap %d MiB used of %d MiB" % (mem["swap_used_mib"], mem["swap_total_mib"])))
    if health["oom_kills"]:
        out.append(_finding("oom-kills", "warning", "the kernel killed %d process(es) for memory since boot"
                            % health["oom_kills"], "/proc/vmstat oom_kill %d" % health["oom_kills"]))
    for fs in health["filesystems"]:
        for fid, key, what in (("disk-full", "used_pct", "space"), ("inodes-full", "inodes_used_pct", "inodes")):
            level = _level(fs[key], disk_threshold_pct, max(disk_threshold_pct, 97))
            if level:
                out.append(_finding(fid, level, "%s is %.0f %% full (%s)" % (fs["mount"], fs[key], what),
                                    "%s %s: %s %.1f %% used of %d MiB (threshold %d %%)" % (
                                        fs["mount"], fs["fstype"], what, fs[key], fs["size_mib"],
                                        disk_threshold_pct)))
    level = _level(health["iowait_pct"], 20, 50)
    if level:
        out.append(_finding("iowait-high", level, "the CPUs wait for I/O %.0f %% of the time" % health["iowait_pct"],
                            "iowait %.1f %% over %d s" % (health["iowait_pct"], 2 * sample_seconds)))
    if health["failed_units"]:
        out.append(_finding("failed-units", "warning", "%d unit(s) failed" % len(health["failed_units"]),
                            ", ".join(health["failed_units"])))
    if health["journal_errors"]:
        count = sum(g["count"] for g in health["journal_errors"])
        out.append(_finding("journal-errors", "info", "%d error(s) in the journal" % count,
                            "; ".join("%s x%d: %s" % (g["unit"], g["count"], g["message"])
                                      for g in health["journal_errors"][:3])))
    rank = {"critical": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda f: rank[f["severity"]])


# CPUQuota=50% holds a runaway to half of one core: the host keeps its other cores and most of that one
# for the work that matters, while a service that only spins now and then still gets real work done. A
# person who knows the service's needs sets a better value in the plan.
DEFAULT_CPU_QUOTA_PCT = 50


def proposals(health):
    """The steps this diagnosis proposes for its host (the fixed ``homelab_proposals`` shape)."""
    pods = [p for p in health["runaway"] if p["k3s_pod"]]
    # What homelab.ops.process_control would refuse is left to the person: one refused item fails the stop
    # of all the others.
    kept = [(p, _never_stopped(p)) for p in health["runaway"] if not p["k3s_pod"] and _never_stopped(p)]
    plain = [p for p in health["runaway"] if not p["k3s_pod"] and not _never_stopped(p)]
    steps = []
    if plain:
        named = _first_few(["%s (pid %d)" % (p["comm"], p["pid"]) for p in plain])
        steps.append({
            "playbook": "remediate_runaway_processes", "kind": "standard",
            "vars": {"remediate_processes": [{"pid": p["pid"], "start_time": p["start_time"],
                                              "cmdline": p["cmdline"], "unit": p["unit"]} for p in plain],
                     "remediate_action": "stop"},
            "reason": "Stop %s: each kept a core busy in both samples." % named})
        # Limits go to the system services a stop takes down; a scope (an SSH session's) is gone once its
        # processes are, and sshd's unit is never limited (homelab.ops.process_control's list).
        units = sorted({p["unit"] for p in plain if p["unit"].endswith(".service") and not pc.kept_unit(p["unit"], ())})
        if units:
            steps.append({
                "playbook": "remediate_runaway_processes", "kind": "permanent",
                "vars": {"remediate_processes": [],
                         "remediate_limits": [{"unit": u, "cpu_quota_pct": DEFAULT_CPU_QUOTA_PCT,
                                               "memory_max_mib": 0} for u in units]},
                "reason": "Limit %s to %d %% of a core, should the runaway come back." % (
                    _first_few(units), DEFAULT_CPU_QUOTA_PCT)})
    manual = [{"title": "add resources.limits to %s's manifest" % _pod_name(p),
               "reason": "%s (pid %d) runs in a k3s pod: its limits belong in the workload's manifest, and "
                         "stopping it here would only have k3s start it again." % (p["comm"], p["pid"])}
              for p in pods]
    manual += [{"title": "%s (pid %d) in %s is busy: look at it yourself; the tool never stops it"
                         % (p["comm"], p["pid"], p["unit"] or "no unit"),
                "reason": text("It kept a core busy in both samples, but %s." % why, 500)} for p, why in kept]
    return {"steps": steps, "manual": manual}


#: A proposal's reason names this many processes or units, then how many more: the planner drops a proposal
#: whose reason is longer than 500 characters, and the step's variables name every one anyway.
REASON_NAMES = 3


def _first_few(names):
    shown = ", ".join(text(n, 100) for n in names[:REASON_NAMES])
    return shown + (" and %d more" % (len(names) - REASON_NAMES) if len(names) > REASON_NAMES else "")


def _never_stopped(process):
    # A kernel thread has no command line: the diagnosis shows it as [comm], as ps does.
    kernel = process["cmdline"] == "[%s]" % process["comm"]
    return pc.never_stopped(process["pid"], process["comm"], process["unit"], kernel)


def _pod_name(process):
    # The pod's uid is what its cgroup names (kubepods-…-pod<uid>.slice or …/pod<uid>/…).
    match = re.search(r"pod([0-9a-f][0-9a-f_-]{7,})(?:\.slice)?(?:/|$)", process["cgroup"])
    return "pod " + match.group(1).replace("_", "-") if match else "the pod of " + process["comm"]


def report_lines(health):
    """The review's readable lines: each finding with its severity, summary and evidence."""
    if not health["findings"]:
        return ["nothing wrong found (load %s on %d cores, no runaway process)" % (
            " ".join("%.2f" % v for v in health["load"]), health["cores"])]
    return ["%s %s: %s (%s)" % (f["severity"], f["id"], f["summary"], f["evidence"]) for f in health["findings"]]
