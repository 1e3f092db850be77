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

import re

# Units that keep the host and its remote access running: never stopped through a plan.
SSH_UNITS = ("ssh.service", "sshd.service")
#: A command line is kept (and compared) up to this many characters: enough to tell two processes apart.
MAX_CMDLINE = 256
K3S_HINT = "limits belong in the workload's manifest (its resources: requests and limits), not in a signal"


def parse_stat(text):
    """(comm, state, ppid, start_time) from /proc/PID/stat; the command name may hold spaces and parentheses,
    so the fields are counted after its last ')'. None when the text is not a stat line."""
    head, sep, rest = (text or "").rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 20:
        return None
    # rest starts at field 3 (state): field N is fields[N - 3].
    return head.partition("(")[2], fields[0], int(fields[1]), int(fields[19])


def join_cmdline(raw):
    """/proc/PID/cmdline (NUL-separated argv, bytes) as one line: the arguments joined by single spaces, cut to
    MAX_CMDLINE characters.

    The one normalisation of a command line: homelab.ops.host_health reports it and this module compares the
    process it finds against it, so a long (java, node) or double-spaced command line matches itself.
    """
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return visible(" ".join(part for part in raw.split("\0") if part))[:MAX_CMDLINE]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(value):
    """``value`` with each control character (C0, DEL, C1: ESC of an ANSI escape among them) written out as
    ``\\xNN``: text from a host reaches a person's terminal, where a raw escape could rewrite what they read."""
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), value)


def cgroup_path(text):
    """The process's cgroup path from /proc/PID/cgroup: the unified (``0::``) line, else systemd's v1 hierarchy
    (``name=systemd``), else "".

    On a cgroup v1 host the first line is any controller's (cpu, memory, …), whose path need not name the unit;
    systemd keeps its units in its own hierarchy. homelab.ops.host_health reads the unit through this same parser,
    so a diagnosis and a stop agree on it.
    """
    systemd = ""
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            if parts[0] == "0" and parts[1] == "":
                return parts[2].strip()
            if parts[1] == "name=systemd" and not systemd:
                systemd = parts[2].strip()
    return systemd


def unit_of(path):
    """The systemd unit a cgroup path is in: its innermost .service or .scope ("" when none)."""
    for part in reversed([p for p in path.split("/") if p]):
        if part.endswith((".service", ".scope")):
            return part
    return ""


def is_k3s_pod(path):
    """Whether a cgroup path is a Kubernetes pod's (k3s puts them under kubepods)."""
    return "kubepods" in path


def systemd_unit(unit):
    """Whether ``unit`` is part of systemd itself (pid 1's scope, systemd-* services, slices)."""
    return unit == "init.scope" or unit.startswith("systemd-") or unit.endswith(".slice")


def kept_unit(unit, own_units):
    """Why ``unit`` is never stopped, though a process in it other than sshd may be signalled; or None.

    Where sessions have no scope of their own (no logind, as in containers), a process started over SSH
    sits in sshd's unit: stopping the unit would end every session, signalling the one process does not.
    """
    if unit in SSH_UNITS:
        return "it is sshd's, which this connection and every later one depend on"
    if unit in own_units:
        return "it holds this connection's own session"
    return None


def _shown(item):
    return "pid %s (%s)" % (item["pid"], item.get("cmdline") or "no command line")


def decide(item, seen, own_pids, own_units, unit_state=None):
    """What to do with one reviewed ``item`` ({pid, start_time, cmdline, unit}).

    ``seen`` is the process now holding the pid ({comm, state, start_time, cmdline, cgroup}) or None when
    no process does; ``own_pids`` are this connection's processes (the module's ancestors), and
    ``own_units`` their units; ``unit_state`` is the named unit's (LoadState, ActiveState).
    Returns (verdict, reason).
    """
    pid, unit = int(item["pid"]), item.get("unit") or ""
    if pid == 1:
        return "refuse", "pid 1 is the host's init: never signalled"
    if pid in own_pids:
        return "refuse", "%s is part of this connection (sshd or its session): never signalled" % _shown(item)
    if unit and systemd_unit(unit):
        return "refuse", "unit %s is part of systemd itself: never stopped through a plan" % unit
    alive = seen is not None and seen.get("state") not in ("Z", "X")
    same = alive and seen["start_time"] == int(item["start_time"]) and seen["cmdline"] == item.get("cmdline", "")
    if alive and not same:
        now = (_shown(item), seen["start_time"], seen["cmdline"] or "no command line")
        return "skip", ("%s is not the reviewed process: the pid now belongs to another one (started at %s, %s); "
                        "it was not signalled" % now)
    by_unit = bool(unit) and kept_unit(unit, own_units) is None
    if not alive:
        load, active = unit_state or ("not-found", "inactive")
        if by_unit and load != "not-found" and active not in ("inactive", "failed"):
            return "unit", "the reviewed %s is gone, but its unit %s still runs" % (_shown(item), unit)
        where = " (unit %s: %s, %s)" % (unit, load, active) if unit else ""
        return "gone", "%s is already gone%s" % (_shown(item), where)
    if is_k3s_pod(seen["cgroup"]):
        return "refuse", "%s is a k3s pod's process: %s" % (_shown(item), K3S_HINT)
    if seen["comm"] == "sshd":
        return "refuse", "%s is sshd, which this connection and every later one depend on" % _shown(item)
    actual = unit_of(seen["cgroup"])
    if unit and actual != unit:
        return "refuse", "%s is not in unit %s (its cgroup is %s)" % (_shown(item), unit, seen["cgroup"] or "none")
    if systemd_unit(actual):
        return "refuse", "%s runs in %s, part of systemd itself: never signalled" % (_shown(item), actual)
    if by_unit:
        return "unit", "%s runs in unit %s" % (_shown(item), unit)
    if not seen["cmdline"]:
        return "refuse", "pid %s is a kernel thread: it cannot be stopped by a signal" % pid
    why = kept_unit(unit, own_units) if unit else None
    return "signal", "%s matches the reviewed process (same start time and command line)%s" % (
        _shown(item), "; its unit %s is never stopped (%s), so only the process is signalled" % (unit, why)
        if why else "")
