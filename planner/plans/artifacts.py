"""A run's artifacts, written masked and owner-only in place of ansible-runner's own.

ansible-runner would write every event (``job_events/<n>-<uuid>.json``) and
the whole display output (``stdout``) as ansible-playbook produced them,
decrypted vault values included. The runner's event handler returns False
(ansible-runner then writes no copy of the event) and output files are
suppressed (``env/settings``); this module writes the masked event and its masked display text
instead, so ``.homelab/runs/`` keeps what a person debugging a run needs and
nothing secret. The stats and the last lines of output come from here too.

One thing stays outside the tool's reach: ansible-runner's display callback,
inside ansible-playbook, hands each event's data over in a
``job_events/<uuid>-partial.json`` file (0600, in a 0700 directory) that
ansible-runner deletes as soon as it reads it. :meth:`MaskedArtifacts.close`
removes any a killed run left behind, and masks Ansible's fact cache, which
ansible-runner keeps in the artifacts as well.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path
from typing import Any

from planner.paths import private_dir, private_file, tighten
from planner.plans.masking import Masker

#: Lines of display output kept to explain a run that reported no stats.
_TAIL_LINES = 15


class MaskedArtifacts:
    """Masks each event, writes it and its display text under ``artifact_dir``, and keeps the stats."""

    def __init__(self, masker: Masker, artifact_dir: Path):
        self.masker = masker
        self.dir = artifact_dir
        self.stats: dict[str, dict[str, int]] | None = None
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        private_dir(artifact_dir / "job_events")
        # ansible-runner takes this setting from env/settings only (a settings= argument is dropped
        # when that file is missing): without it, it writes the unmasked display output to ``stdout``.
        with os.fdopen(private_file(artifact_dir.parent.parent / "env" / "settings"), "w") as fh:
            json.dump({"suppress_output_file": True}, fh)
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
            name = self.dir / "job_events" / f"{masked['counter']}-{masked['uuid']}.json"
            with os.fdopen(private_file(name), "w", encoding="utf-8") as fh:
                json.dump(masked, fh)
        if masked.get("event") == "playbook_on_stats":
            data = masked.get("event_data") or {}
            self.stats = {key: data.get(key) or {} for key in ("skipped", "ok", "dark", "failures", "ignored",
                                                                "rescued", "processed", "changed")}
        return masked

    def tail(self) -> str:
        """The last lines of masked display output."""
        return "\n".join(self._tail).strip()

    def close(self) -> None:
        """Close the output file, drop partial event files a killed run left, make the whole run dir owner-only."""
        self._stdout.close()
        for partial in (self.dir / "job_events").glob("*-partial.json"):
            partial.unlink(missing_ok=True)
        # ansible-runner points Ansible's jsonfile fact cache here; a cached fact may hold a secret.
        for cached in (self.dir / "fact_cache").glob("*"):
            if cached.is_file() and not cached.is_symlink():
                text = cached.read_text(errors="replace")
                if self.masker.text(text) != text:
                    with os.fdopen(private_file(cached), "w") as fh:
                        fh.write(self.masker.text(text))
        tighten(self.dir.parent.parent)
