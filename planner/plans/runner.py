"""The one place that talks to ansible-runner.

Every run gets a fresh private data directory under ``.homelab/runs/`` (runner
reuses an existing ``env/extravars`` silently, so sharing one would replay old
variables). ansible-runner copies the whole process environment into
``artifacts/<id>/command``, so variables whose names look secret are removed
from the environment for the duration of the run. ansible-runner also turns
host key checking off unless told otherwise; it stays on here. Events are masked
(:mod:`planner.plans.masking`) before the caller's handler sees them, and the
run's artifacts are the masked copies :mod:`planner.plans.artifacts` writes.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.paths import private_dir
from planner.plans.artifacts import MaskedArtifacts
from planner.plans.masking import for_run
from planner.yamlio.limits import check_tree

_SECRET_NAME = re.compile(r"(PASS|SECRET|TOKEN|_KEY$|^KEY|API_?KEY|CREDENTIAL|AUTH)", re.I)
# Names that look secret but are paths Ansible needs, not secrets themselves.
_KEEP = {"ANSIBLE_VAULT_PASSWORD_FILE", "SSH_AUTH_SOCK", "ANSIBLE_PRIVATE_KEY_FILE"}

Event = dict[str, Any]


@dataclass(frozen=True)
class RunResult:
    """How a run ended. ``stats`` is None when ansible-playbook never reported them."""

    status: str  # successful | failed | canceled | timeout | error
    rc: int | None
    stats: dict[str, dict[str, int]] | None
    artifact_dir: Path
    output_tail: str = ""


@contextmanager
def scrubbed_environ() -> Iterator[None]:
    """Remove secret-looking variables from os.environ while a run starts and lasts."""
    removed = {k: os.environ.pop(k) for k in list(os.environ) if _SECRET_NAME.search(k) and k not in _KEEP}
    try:
        yield
    finally:
        os.environ.update(removed)


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
    """Run one playbook (``--check --diff`` when ``check``) and stream its events to ``event_handler``."""
    import ansible_runner

    private_dir(run_dir.parent)
    run_dir.mkdir(mode=0o700, exist_ok=False)
    envvars = {
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }

    # Ansible reads the whole inventory directory for the run: an alias bomb there is refused first.
    check_tree(inventory)
    # Every event is masked before anything sees it, and ansible-runner writes no copy of its own.
    sink = MaskedArtifacts(for_run(root, inventory, playbook), run_dir / "artifacts" / "run")

    def on_event(event: Event) -> bool:
        event_handler(sink.record(event))
        return False

    # The ansible-playbook installed beside this interpreter (the venv's) comes first, not whatever PATH finds.
    envvars["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with scrubbed_environ(), closing(sink):
        runner = ansible_runner.run(
            private_data_dir=str(run_dir),
            artifact_dir=str(sink.scratch),
            ident="run",
            project_dir=str(root),
            playbook=str(playbook),
            inventory=str(inventory),
            limit=limit,
            extravars=extravars or None,
            cmdline="--check --diff" if check else "--diff",
            envvars=envvars,
            suppress_env_files=True,
            quiet=True,
            event_handler=on_event,
            cancel_callback=cancel,
            timeout=timeout_s,
        )
    return RunResult(str(runner.status), runner.rc, sink.stats, sink.dir,
                     "" if sink.stats is not None else sink.tail())
