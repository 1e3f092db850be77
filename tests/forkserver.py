"""The one process ``homelab`` runs are forked from: single-threaded, with the planner's modules imported.

A run forked from it costs what its command does, not a Python start-up with the planner's imports (about
0.3 s of CPU each; the integration tests make over a thousand runs). The child is the command exactly as
``python -m planner`` runs it: ``planner.cli.main`` with the run's own arguments, environment, working
directory and output files.

Forking the test process itself would be as cheap, but by the reliability suite the test process runs threads
(litellm's logging worker after an in-process model call, a test's own HTTP server), and a child forked from a
threaded process inherits any lock a thread held at that instant: Python warns of deadlocks for good reason.
So the tests start this server once (a fresh interpreter, no threads ever) and ask it, over a pipe, to fork a
child per run and to reap it; the child is the command as a person runs it, through ``planner.cli.main``.

Requests and replies are JSON lines: ``start`` (argv, full environment, working directory, stdout and stderr
files, own process group or not) answers the child's pid; ``wait`` (pid, timeout) answers its exit code, wall
time since its start, peak resident memory and CPU time; a child still running at the timeout is killed, with
its group when it has one, and answers -9 with ``timed_out``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Modules the commands import where they are used, imported by the server up front (see ``serve``).
LATER = ("ansible_runner.interface", "ansible.inventory.manager", "ansible.vars.manager", "pydantic",
         "rich.console")


# -- the server -----------------------------------------------------------------------------------------------

def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the command and never return."""
    code = 70
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a Ctrl-C stops the command, as in a terminal
        if request["group"]:
            os.setpgid(0, 0)  # its own group: a kill of the command reaches what it started in the group too
        os.environ.clear()
        os.environ.update(request["env"])
        # As a fresh interpreter would have it: PYTHONPATH's entries first on the import path (a test puts
        # another installed version of a package there).
        for entry in reversed(request["env"].get("PYTHONPATH", "").split(os.pathsep)):
            if entry and entry not in sys.path:
                sys.path.insert(0, entry)
        os.chdir(request["cwd"])
        for fd, path in ((0, os.devnull), (1, request["out"]), (2, request["err"])):
            target = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process ends with os._exit below
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        from planner.cli import main

        try:
            main(list(request["args"]))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # anything else is a crash the case must see, with its traceback
        import traceback

        traceback.print_exc()
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def reap(pid: int, started: float, timeout: float, group: bool = False) -> dict[str, Any]:
    """A child's end (of this process: the server's forks, or a test's own subprocess), as ``wait`` answers it.

    Bounded: a child still running at the deadline is killed (with its group) and reported as such (-9). The
    wait sleeps on the child's pidfd, which becomes readable when it ends: no polling while a run goes on."""
    pidfd = os.pidfd_open(pid)
    try:
        select.select([pidfd], [], [], max(0.0, started + timeout - time.monotonic()))
    finally:
        os.close(pidfd)
    done, status, usage = os.wait4(pid, os.WNOHANG)
    timed_out = False
    if done:
        rc = os.waitstatus_to_exitcode(status)
    else:
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        rc, timed_out = -9, True
    return {"rc": rc, "timed_out": timed_out, "seconds": time.monotonic() - started, "peak_kib": usage.ru_maxrss,
            "cpu_s": usage.ru_utime + usage.ru_stime}


def serve() -> None:
    """Answer requests on stdin until it closes."""
    import importlib
    import pkgutil
    import threading

    import planner
    from planner.yamlio.reading import _ruamel

    # Every planner module (the command modules, and the some fifty a plan reaches that `homelab --help` must
    # not), the YAML reader they share, and the libraries the commands import where used (ansible-runner,
    # Ansible's inventory, the variables' types, the progress console), imported once, so that a child's time
    # is its command's work alone; litellm stays out (only a model's call imports it). Each run would spend
    # that again: the unit suite took 123 CPU-seconds without the planner's later modules and the libraries,
    # 95 with the libraries alone, 90 with both.
    for found in pkgutil.walk_packages(planner.__path__, "planner."):
        if not found.name.endswith("__main__"):
            importlib.import_module(found.name)
    _ruamel()
    for module in LATER:
        importlib.import_module(module)
    assert threading.active_count() == 1, "an import started a thread: forking from here would not be safe"
    # What is imported now is every child's too, shared copy-on-write. Frozen, it is out of the collector's
    # reach, so a child's collections do not write to (and so copy) those pages.
    gc.freeze()
    # A Ctrl-C reaches every process of the terminal's group, this one too. The server outlives it, so that
    # the tests' clean-up (a lab's teardown runs `homelab lab down`) can still fork the commands it needs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    started: dict[int, tuple[float, bool]] = {}
    replies.write(b'{"ready": true}\n')
    replies.flush()
    for line in requests:
        request = json.loads(line)
        if request["op"] == "start":
            at = time.monotonic()
            pid = os.fork()
            if pid == 0:
                _child(request)
            started[pid] = (at, request["group"])
            reply: dict[str, Any] = {"pid": pid}
        else:
            at, group = started.pop(request["pid"])
            reply = reap(request["pid"], at, request["timeout"], group)
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()


# -- the tests' side ------------------------------------------------------------------------------------------

@functools.cache
def _server() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", "from tests.forkserver import serve; serve()"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    atexit.register(_stop, proc)
    assert _answer(proc, 120) == {"ready": True}
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _answer(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    if not line:
        raise AssertionError(f"the fork server did not answer in {timeout} s (exit {proc.poll()})")
    return json.loads(line)


#: Answers the server owes for requests whose answer was never read: a wait interrupted by a Ctrl-C, whose
#: answer comes once the run has ended. Read first, so that each later request gets its own answer.
_owed = 0


def _ask(request: dict[str, Any], timeout: float) -> dict[str, Any]:
    global _owed
    proc = _server()
    assert proc.stdin is not None
    while _owed:
        _answer(proc, 660)  # bounded: the longest wait a test asks for, with the server's margin
        _owed -= 1
    proc.stdin.write(json.dumps(request).encode() + b"\n")
    proc.stdin.flush()
    _owed += 1
    answer = _answer(proc, timeout)
    _owed -= 1
    return answer


def start(args: list[str], env: dict[str, str], cwd: Path, out: str | Path, err: str | Path,
          group: bool = False) -> int:
    """``homelab ARGS`` started in a child of the server, with exactly ``env``; its pid."""
    return int(_ask({"op": "start", "args": list(args), "env": env, "cwd": str(cwd), "out": str(out),
                     "err": str(err), "group": group}, 60)["pid"])


def wait(pid: int, timeout: float) -> dict[str, Any]:
    """The child's end, bounded by ``timeout`` (see the module's docstring)."""
    return _ask({"op": "wait", "pid": pid, "timeout": timeout}, timeout + 60)


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[dict[str, Any], str, str]:
    """``homelab ARGS`` in a forked child, to its end (bounded by ``timeout``): what :func:`wait` answers, then
    what the command printed on stdout and on stderr."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp, "out"), Path(tmp, "err")
        ended = wait(start(args, env, cwd, out, err), timeout)
        return ended, out.read_bytes().decode("utf-8", "replace"), err.read_bytes().decode("utf-8", "replace")
