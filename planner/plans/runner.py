"""The one place that talks to ansible-runner.

Every run gets a fresh private data directory under ``.homelab/runs/`` (runner
reuses an existing ``env/extravars`` silently, so sharing one would replay old
variables). ansible-runner copies the whole process environment into
``artifacts/<id>/command``, so variables whose names look secret are removed
from the environment for the duration of the run. ansible-runner also turns
host key checking off unless told otherwise; it stays on here.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    run_dir.mkdir(parents=True, exist_ok=False)
    envvars = {
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }

    def on_event(event: Event) -> bool:
        event_handler(event)
        return True

    # The ansible-playbook installed beside this interpreter (the venv's) comes first, not whatever PATH finds.
    envvars["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with scrubbed_environ():
        runner = ansible_runner.run(
            private_data_dir=str(run_dir),
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
    stats = runner.stats if isinstance(runner.stats, dict) and runner.stats else None
    artifact_dir = Path(runner.config.artifact_dir)
    tail = ""
    if stats is None:
        # Nothing reported: keep the last words of ansible-playbook to explain why.
        out = artifact_dir / "stdout"
        tail = "\n".join(out.read_text(errors="replace").strip().splitlines()[-15:]) if out.exists() else ""
    return RunResult(str(runner.status), runner.rc, stats, artifact_dir, tail)
