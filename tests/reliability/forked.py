"""``homelab`` through its own entry point in a forked child: the command as a person runs it, without the
second or more a fresh Python spends importing, so many can start at the same instant."""

from __future__ import annotations

import os
from pathlib import Path

from tests import forkserver


def start(project: Path, out: Path, *args: str, env: dict[str, str] | None = None) -> int:
    """Run ``homelab ARGS`` in ``project`` in a forked child of its own process group; its pid.

    Its stdout and stderr go to ``out`` with the suffixes .out and .err.
    """
    environment = {**os.environ, "HOMELAB_INVENTORY": str(project / ".homelab" / "lab-inventory"),
                   "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return forkserver.start(list(args), environment, project, out.with_suffix(".out"), out.with_suffix(".err"),
                            group=True)


def finish(pid: int, timeout: float = 300) -> int:
    """Wait (bounded) for a started child; its exit code. One that overruns is killed with its group."""
    ended = forkserver.wait(pid, timeout)
    if ended["timed_out"]:
        raise AssertionError(f"pid {pid} did not finish in {timeout} s")
    return int(ended["rc"])


def run(project: Path, out: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``homelab ARGS`` forked and waited for: (exit code, stderr)."""
    code = finish(start(project, out, *args, env=env))
    return code, out.with_suffix(".err").read_text()
