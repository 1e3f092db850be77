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
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import closing
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
        try:
            runner.run()
        finally:
            shutil.rmtree(home, ignore_errors=True)  # Ansible's local temp files; nothing in it outlives the run
    return RunResult(str(runner.status), runner.rc, sink.stats, sink.dir,
                     "" if sink.stats is not None else sink.tail())
