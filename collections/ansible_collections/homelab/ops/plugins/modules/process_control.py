#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: process_control
short_description: Stop exactly the reviewed processes, by unit or by pid, start time and command line
description:
  - Each item names one process as a diagnosis saw it (pid, start time, command line) and its
    systemd unit. When the process is its unit's main process (C(MainPID)) and the unit a system
    service, the unit is stopped or restarted (C(systemctl)). Otherwise (no unit, a session's or
    other scope, a unit of a user's own systemd, a child of a service such as a job cron started)
    only that process gets SIGTERM and, when it is still there after O(stop_timeout_s), SIGKILL;
    C(how) in the result says which.
  - A process is acted on only when it is still the reviewed one, checked again right before its
    unit is stopped or it is signalled (a signal goes through a pidfd where the host has them, so
    it can never reach a later process that reuses the pid). A pid now held by another
    process (another start time or command line) is never signalled; its item is reported as
    skipped. A process already gone (its unit stopped) is reported as such, unchanged.
  - Refused, whatever the item says, and the module fails before it acts on any item, naming each
    one; pid 1, this connection's own sshd and session, units of systemd itself and of sshd, a
    process of a k3s pod (its cgroup is under kubepods; limits belong in the workload's manifest),
    and a process that is not in the unit its item names.
  - In check mode nothing is signalled or stopped; the result lists exactly which processes it
    would stop, with pid, unit and command line, and reports a change when there is any.
options:
  processes:
    description: The reviewed processes. C(unit) is the empty string for a process outside any unit.
    type: list
    elements: dict
    required: true
    suboptions:
      pid:
        description: The process id.
        type: int
        required: true
      start_time:
        description: Field 22 of C(/proc/PID/stat) when it was reviewed (clock ticks since boot).
        type: int
        required: true
      cmdline:
        description: Its arguments joined by single spaces, as reviewed.
        type: str
        required: true
      unit:
        description: Its systemd unit, or the empty string.
        type: str
        default: ""
  action:
    description: For a process stopped by its unit, stop or restart the unit. A process signalled alone is stopped.
    type: str
    choices: [stop, restart]
    default: stop
  stop_timeout_s:
    description: Seconds to wait after SIGTERM before SIGKILL, for a process without a unit.
    type: int
    default: 10
attributes:
  check_mode:
    description: Reports what it would stop and stops nothing.
    support: full
  diff_mode:
    description: Each process it stops (would stop) as it runs now and how it is stopped.
    support: full
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Stop the reviewed runaway processes
  homelab.ops.process_control:
    processes:
      - {pid: 4242, start_time: 1234567, cmdline: python3 /usr/local/bin/lab-cpu-hog, unit: lab-cpu-hog.service}
    stop_timeout_s: 10
  register: _stopped
"""

RETURN = r"""
stopped:
  description: The processes stopped (in check mode, that it would stop), each with pid, unit, cmdline and how.
  returned: always
  type: list
  elements: dict
already_gone:
  description: Reviewed processes that had already stopped, each with pid, unit, cmdline and why.
  returned: always
  type: list
  elements: dict
not_reviewed:
  description:
    - Items whose pid now belongs to another process, never signalled, each with the reason (the role
      reports them as skipped; a result key C(skipped) would mark the task itself as skipped).
  returned: always
  type: list
  elements: dict
failures:
  description:
    - Items whose stop failed (a C(systemctl) that failed, a signal refused), or that the check right
      before the stop refused, each with the error. The module fails, after it has gone through every
      item, when there is any; the other lists still say what was done.
  returned: always
  type: list
  elements: dict
"""

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.process_control import (
    act_on_each,
    cgroup_path,
    decide,
    join_cmdline,
    parse_stat,
    same_process,
    unit_of,
)

_LOCALE = {"LC_ALL": "C", "LANG": "C", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": ""}


def _read(path, binary=False):
    with open(path, "rb" if binary else "r") as f:
        return f.read(64 * 1024)


def observe(pid):
    """The process now holding ``pid`` ({state, ppid, start_time, cmdline, cgroup}), or None."""
    base = "/proc/%d" % pid
    try:
        stat = parse_stat(_read(base + "/stat"))
        if stat is None:
            return None
        cmdline = join_cmdline(_read(base + "/cmdline", binary=True))
        cgroup = cgroup_path(_read(base + "/cgroup"))
    except OSError:
        return None
    return {"comm": stat[0], "state": stat[1], "ppid": stat[2], "start_time": stat[3], "cmdline": cmdline,
            "cgroup": cgroup}


def own_processes():
    """This module's ancestors up to pid 1 (python, sudo, the shell, sshd's session and listener) and their units."""
    pids, units = set(), set()
    pid = os.getpid()
    for _unused in range(64):  # bounded: a chain of parents is short
        seen = observe(pid)
        if seen is None or pid <= 1:
            break
        pids.add(pid)
        if unit_of(seen["cgroup"]):
            units.add(unit_of(seen["cgroup"]))
        pid = seen["ppid"]
    return pids, units


def unit_state(module, unit):
    """(LoadState, ActiveState, MainPID) of a system unit; a unit systemd does not know is not-found."""
    rc, out, _unused = module.run_command(
        ["systemctl", "show", "-p", "LoadState", "-p", "ActiveState", "-p", "MainPID", "--", unit],
        environ_update=_LOCALE, check_rc=False)
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    main_pid = values.get("MainPID", "0")
    return (values.get("LoadState", "not-found"), values.get("ActiveState", "inactive"),
            int(main_pid) if main_pid.isdigit() else 0)


def gone_or_zombie(pid, start_time):
    seen = observe(pid)
    return seen is None or seen["start_time"] != start_time or seen["state"] in ("Z", "X")


def _pidfd(pid):
    """A pidfd for ``pid`` (Linux 5.3 and Python 3.9 on), or None where there is none; ProcessLookupError
    when no process holds the pid."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except ProcessLookupError:
        raise
    except OSError:  # ENOSYS: a kernel without pidfds
        return None


def terminate(item, timeout):
    """SIGTERM, then SIGKILL when it is still there after ``timeout`` seconds: how it ended; None when the pid
    no longer holds the reviewed process (nothing was signalled).

    Items before this one can take seconds, so the process is checked again here. With a pidfd the check is
    exact: the fd names the process that held the pid when it was opened, and a process /proc shows with the
    reviewed (earlier) start time held the pid then, so it is the fd's; every signal then goes through the fd
    and can never reach a later process. Without pidfds the check is repeated right before each kill.
    """
    pid, start_time = item["pid"], item["start_time"]
    try:
        fd = _pidfd(pid)
    except ProcessLookupError:
        return "gone before the signal"
    try:
        if not same_process(item, observe(pid)):
            return None

        def send(sig):
            if fd is not None:
                signal.pidfd_send_signal(fd, sig)
            elif same_process(item, observe(pid)):
                os.kill(pid, sig)
            else:
                raise ProcessLookupError(pid)

        try:
            send(signal.SIGTERM)
        except ProcessLookupError:
            return "gone before the signal"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if gone_or_zombie(pid, start_time):
                return "SIGTERM"
            time.sleep(0.1)
        try:
            send(signal.SIGKILL)
        except ProcessLookupError:
            return "SIGTERM"
        for _unused in range(50):
            if gone_or_zombie(pid, start_time):
                break
            time.sleep(0.1)
        return "SIGKILL after %d s" % timeout
    finally:
        if fd is not None:
            os.close(fd)


def alone(item):
    """The words that say a process in a unit was signalled without its unit (the report's ``how``)."""
    return " (the process alone, not unit %s)" % item["unit"] if item["unit"] else ""


def main():
    module = AnsibleModule(
        argument_spec={
            "processes": {"type": "list", "elements": "dict", "required": True, "options": {
                "pid": {"type": "int", "required": True},
                "start_time": {"type": "int", "required": True},
                "cmdline": {"type": "str", "required": True},
                "unit": {"type": "str", "default": ""},
            }},
            "action": {"type": "str", "choices": ["stop", "restart"], "default": "stop"},
            "stop_timeout_s": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    action, timeout = module.params["action"], module.params["stop_timeout_s"]
    if timeout < 0:
        module.fail_json(msg="stop_timeout_s is seconds to wait after SIGTERM: 0 or more")
    own_pids, own_units = own_processes()
    decisions = []
    for item in module.params["processes"]:
        state = unit_state(module, item["unit"]) if item["unit"] else None
        verdict, reason = decide(item, observe(item["pid"]), own_pids, own_units, state)
        decisions.append((item, verdict, reason))
    refused = [reason for _unused, verdict, reason in decisions if verdict == "refuse"]
    if refused:
        # Nothing is acted on: a plan that names any of these is not the plan a person should apply.
        module.fail_json(msg="Refused, nothing was stopped: " + "; ".join(refused), refused=refused)

    def act(item, verdict, reason):
        if module.check_mode:
            how = ("%s unit %s" % (action, item["unit"]) if verdict == "unit"
                   else "SIGTERM, SIGKILL after %d s" % timeout + alone(item))
            return verdict, reason, "would " + how
        # Earlier items can take seconds (a unit's stop, a SIGTERM's wait): the pid may have changed
        # hands, or the unit its main process, since the first look. The second look decides.
        state = unit_state(module, item["unit"]) if item["unit"] else None
        verdict, reason = decide(item, observe(item["pid"]), own_pids, own_units, state)
        if verdict == "unit":
            rc, out, err = module.run_command(["systemctl", action, "--", item["unit"]], environ_update=_LOCALE)
            if rc != 0:
                raise RuntimeError("systemctl %s %s exited %d: %s" % (action, item["unit"], rc,
                                                                      (err or out).strip() or "no output"))
            return verdict, reason, "%s unit %s" % (action, item["unit"])
        if verdict == "signal":
            how = terminate(item, timeout)
            if how is None:
                return "skip", "pid %s changed hands right before the signal: it was not signalled" % item["pid"], None
            return verdict, reason, how + alone(item)
        return verdict, reason, None

    result = act_on_each(decisions, act)
    changed = bool(result["stopped"])
    if changed and module._diff:
        # The review shows diffs: each process as it runs now, and how it is (or would be) stopped.
        line = "pid %(pid)s  unit %(unit)s  %(cmdline)s"
        result["diff"] = {
            "before": "".join((line % dict(p, unit=p["unit"] or "-")) + "  running\n" for p in result["stopped"]),
            "after": "".join((line % dict(p, unit=p["unit"] or "-")) + "  stopped (%s)\n" % p["how"]
                             for p in result["stopped"]),
        }
    verb = "would stop" if module.check_mode else "stopped"
    msg = "%s %d, already gone %d, skipped %d (not the reviewed process)" % (
        verb, len(result["stopped"]), len(result["already_gone"]), len(result["not_reviewed"]))
    if result["failures"]:
        # At the end, with the whole report: what was stopped before the failure is still stopped.
        module.fail_json(changed=changed, msg="failed %d: %s; %s" % (
            len(result["failures"]), "; ".join("pid %(pid)s: %(reason)s" % f for f in result["failures"]), msg),
            **result)
    module.exit_json(changed=changed, msg=msg, **result)


if __name__ == "__main__":
    main()
