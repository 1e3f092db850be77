"""The vault secrets a run will use, and the plaintext of what they decrypt.

ansible-playbook decrypts ``!vault`` values and vault-encrypted files with
the secret named by ``ANSIBLE_VAULT_PASSWORD_FILE`` / ``ANSIBLE_VAULT_IDENTITY_LIST``
or ``vault_password_file`` / ``vault_identity_list`` in ansible.cfg, and then
shows the plaintext in ``--diff`` output. To mask it, the tool decrypts the
same inputs with the same secret first (ansible-core's own VaultLib) and keeps
the plaintext in memory only. A value no secret opens is one the run cannot
reveal either. The password file's content is read by ansible-core's loader
and never stored, logged or copied.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

#: One vault envelope as it sits in a file: the header line, then the hex lines (indented when inline).
_ENVELOPE = re.compile(r"\$ANSIBLE_VAULT;[^\n]*\n(?:[ \t]*[0-9a-fA-F]+[ \t]*(?:\n|$))+")


def _identities(config: Path) -> list[tuple[str, str]]:
    """(vault id, password file) pairs, as ansible-playbook would find them: environment first, then config."""
    cfg = configparser.ConfigParser(interpolation=None)
    with suppress(configparser.Error, OSError):  # ansible-playbook reports a broken ansible.cfg itself
        cfg.read(config)
    # A relative path means the run's working directory, the project (where ansible.cfg is).
    base = config.parent

    def setting(env: str, key: str) -> tuple[str, Path] | None:
        value = os.environ.get(env) or cfg.get("defaults", key, fallback=None)
        return (value, base) if value else None

    found: list[tuple[str, str]] = []
    listed = setting("ANSIBLE_VAULT_IDENTITY_LIST", "vault_identity_list")
    if listed:
        for item in filter(None, (i.strip() for i in listed[0].split(","))):
            vault_id, _, source = item.rpartition("@")
            if source != "prompt":
                found.append((vault_id or "default", str(listed[1] / os.path.expanduser(source))))
    single = setting("ANSIBLE_VAULT_PASSWORD_FILE", "vault_password_file")
    if single:
        found.append(("default", str(single[1] / os.path.expanduser(single[0]))))
    return found


def secrets_for(config: Path) -> list[tuple[str, Any]]:
    """The vault secrets a run with ``config`` (its ansible.cfg) and this environment will use.

    A password file that is missing or cannot be read gives no secret: the run fails on it with
    Ansible's own message, so there is nothing to mask.
    """
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import get_file_vault_secret

    loader = DataLoader()
    secrets = []
    for vault_id, filename in _identities(config):
        try:
            secret = get_file_vault_secret(filename=filename, vault_id=vault_id, loader=loader)
            secret.load()
        except (AnsibleError, OSError):
            continue
        secrets.append((vault_id, secret))
    return secrets


def envelopes(text: str) -> list[str]:
    """Every vault envelope in a file's text: the file itself when encrypted whole, and each ``!vault`` value."""
    return ["\n".join(line.strip() for line in m.group(0).splitlines()) for m in _ENVELOPE.finditer(text)]


def decrypt_all(texts: Iterable[tuple[str, str]], secrets: list[tuple[str, Any]]) -> list[tuple[str, bool, str]]:
    """(where, whole file?, plaintext) for each envelope in ``texts`` ((where, file text) pairs) a secret opens."""
    if not secrets:
        return []
    from ansible.errors import AnsibleError
    from ansible.parsing.vault import VaultLib

    vault = VaultLib(secrets)
    opened = []
    for where, text in texts:
        whole = text.lstrip().startswith("$ANSIBLE_VAULT;")
        for envelope in envelopes(text):
            try:
                plain = vault.decrypt(envelope)
            except (AnsibleError, ValueError):
                continue  # no secret opens it: the run cannot show it either
            opened.append((where, whole, plain.decode("utf-8", errors="replace")))
    return opened
