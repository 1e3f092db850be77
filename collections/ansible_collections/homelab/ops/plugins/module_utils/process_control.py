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
- ``unit``: stop or restart the unit, only when the process is its main process (MainPID) and the unit a
  system service; ``signal``: SIGTERM, then SIGKILL after the timeout, to that process alone.

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


def never_stopped(pid, comm, unit, kernel_thread):
    """Why a process is never stopped through a plan, whatever the plan says; None when it may be.

    homelab.ops.host_health leaves such a process out of the steps it proposes with these same rules: one
    refused item fails the whole stop, and would hold back the fix of every other runaway with it.
    """
    if pid == 1:
        return "pid 1 is the host's init"
    if comm == "sshd":
        return "it is sshd, which this connection and every later one depend on"
    if unit and systemd_unit(unit):
        return "unit %s is part of systemd itself" % unit
    if kernel_thread:
        return "it is a kernel thread, which a signal cannot stop"
    return None


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


def never_limited(unit):
    """Why ``unit`` gets no resource limits through a plan ("" when it may): the units this module never stops,
    sshd's and systemd's own. The remediate role's check of ``remediate_limits`` asks this, through the
    collection's ``never_limited`` filter, so the two lists are one."""
    kept = kept_unit(unit, ())
    if kept:
        return "unit %s is never limited or stopped through a plan: %s" % (unit, kept)
    if systemd_unit(unit):
        return "unit %s is part of systemd itself: never limited or stopped through a plan" % unit
    return ""


def _shown(item):
    return "pid %s (%s)" % (item["pid"], item.get("cmdline") or "no command line")


def _user_manager(unit, cgroup):
    # A user's own systemd (user@UID.service) runs its units in its own tree: the system manager knows none
    # of them by that name, and stopping user@UID.service would end all of that user's processes.
    return any(part.startswith("user@") and part.endswith(".service")
               for part in (cgroup or "").split("/") + [unit])


def why_not_by_unit(pid, unit, cgroup, main_pid, own_units):
    """Why stopping ``unit`` would stop more than process ``pid`` (so only the process is signalled); None
    when the process is the unit's main process (MainPID) and the unit a system service.

    A session's scope holds a whole SSH login, a user manager's service every unit of that user, and a
    service's child (a job cron started) is not the service: stopping any of those ends more than the runaway.
    """
    kept = kept_unit(unit, own_units)
    if kept:
        return "unit %s is never stopped: %s" % (unit, kept)
    if not unit.endswith(".service"):
        return "unit %s is a scope (a session or a group started together): stopping it ends all of it" % unit
    if _user_manager(unit, cgroup):
        return "unit %s belongs to a user's own systemd, not the system's" % unit
    if main_pid != pid:
        return "it is not the main process of unit %s (that is pid %s): stopping the unit stops more" % (
            unit, main_pid or "none")
    return None


def same_process(item, seen):
    """Whether ``seen`` (what /proc shows now) is the reviewed ``item``: alive, same start time and command line."""
    return (seen is not None and seen.get("state") not in ("Z", "X")
            and seen["start_time"] == int(item["start_time"]) and seen["cmdline"] == item.get("cmdline", ""))


def decide(item, seen, own_pids, own_units, unit_state=None):
    """What to do with one reviewed ``item`` ({pid, start_time, cmdline, unit}).

    ``seen`` is the process now holding the pid ({comm, state, start_time, cmdline, cgroup}) or None when
    no process does; ``own_pids`` are this connection's processes (the module's ancestors), and
    ``own_units`` their units; ``unit_state`` is the named unit's (LoadState, ActiveState, MainPID).
    Returns (verdict, reason).
    """
    pid, unit = int(item["pid"]), item.get("unit") or ""
    why = never_stopped(pid, "", unit, False)
    if why:
        return "refuse", "%s: never stopped through a plan" % why
    if pid in own_pids:
        return "refuse", "%s is part of this connection (sshd or its session): never signalled" % _shown(item)
    alive = seen is not None and seen.get("state") not in ("Z", "X")
    if alive and not same_process(item, seen):
        now = (_shown(item), seen["start_time"], seen["cmdline"] or "no command line")
        return "skip", ("%s is not the reviewed process: the pid now belongs to another one (started at %s, %s); "
                        "it was not signalled" % now)
    load, active, main_pid = unit_state or ("not-found", "inactive", 0)
    if not alive:
        # Whatever runs in its unit now is not what was reviewed: the unit is left as it is.
        where = " (unit %s: %s, %s; left as it is)" % (unit, load, active) if unit else ""
        return "gone", "%s is already gone%s" % (_shown(item), where)
    if is_k3s_pod(seen["cgroup"]):
        return "refuse", "%s is a k3s pod's process: %s" % (_shown(item), K3S_HINT)
    actual = unit_of(seen["cgroup"])
    if unit and actual != unit:
        return "refuse", "%s is not in unit %s (its cgroup is %s)" % (_shown(item), unit, seen["cgroup"] or "none")
    why = never_stopped(pid, seen["comm"], actual, not seen["cmdline"])
    if why:
        return "refuse", "%s: %s; never signalled" % (_shown(item), why)
    why_not = why_not_by_unit(pid, unit, seen["cgroup"], main_pid, own_units) if unit else None
    if unit and why_not is None:
        return "unit", "%s is the main process of unit %s" % (_shown(item), unit)
    return "signal", "%s matches the reviewed process (same start time and command line)%s" % (
        _shown(item), "; only the process is signalled: %s" % why_not if why_not else "")


def act_on_each(decisions, act):
    """Each decided item acted on in turn (``act(item, verdict, reason) -> (verdict, reason, how)``; ``how`` is
    None when nothing was stopped), sorted into the module's result: stopped, already_gone, not_reviewed
    (another process holds the pid) and failures.

    One item's failure (a systemctl that fails, a signal the host refuses) is recorded with its error and the
    others still run: they are independent, and what was already stopped stays in the report.
    """
    result = {"stopped": [], "already_gone": [], "not_reviewed": [], "failures": []}
    for item, verdict, reason in decisions:
        shown = {"pid": item["pid"], "unit": item["unit"], "cmdline": item["cmdline"]}
        how = None
        if verdict in ("unit", "signal"):
            try:
                verdict, reason, how = act(item, verdict, reason)
            except Exception as exc:  # any error of this item is its own: the report keeps the rest
                verdict, reason = "failed", "%s: %s" % (type(exc).__name__, exc)
        if how is not None:
            result["stopped"].append(dict(shown, how=how, reason=reason))
        elif verdict == "gone":
            result["already_gone"].append(dict(shown, reason=reason))
        elif verdict == "skip":
            result["not_reviewed"].append(dict(shown, reason=reason))
        else:  # failed, or refused at the second look
            result["failures"].append(dict(shown, reason=reason))
    return result
