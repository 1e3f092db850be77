# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""What homelab.ops.process_control may do to each process a plan names, decided from plain data.

A reviewed process is named by its pid, its start time (field 22 of /proc/PID/stat, clock ticks
since boot) and its command line: together they name one process, never a later one that reuses
the pid. These functions parse what /proc shows and decide, for each item, one of:

- ``refuse``: never acted on, whatever the plan says (pid 1, the connection's own processes, units
  of systemd itself or of sshd, k3s pods, a process that is not in the unit the plan names);
- ``gone``: the process (and its unit) already stopped: nothing to do;
- ``skip``: the pid now belongs to another process: it is not the reviewed one and is never signalled;
- ``unit``: stop or restart the unit; ``signal``: SIGTERM, then SIGKILL after the timeout.

Runs on the managed host under its own Python (3.9 syntax, standard library only).
"""

from __future__ import annotations

# Units that keep the host and its remote access running: never stopped through a plan.
SSH_UNITS = ("ssh.service", "sshd.service")
K3S_HINT = "limits belong in the workload's manifest (its resources: requests and limits), not in a signal"


def parse_stat(text):
    """(state, ppid, start_time) from /proc/PID/stat; the command name may hold spaces and parentheses,
    so the fields are counted after its last ')'. None when the text is not a stat line."""
    _, sep, rest = (text or "").rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 20:
        return None
    # rest starts at field 3 (state): field N is fields[N - 3].
    return fields[0], int(fields[1]), int(fields[19])


def join_cmdline(raw):
    """/proc/PID/cmdline (NUL-separated argv, bytes) as one line: the arguments joined by single spaces."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return " ".join(part for part in raw.split("\0") if part)


def cgroup_path(text):
    """The process's cgroup v2 path (the ``0::`` line), else the first hierarchy's path."""
    paths = []
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            if parts[0] == "0" and parts[1] == "":
                return parts[2]
            paths.append(parts[2])
    return paths[0] if paths else ""


def unit_of(path):
    """The systemd unit a cgroup path is in: its innermost .service or .scope ("" when none)."""
    for part in reversed([p for p in path.split("/") if p]):
        if part.endswith((".service", ".scope")):
            return part
    return ""


def is_k3s_pod(path):
    """Whether a cgroup path is a Kubernetes pod's (k3s puts them under kubepods)."""
    return "kubepods" in path


def protected_unit(unit, own_units):
    """Why ``unit`` is never stopped through a plan, or None."""
    if unit == "init.scope" or unit.startswith("systemd-") or unit.endswith(".slice"):
        return "it is part of systemd itself"
    if unit in SSH_UNITS:
        return "it is sshd, which this connection and every later one depend on"
    if unit in own_units:
        return "it holds this connection's own session"
    return None


def _shown(item):
    return "pid %s (%s)" % (item["pid"], item.get("cmdline") or "no command line")


def decide(item, seen, own_pids, own_units, unit_state=None):
    """What to do with one reviewed ``item`` ({pid, start_time, cmdline, unit}).

    ``seen`` is the process now holding the pid ({state, start_time, cmdline, cgroup}) or None when
    no process does; ``own_pids`` are this connection's processes (the module's ancestors), and
    ``own_units`` their units; ``unit_state`` is the named unit's (LoadState, ActiveState).
    Returns (verdict, reason).
    """
    pid, unit = int(item["pid"]), item.get("unit") or ""
    if pid == 1:
        return "refuse", "pid 1 is the host's init: never signalled"
    if pid in own_pids:
        return "refuse", "%s is part of this connection (sshd or its session): never signalled" % _shown(item)
    if unit:
        why = protected_unit(unit, own_units)
        if why:
            return "refuse", "unit %s is never stopped through a plan: %s" % (unit, why)
    alive = seen is not None and seen.get("state") not in ("Z", "X")
    same = alive and seen["start_time"] == int(item["start_time"]) and seen["cmdline"] == item.get("cmdline", "")
    if alive and not same:
        return "skip", ("%s is not the reviewed process: the pid now belongs to another one (started at %s, %s); "
                        "it was not signalled" % (_shown(item), seen["start_time"], seen["cmdline"] or "no command line"))
    if same and is_k3s_pod(seen["cgroup"]):
        return "refuse", "%s is a k3s pod's process: %s" % (_shown(item), K3S_HINT)
    if unit:
        if same and unit_of(seen["cgroup"]) != unit:
            return "refuse", "%s is not in unit %s (its cgroup is %s)" % (_shown(item), unit, seen["cgroup"] or "none")
        load, active = unit_state or ("not-found", "inactive")
        if load == "not-found" or active in ("inactive", "failed"):
            return "gone", "unit %s is no longer running (%s, %s)" % (unit, load, active)
        if same:
            return "unit", "%s runs in unit %s" % (_shown(item), unit)
        return "unit", "the reviewed %s is gone, but its unit %s still runs" % (_shown(item), unit)
    if not alive:
        return "gone", "%s is already gone" % _shown(item)
    if not seen["cmdline"]:
        return "refuse", "pid %s is a kernel thread: it cannot be stopped by a signal" % pid
    # Another process of this connection's session scope may be signalled (it is not the connection):
    # only the whole scope is protected, from a unit stop.
    why = protected_unit(unit_of(seen["cgroup"]), ())
    if why:
        return "refuse", "%s runs in unit %s, which is never stopped through a plan: %s" % (
            _shown(item), unit_of(seen["cgroup"]), why)
    return "signal", "%s matches the reviewed process (same start time and command line)" % _shown(item)
