"""The real ``homelab`` CLI, run cheaply and measured: time, exit code, output and the child's peak memory.

:func:`forked` runs it in a child forked from :mod:`tests.forkserver`, where the CLI's modules are
imported already: a case costs what the command does, not a Python start-up (about 0.3 s each). The child gets
its own environment, working directory and output files. :func:`spawned` starts a fresh interpreter instead, for
a memory figure that is the command's own (a forked child's peak counts the pages it shares with the server).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests import forkserver
from tests.conftest import ROOT, homelab_env


@dataclass(frozen=True)
class Measured:
    """What one run printed and returned, how long it took and its peak resident memory."""

    rc: int
    stdout: str
    stderr: str
    seconds: float
    peak_mib: float
    cpu_s: float = 0.0  # user and system time: what the command cost, whatever else the machine was doing


def _read(path: str) -> str:
    with open(path, "rb") as fh:
        return fh.read().decode("utf-8", "replace")


def forked(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 60) -> Measured:
    """``homelab ARGS`` in a forked child (see the module's docstring)."""
    ended, stdout, stderr = forkserver.run(list(args), homelab_env(env), cwd, timeout)
    return Measured(ended["rc"], stdout, stderr, ended["seconds"], ended["peak_kib"] / 1024, ended["cpu_s"])


# The child's own peak: VmHWM of the process after exec. getrusage's ru_maxrss would not do: the kernel carries the
# peak of the forked copy of pytest, before the exec, into it.
_LAUNCH = """\
import atexit, os, sys

def peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ.pop("HOMELAB_TEST_PEAK_FILE"), "w") as out:
        out.write(kib)

atexit.register(peak)
from planner.cli import main
main(sys.argv[1:])
"""


def spawned(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 60) -> Measured:
    """``homelab ARGS`` in a fresh interpreter, its peak memory its own."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err, peak = (os.path.join(tmp, name) for name in ("out", "err", "peak"))
        with open(out, "wb") as fout, open(err, "wb") as ferr:
            started = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, *args], cwd=cwd,
                                    env={**homelab_env(env), "HOMELAB_TEST_PEAK_FILE": peak},
                                    stdin=subprocess.DEVNULL, stdout=fout, stderr=ferr)
            ended = forkserver.reap(proc.pid, started, timeout)
            proc.returncode = ended["rc"]  # reaped here, with its resource usage; Popen must not wait for it again
        with open(peak) as fh:
            peak_mib = int(fh.read()) / 1024
        return Measured(ended["rc"], _read(out), _read(err), ended["seconds"], peak_mib, ended["cpu_s"])
