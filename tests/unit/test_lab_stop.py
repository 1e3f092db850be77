"""`lab down` stops every host at once: each is signalled before any is waited for.

The hosts here are stand-ins that `is_ours` takes for the lab's nspawn processes (argv[0] `systemd-nspawn`,
a `--machine=` argument): on SIGTERM each notes when the signal came, takes a while to shut down, as a
booted host's systemd does, and notes when it ended. Stopped one after the other, the second would hear of
it only after the first had ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from planner.lab import runtime

# The stand-in: a Python that calls itself systemd-nspawn. Signal handlers run between bytecodes, so the
# main loop sleeps in short steps.
_HOST = """
import signal, sys, time
out = sys.argv[1]
def stop(*_):
    open(out, "a").write(f"term {time.time()}\\n")
    time.sleep(0.5)
    open(out, "a").write(f"exit {time.time()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(out, "a").write("ready\\n")
for _ in range(600):
    time.sleep(0.1)
"""


def _start(tmp_path: Path, name: str) -> tuple[runtime.HostState, Path]:
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen(["systemd-nspawn", "-c", _HOST, str(log), f"--machine=lab-{name}"],
                            executable=sys.executable, start_new_session=True)
    for _ in range(100):  # bounded: until the handler is in place
        if log.exists() and "ready" in log.read_text():
            break
        time.sleep(0.05)
    merged = tmp_path / name / "merged"
    merged.mkdir(parents=True)
    state = runtime.HostState(name, "127.0.0.1", 22, f"lab-{name}", proc.pid, str(merged), time.time())
    assert runtime.is_ours(state), "the stand-in must pass for a lab host"
    return state, log


def _times(log: Path, what: str) -> float:
    return next(float(line.split()[1]) for line in log.read_text().splitlines() if line.startswith(what))


def test_every_host_hears_sigterm_before_any_has_ended(tmp_path: Path) -> None:
    hosts: list[tuple[runtime.HostState, Path]] = []
    try:
        for name in ("a", "b", "c"):  # one by one, so that the finally below stops any started before a failure
            hosts.append(_start(tmp_path, name))
        runtime._stop_hosts([state for state, _ in hosts])
        assert not any(runtime.is_ours(state) for state, _ in hosts)
        last_term = max(_times(log, "term") for _, log in hosts)
        first_exit = min(_times(log, "exit") for _, log in hosts)
        assert last_term < first_exit, [log.read_text() for _, log in hosts]
    finally:
        for state, _ in hosts:
            if runtime.is_ours(state):
                os.kill(state.pid, signal.SIGKILL)
