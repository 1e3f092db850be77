"""What is secret in a run, and how it is masked before anything sees it.

Ansible's ``--diff`` shows decrypted vault values, as it is known to (a
template that puts a vaulted variable into /etc/motd diffs the plaintext).
Like Terraform's "(sensitive value)", every value that came from a vaulted
variable or file is replaced in every event before any handler sees it or
anything is written: the review, the plan file, the progress display, the
session log and the facts write-back are all built from masked events. A
task whose result Ansible censored (``no_log``) keeps nothing but its status.

What counts as secret: the plaintext of every ``!vault`` value and of every
vault-encrypted file among the run's inputs (the inventory with its
group_vars/host_vars, the playbooks and their vars, the roles), decrypted
with the secret the run itself will use (:mod:`planner.plans.vault`). For a
whole encrypted vars file, each value in it is a secret (not its keys: they
are variable names). A multi-line secret is masked whole and line by line
(a diff shows it a line at a time), and also as JSON spells it (a failure
message prints results as JSON).

The minimum: a secret value shorter than :data:`MIN_CHARS` characters is not
masked, since masking ``yes`` or ``22`` everywhere would wreck the review
while hiding nothing (a three-character secret is no secret: its length and
its context give it away). Booleans and nulls in an encrypted file are never
secrets. Everything from four characters up is masked wherever it appears,
inside longer text too; a line of a multi-line secret is masked when it has
four characters or more and a letter or digit.

What cannot be masked: a secret the playbook transforms before showing it
(``b64encode``, ``upper``, a hash) no longer matches its plaintext; keep such
values out of templates whose diffs are reviewed, or mark the task ``no_log``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: What a masked value reads as, everywhere.
MASK = "(sensitive value)"
#: The shortest secret that is masked (see the module's docstring).
MIN_CHARS = 4
#: What a censored (no_log) result keeps: its status, nothing Ansible hid.
_STATUS_KEYS = ("changed", "failed", "skipped", "unreachable", "censored", "_ansible_no_log", "skip_reason")
#: Files larger than this among the inputs are not searched for vault envelopes (no vars file is this big).
_MAX_INPUT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Masker:
    """Masks a fixed set of secret strings; the empty masker still censors no_log results."""

    pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, secrets: Iterable[str]) -> Masker:
        """A masker for ``secrets`` (each variant already expanded: see :func:`variants`)."""
        kept = sorted({s for s in secrets if len(s) >= MIN_CHARS}, key=len, reverse=True)
        # Longest first, so a secret that contains another is masked whole.
        return cls(re.compile("|".join(map(re.escape, kept)))) if kept else cls()

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by :data:`MASK`."""
        return self.pattern.sub(MASK, value) if self.pattern is not None else value

    def data(self, value: Any) -> Any:
        """A copy of ``value`` (JSON-like data) with every string, keys included, masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A masked copy of one ansible-runner event; a censored result is cut down to its status."""
        data = event.get("event_data")
        if isinstance(data, dict) and _censored(data.get("res")):
            data = {k: v for k, v in data.items() if k not in ("task_args", "res")}
            data["res"] = censor(event["event_data"]["res"])
            event = {**event, "event_data": data}
        return self.data(event)


def _censored(res: Any) -> bool:
    return isinstance(res, dict) and ("censored" in res or any(_censored(r) for r in res.get("results") or []))


def censor(res: Any) -> Any:
    """A no_log result as the review may keep it: its status keys, and its loop items' status keys."""
    if not isinstance(res, dict):
        return res
    kept = {k: res[k] for k in _STATUS_KEYS if k in res}
    if isinstance(res.get("results"), list):
        kept["results"] = [censor(r) for r in res["results"]]
    return kept


def variants(value: str) -> list[str]:
    """The forms one secret takes in output: itself, each non-trivial line, and as JSON escapes it."""
    found = [value, value.strip()]
    if "\n" in value.strip():
        found += [line.strip() for line in value.splitlines() if any(c.isalnum() for c in line)]
    found += [json.dumps(v, ensure_ascii=False)[1:-1] for v in list(found)]
    return [v for v in found if len(v) >= MIN_CHARS]


def _leaves(data: Any) -> Iterable[str]:
    """The scalar values of a decrypted vars file; keys are variable names, not secrets."""
    if isinstance(data, dict):
        for value in data.values():
            yield from _leaves(value)
    elif isinstance(data, list):
        for value in data:
            yield from _leaves(value)
    elif isinstance(data, (str, int, float)) and not isinstance(data, bool):
        yield str(data)


def secret_values(opened: Iterable[tuple[str, bool, str]]) -> set[str]:
    """Every string to mask, from (where, whole file?, plaintext) triples of decrypted envelopes."""
    from planner.yamlio import YamlSyntaxError
    from planner.yamlio.reading import load_text

    values: set[str] = set()
    for where, whole, plain in opened:
        leaves = [plain]
        if whole:
            # A vars file gives its values; anything else (a key, a certificate: not YAML, or YAML only
            # as one folded scalar) is a secret as the text it is, line by line.
            with suppress(YamlSyntaxError):
                data = load_text(plain, where)
                if isinstance(data, (dict, list)):
                    leaves = list(_leaves(data))
        for leaf in leaves:
            values.update(variants(leaf))
    return values


def _input_texts(paths: Iterable[Path]) -> Iterable[tuple[str, str]]:
    """(path, text) of each input file that holds a vault envelope."""
    from planner.paths import files_below

    for top in paths:
        for path in files_below(top) if top.is_dir() else [top] if top.is_file() else []:
            try:
                if path.stat().st_size > _MAX_INPUT:
                    continue
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if "$ANSIBLE_VAULT;" in text:
                yield str(path), text


def for_run(root: Path, inventory: Path, playbook: Path) -> Masker:
    """The masker for one run of ``playbook`` in project ``root`` against ``inventory``.

    Reads the vault secret the run will use (environment, then ``root/ansible.cfg``) and decrypts
    every envelope among the inputs Ansible may read: the inventory, the playbooks' directory (its
    group_vars, host_vars and vars files with it), and the roles.
    """
    import os

    from planner.plans.environment import CREDENTIALS, is_secret, named_credentials
    from planner.plans.vault import decrypt_all, secrets_for

    # The credentials the run is passed (environment.for_run) are masked wherever they show: every one the
    # inventory names but a username, whatever its variable is called, and the secret-looking defaults.
    names = set(named_credentials(inventory, secret_only=True)) | {n for n in CREDENTIALS if is_secret(n)}
    passed = {v for name in names if (value := os.environ.get(name)) for v in variants(value)}
    secrets = secrets_for(root / "ansible.cfg")
    if not secrets:
        return Masker.of(passed)
    inputs = [inventory, playbook.parent, root / "roles", root / "collections"]
    return Masker.of(secret_values(decrypt_all(_input_texts(inputs), secrets)) | passed)
