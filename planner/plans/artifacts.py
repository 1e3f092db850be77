"""A run's artifacts, written masked and owner-only in place of ansible-runner's own.

ansible-runner writes every event (``job_events/<n>-<uuid>.json``), the
whole display output (``stdout``) and Ansible's fact cache as
ansible-playbook produced them, decrypted vault values included; and its
display callback, inside ansible-playbook, hands each event's data over in a
``job_events/<uuid>-partial.json`` file before anything can mask it. So
ansible-runner's artifact directory is a scratch directory in memory
(``/dev/shm`` where the machine has it, owner-only), removed when the run
ends; its output file is suppressed (``env/settings``) and the event handler
returns False (ansible-runner then writes no copy of the event). This module
writes the masked events and their masked display text into the run's own
directory under ``.homelab/runs/``, with ansible-runner's ``command``, ``rc``
and ``status`` files masked, so a person debugging a run finds what they
need there and nothing secret. The stats and the last lines of output come
from here too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from planner.paths import private_dir, private_file, tighten
from planner.plans.masking import Masker

#: Lines of display output kept to explain a run that reported no stats.
_TAIL_LINES = 15
#: A memory-backed file system for ansible-runner's unmasked scratch files, where there is one.
_MEMORY = Path("/dev/shm")
#: ansible-runner's small files worth keeping, masked, for a person debugging a run.
_KEPT = ("command", "rc", "status")


class MaskedArtifacts:
    """Masks each event, writes it and its display text under ``artifact_dir``, and keeps the stats.

    ``scratch`` is the directory to hand ansible-runner as its ``artifact_dir``.
    """

    def __init__(self, masker: Masker, artifact_dir: Path):
        self.masker = masker
        self.dir = artifact_dir
        self.stats: dict[str, dict[str, int]] | None = None
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        run_dir = artifact_dir.parent.parent
        self._events = private_dir(artifact_dir / "job_events")
        # ansible-runner takes these settings from env/settings only (a settings= argument is dropped
        # when that file is missing). suppress_output_file: without it, it writes the whole display output
        # as well. pexpect_timeout: how often it looks at the cancel flag and the clock while
        # ansible-playbook is quiet (a hung task), every second rather than every 5, so that a Ctrl-C, a
        # SIGTERM or --timeout ends the run within seconds.
        with os.fdopen(private_file(run_dir / "env" / "settings"), "w") as fh:
            json.dump({"suppress_output_file": True, "pexpect_timeout": 1}, fh)
        memory = _MEMORY.is_dir() and os.access(_MEMORY, os.W_OK | os.X_OK)
        # mkdtemp makes it 0700; on a machine without /dev/shm it falls back to the owner-only run dir.
        self.scratch = Path(tempfile.mkdtemp(prefix="homelab-run-", dir=_MEMORY if memory else run_dir))
        self._stdout = os.fdopen(private_file(artifact_dir / "stdout"), "w", encoding="utf-8")

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        """Mask one event, write it, and return the masked event for the handlers."""
        masked = self.masker.event(event)
        text = masked.get("stdout")
        if isinstance(text, str) and text:
            self._stdout.write(text + "\n")
            self._stdout.flush()
            self._tail.extend(text.splitlines())
        if "uuid" in masked and "counter" in masked:
            name = self._events / f"{masked['counter']}-{masked['uuid']}.json"
            with os.fdopen(private_file(name, in_private_dir=True), "w", encoding="utf-8") as fh:
                fh.write(json.dumps(masked))  # one C-encoded string: json.dump encodes in Python, piece by piece
        if masked.get("event") == "playbook_on_stats":
            data = masked.get("event_data") or {}
            self.stats = {key: data.get(key) or {} for key in ("skipped", "ok", "dark", "failures", "ignored",
                                                                "rescued", "processed", "changed")}
        return masked

    def tail(self) -> str:
        """The last lines of masked display output."""
        return "\n".join(self._tail).strip()

    def close(self) -> None:
        """Keep ansible-runner's small files masked, remove its scratch directory, make the run dir owner-only."""
        self._stdout.close()
        try:
            for name in _KEPT:
                for found in self.scratch.glob(f"*/{name}"):
                    text = found.read_text(errors="replace")
                    with os.fdopen(private_file(self.dir / name), "w", encoding="utf-8") as fh:
                        fh.write(self.masker.text(text))
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        tighten(self.dir.parent.parent)
