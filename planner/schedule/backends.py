"""The two ways a controller runs a job later: a transient systemd timer, or ``at``.

A real controller runs systemd, and its user manager takes the job
(``systemd-run --user --on-calendar``; root's goes to the system manager).
Where no systemd manager answers (containers, CI) ``at`` and its daemon atd
take it. Both get the same absolute time, the same command, working
directory and environment, and append the job's output to the same log.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from planner.errors import ExitCode, HomelabError
from planner.schedule.store import Backend

#: Variables a scheduled apply is given: the tool's own (lab dir and net, inventory, root), the caller's ANSIBLE_*
#: (apply refuses a plan whose ANSIBLE_* differ from the review's), and what ssh needs to reach the hosts.
_PASSED = ("PATH", "SSH_AUTH_SOCK", "LANG", "LC_ALL", "HOME", "USER", "LOGNAME")
_PASSED_PREFIXES = ("HOMELAB_", "ANSIBLE_")
UNIT_PREFIX = "homelab-apply-"


class SchedulerError(HomelabError):
    """No backend can take the job, or the backend refused it."""

    exit_code = ExitCode.ENVIRONMENT


def job_environment(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the job runs with: what was set at scheduling, pinned to this project."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k in _PASSED or k.startswith(_PASSED_PREFIXES)}
    env["HOMELAB_ROOT"] = str(root)
    return env


def _systemd_answers() -> bool:
    """A systemd manager runs this machine, and (when not root) the user's manager is reachable."""
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemd-run") is None:
        return False
    if os.geteuid() == 0:
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return (Path(runtime) / "systemd" / "private").exists()


def choose(forced: str | None = None) -> Backend:
    """The backend to use: ``forced`` when it can run here, else systemd where it answers, else at."""
    if forced == "systemd" or (forced is None and _systemd_answers()):
        if not _systemd_answers():
            raise SchedulerError("no systemd manager answers on this machine",
                                 "use --scheduler at (with atd running), or run on a controller booted with systemd")
        return "systemd"
    if shutil.which("at") is None:
        raise SchedulerError("neither a systemd manager nor at is available to run the job later",
                             "install at (apt-get install at) and start atd, or run on a controller with systemd")
    return "at"


def systemd_run_command(unit: str, run_at: dt.datetime, command: list[str], env: Mapping[str, str], cwd: Path,
                        log: Path, user: bool) -> list[str]:
    """The ``systemd-run`` command line that creates the transient timer and its service."""
    # In UTC with its zone named, so the timer means the same instant whatever the manager's zone.
    stamp = run_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return ["systemd-run", *(["--user"] if user else []), f"--unit={unit}", f"--on-calendar={stamp}",
            # The default accuracy is a minute; a maintenance window means the minute it says.
            "--timer-property=AccuracySec=1s", "--collect", f"--description=homelab: scheduled apply ({unit})",
            f"--working-directory={cwd}", f"--property=StandardOutput=append:{log}",
            f"--property=StandardError=append:{log}", *(f"--setenv={k}={v}" for k, v in sorted(env.items())),
            "--", *command]


def at_script(command: list[str], cwd: Path, log: Path) -> str:
    """The shell lines ``at`` keeps for the job (it also keeps the environment it was called with)."""
    return f"cd {shlex.quote(str(cwd))} || exit 1\nexec {shlex.join(command)} >>{shlex.quote(str(log))} 2>&1\n"


def _run(argv: list[str], env: Mapping[str, str] | None = None, stdin: str | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30, check=False,
                              env=dict(env) if env is not None else None, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SchedulerError(f"{argv[0]} could not run ({err})", f"check that {argv[0]} works on this machine") \
            from None


def submit(backend: Backend, plan_id: str, run_at: dt.datetime, command: list[str], env: Mapping[str, str],
           cwd: Path, log: Path) -> str:
    """Hand the job to ``backend``; its job id (the at job number or the systemd unit)."""
    if backend == "systemd":
        unit = UNIT_PREFIX + plan_id
        done = _run(systemd_run_command(unit, run_at, command, env, cwd, log, user=os.geteuid() != 0))
        if done.returncode != 0:
            raise SchedulerError(f"systemd-run refused the timer: {done.stderr.strip()}",
                                 "systemctl --user status shows whether your user manager runs; or --scheduler at")
        return unit
    # at reads the time in the machine's local zone, to the minute (its jobs run on the minute).
    stamp = run_at.astimezone().strftime("%Y%m%d%H%M")
    done = _run(["at", "-M", "-t", stamp], env=env, stdin=at_script(command, cwd, log), cwd=cwd)
    found = re.search(r"^job (\d+) at", done.stderr, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise SchedulerError(f"at refused the job: {done.stderr.strip()}",
                             "check that you may use at (/etc/at.allow, /etc/at.deny)")
    return found.group(1)


def pending(backend: Backend, job: str) -> bool:
    """True while the backend still holds the job, not yet started."""
    if backend == "systemd":
        user = ["--user"] if os.geteuid() != 0 else []
        return _run(["systemctl", *user, "is-active", "--quiet", f"{job}.timer"]).returncode == 0
    done = _run(["atq"])
    return any(line.split()[:1] == [job] for line in done.stdout.splitlines())


def remove(backend: Backend, job: str) -> None:
    """Take the job back from the backend (atrm, or stop the timer)."""
    if backend == "systemd":
        user = ["--user"] if os.geteuid() != 0 else []
        done = _run(["systemctl", *user, "stop", f"{job}.timer"])
    else:
        done = _run(["atrm", job])
    if done.returncode != 0:
        raise SchedulerError(f"the {backend} job {job} could not be removed: {done.stderr.strip()}",
                             "homelab schedule shows its state; it may have just fired")
