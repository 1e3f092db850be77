"""``homelab`` through its own entry point in a forked child: the command as a person runs it, without the
second or more a fresh Python spends importing, so many can start at the same instant."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def start(project: Path, out: Path, *args: str, env: dict[str, str] | None = None) -> int:
    """Run ``homelab ARGS`` in ``project`` in a forked child of its own process group; its pid.

    Its stdout and stderr go to ``out`` with the suffixes .out and .err. pytest's capture replaced
    ``sys.stdout``/``sys.stderr`` in this process, so the child points both back at its own descriptors.
    """
    pid = os.fork()
    if pid != 0:
        return pid
    code = 70
    try:
        os.setpgid(0, 0)  # its own group: a kill of the command reaches what it started in the group too
        for fd, suffix in ((1, "out"), (2, "err")):
            os.dup2(os.open(out.with_suffix("." + suffix), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - flushed before the exit below
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.chdir(project)
        os.environ.update({"HOMELAB_INVENTORY": str(project / ".homelab" / "lab-inventory"), "NO_COLOR": "1",
                           "COLUMNS": "200", **(env or {})})
        from planner.cli import main

        main(list(args))
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)


def finish(pid: int, timeout: float = 300) -> int:
    """Wait (bounded) for a started child; its exit code. One that overruns is killed with its group."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"pid {pid} did not finish in {timeout} s")


def run(project: Path, out: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``homelab ARGS`` forked and waited for: (exit code, stderr)."""
    code = finish(start(project, out, *args, env=env))
    return code, out.with_suffix(".err").read_text()
