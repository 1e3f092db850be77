"""The one place that talks to ansible-runner.

Every run gets a fresh private data directory under ``.homelab/runs/`` (runner
reuses an existing ``env/extravars`` silently, so sharing one would replay old
variables). A plan's runs execute from the snapshot materialized there
(``project/``); ``homelab facts`` runs the working tree's gather_facts. Either
way the run's environment is only what :mod:`planner.plans.environment` sets
(a private HOME in the run directory, ``ANSIBLE_CONFIG`` and search paths into
the project): ansible-runner seeds a run's environment from ``os.environ``, so
``os.environ`` is swapped for that set while runner prepares the run (and
restored before the run itself, whose events this process handles). ansible-runner
also turns host key checking off unless told otherwise; it stays on here. Events are masked
(:mod:`planner.plans.masking`) before the caller's handler sees them, and the
run's artifacts are the masked copies :mod:`planner.plans.artifacts` writes.

ansible-runner starts ansible-playbook in a session of its own (a pty), so a signal to this process never
reaches it; a cancel or a timeout makes runner SIGKILL that session's process group. That is not all of the
run: ansible-playbook's workers each detach into a session of their own (so that a terminal's Ctrl-C does not
reach them), and once ansible-playbook is killed they, and their ssh clients, would run on as orphans until
the hung task ends. So this process is made a child subreaper: whatever the run leaves behind is re-parented
here, and after every run (or an exception that leaves ``run()`` early, a second Ctrl-C) each such process's
group is killed. ssh's ControlPersist masters are the one exception: they outlive a run by design (the
apply reuses the review's connections) and end after 60 s idle.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.paths import private_dir
from planner.plans import environment
from planner.plans.artifacts import MaskedArtifacts
from planner.plans.masking import for_run
from planner.yamlio.limits import check_tree

Event = dict[str, Any]


@dataclass(frozen=True)
class RunResult:
    """How a run ended. ``stats`` is None when ansible-playbook never reported them."""

    status: str  # successful | failed | canceled | timeout | error
    rc: int | None
    stats: dict[str, dict[str, int]] | None
    artifact_dir: Path
    output_tail: str = ""


def run_playbook(
    *,
    root: Path,
    inventory: Path,
    playbook: Path,
    limit: str,
    extravars: dict[str, Any],
    check: bool,
    run_dir: Path,
    event_handler: Callable[[Event], None],
    cancel: Callable[[], bool],
    timeout_s: int | None = None,
) -> RunResult:
    """Run one playbook of ``root`` (``--check --diff`` when ``check``) and stream its events to ``event_handler``.

    ``run_dir`` may exist already (holding the materialized snapshot), but must hold no earlier run.
    """
    from ansible_runner.interface import init_runner

    private_dir(run_dir.parent)
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    home = run_dir / "home"
    home.mkdir(mode=0o700)

    # Ansible reads the whole inventory directory for the run: an alias bomb there is refused first.
    check_tree(inventory)
    # Every event is masked before anything sees it, and ansible-runner writes no copy of its own.
    sink = MaskedArtifacts(for_run(root, inventory, playbook), run_dir / "artifacts" / "run")

    def on_event(event: Event) -> bool:
        event_handler(sink.record(event))
        return False

    with closing(sink):
        with environment.only(environment.for_run(root, home,
                                                  credentials=environment.named_credentials(inventory))):
            runner = init_runner(
                private_data_dir=str(run_dir),
                artifact_dir=str(sink.scratch),
                ident="run",
                project_dir=str(root),
                playbook=str(playbook),
                inventory=str(inventory),
                limit=limit,
                extravars=extravars or None,
                cmdline="--check --diff" if check else "--diff",
                suppress_env_files=True,
                quiet=True,
                event_handler=on_event,
                cancel_callback=cancel,
                timeout=timeout_s,
            )
        _become_subreaper()
        try:
            runner.run()
        finally:
            _kill_leftovers(home)
            shutil.rmtree(home, ignore_errors=True)  # Ansible's local temp files; nothing in it outlives the run
    return RunResult(str(runner.status), runner.rc, sink.stats, sink.dir,
                     "" if sink.stats is not None else sink.tail())


#: prctl(2)'s PR_SET_CHILD_SUBREAPER.
_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    """Have orphaned descendants re-parented to this process rather than to init (Linux; elsewhere a no-op)."""
    import ctypes

    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _children(home: Path) -> dict[int, tuple[str, str]]:
    """This process's children that belong to the run whose HOME is ``home`` (every process of a run has it in
    its environment): pid → (state, command line). Other children (a test's atd, say) are never touched."""
    me = str(os.getpid())
    marker = f"HOME={home}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()  # after the command name: state, ppid, …
            if fields[1] != me:
                continue
            with open(f"/proc/{entry}/environ", "rb") as fh:
                ours = marker in fh.read().split(b"\0")
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone meanwhile
        if ours:
            found[int(entry)] = (fields[0], cmdline)
    return found


def _kill_leftovers(home: Path) -> None:
    """SIGKILL the process group of every child the run left (ansible-playbook itself after an exception, its
    detached workers after a cancel or a timeout, their ssh clients) and reap them; bounded."""
    if not os.path.isdir("/proc"):
        return
    for _ in range(50):
        left = False
        for pid, (state, cmdline) in _children(home).items():
            if state == "Z" or (cmdline.startswith("ssh: ") and cmdline.endswith("[mux]")):
                continue
            left = True
            with suppress(OSError):
                group = os.getpgid(pid)
                if group != os.getpgrp():  # never this process's own group
                    os.killpg(group, signal.SIGKILL)
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)  # reaped: it was ours, killed just now
        if not left:
            return
        time.sleep(0.1)
