"""A vaulted value reaches the host and nowhere else: not the review, plans, runs, logs or output.

The baseline templates ``host_description`` into /etc/motd, and Ansible's
``--diff`` shows the decrypted text. Each test vaults maas's description with
a random canary, plans and applies, then searches every file the tool could
have written and everything it printed: zero hits. The search is proved to
work on the one place the canary must be: the lab host's /etc/motd.
"""

from __future__ import annotations

import json
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_homelab, vault_encrypt
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.reliability.cli import spawned

MASK = "(sensitive value)"


def _vault_password(tmp_path: Path) -> Path:
    # Outside the project copy, like a person's password file; its content must land nowhere either.
    path = tmp_path / "vault-pass"
    path.write_text(f"pw-{secrets.token_hex(12)}\n")
    return path


def _inline_vault(project: Path, canary: str, password: Path) -> None:
    """maas's host_description as a ``!vault`` value in its host_vars file."""
    from planner.yamlio.edit import delete_text

    path = project / "inventory" / "host_vars" / "maas.yml"
    text = delete_text(path.read_text(), ("host_description",))
    path.write_text(text.rstrip("\n") + "\n" + vault_encrypt(canary, "host_description", password))


def _whole_file_vault(project: Path, canary: str, password: Path) -> None:
    """maas's host_description in group_vars/infra.yml (maas is infra's only host), the file encrypted whole."""
    from planner.yamlio.edit import delete_text

    path = project / "inventory" / "host_vars" / "maas.yml"
    path.write_text(delete_text(path.read_text(), ("host_description",)))
    secret = project / "inventory" / "group_vars" / "infra.yml"
    secret.write_text(f"---\nhost_description: {canary}\ninfra_unused_flag: true\n")
    tool = str(Path(sys.executable).with_name("ansible-vault"))
    subprocess.run([tool, "encrypt", "--vault-password-file", str(password), str(secret)],
                   capture_output=True, text=True, check=True, timeout=60)
    assert secret.read_text().startswith("$ANSIBLE_VAULT;")


def _hits(roots: list[Path], needle: bytes) -> list[str]:
    """Files below ``roots`` holding ``needle`` (lab hosts' own file systems are searched separately)."""
    found = []
    for root in roots:
        for path in root.rglob("*"):
            rel = path.relative_to(root).parts
            if rel[:1] == ("hosts",) and root.name.startswith("lab"):
                continue  # a lab host's root file system: its /etc/motd rightly holds the value
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(str(path))
    return found


@pytest.mark.parametrize("vaulting", [_inline_vault, _whole_file_vault], ids=["inline", "whole-file"])
def test_a_vaulted_value_is_masked_everywhere_but_on_the_host(lab: Lab, project: Path, tmp_path: Path,
                                                              vaulting) -> None:
    canary = f"canary{secrets.token_hex(8)}"
    password = _vault_password(tmp_path)
    vaulting(project, canary, password)
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(password)}
    outputs: list[str] = []
    # plan prints its review through show's renderer (planner.commands._plans.emit): a plan in each of its
    # two modes (progress beside the text review, or JSON on stdout), and show below, cover every format.
    for fmt in ("text", "json"):
        made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", "--format", fmt, env=env)
        assert made.rc == 0, made.stderr
        outputs += [made.stdout, made.stderr]
    plan = plan_json(made)
    motd = [d for t in plan["review"]["steps"][0]["tasks"] for d in t["diffs"]
            if "motd" in (d.get("after_header") or "")]
    assert motd and MASK in motd[0]["after"], "the motd diff should show the masked value"
    for fmt in ("text", "markdown", "html", "json"):
        shown = homelab_in(project, "show", plan["id"], "--format", fmt)
        outputs += [shown.stdout, shown.stderr]
    applied = homelab_in(project, "apply", plan["id"], "--yes", env=env)
    assert applied.rc == 0, applied.stderr
    outputs += [applied.stdout, applied.stderr]

    on_host = run_homelab("lab", "ssh", "maas", "--", "cat", "/etc/motd", env=lab.env)
    assert on_host.rc == 0, on_host.stderr
    assert canary in on_host.stdout, "the value never reached the host: the search below would prove nothing"
    upper = lab.dir / "hosts" / "maas" / "upper" / "etc" / "motd"
    assert canary.encode() in upper.read_bytes(), "the file search cannot see the one copy that must exist"

    assert [o for o in outputs if canary in o] == []
    assert _hits([project, tmp_path, lab.dir], canary.encode()) == []
    secret_password = password.read_bytes().strip()
    assert _hits([project / ".homelab", project / "docs", lab.dir], secret_password) == []
    assert all(secret_password.decode() not in o for o in outputs)


def test_state_is_owner_only_after_a_plan(project: Path) -> None:
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", "--format", "json")
    assert made.rc == 0, made.stderr
    state = project / ".homelab"
    # lab-inventory/ is the test fixture's own directory of links, not something the tool made.
    paths = [state, *(p for p in state.rglob("*") if "lab-inventory" not in p.relative_to(state).parts)]
    assert any(p.name.endswith(".json") and p.parent.name == "plans" for p in paths)
    assert any("job_events" in p.parts for p in paths), "a run's artifacts should be there to check"
    loose = [f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p}" for p in paths
             if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) != (0o700 if p.is_dir() else 0o600)]
    assert loose == []


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["lol0: &lol0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("content", ["bomb", "oversized"])
def test_an_alias_bomb_or_oversized_host_vars_file_is_refused_at_once(project: Path, content: str) -> None:
    path = project / "inventory" / "host_vars" / "maas.yml"
    if content == "bomb":
        path.write_text(path.read_text() + _bomb())
    else:
        with path.open("a") as fh:  # 11 MB of comments: valid YAML, over the 10 MB limit
            fh.write(("# " + "x" * 1000 + "\n") * 11_000)
    for args in (("inventory", "validate"), ("plan", "-p", "apply_baseline", "-l", "maas", "--no-check")):
        # CPU seconds, not wall-clock: `make test` runs a second stream beside this one, and a refusal that
        # waits for a core has not taken longer to decide.
        refused = spawned(*args, env={"HOMELAB_INVENTORY": str(project / ".homelab" / "lab-inventory")},
                          cwd=project)
        took = refused.cpu_s
        assert refused.rc == 2, refused.stderr
        error = [line for line in refused.stderr.splitlines() if line.startswith("Error: ")]
        assert error and "host_vars/maas.yml" in error[0], refused.stderr
        assert "\nHint:" in refused.stderr
        # The whole CLI run, interpreter start included; the check itself takes milliseconds.
        assert took < 5, f"{args} took {took:.1f} s of CPU"
        print(f"{content} {' '.join(args)}: refused in {took:.2f} s of CPU")
    assert not list(project.glob(".homelab/plans/*.json")), "a refused plan must not be saved"


def test_the_plan_file_reports_no_secret_values(project: Path) -> None:
    """A plan without vaulted values keeps its review as it was: masking touches only secrets."""
    made = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", "--format", "json"))
    text = json.dumps(made)
    assert MASK not in text
    assert "MAAS region and rack controller" in text
