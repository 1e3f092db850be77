"""Shared fixtures: the project root and a way to run the real ``homelab`` CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.projects import copy_project, documented_only, kb_as_documented  # noqa: F401 - most tests take them here

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

def git_repo(path: Path) -> Path:
    """A git repository at ``path`` with one commit on main (README.md) and an uncommitted edit of it: a person's
    work in progress, which a tool that commits elsewhere in the repository must leave alone."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=True)

    path.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    git("config", "user.name", "Person")
    git("config", "user.email", "person@example.org")
    (path / "README.md").write_text("the homelab\n")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    (path / "README.md").write_text("the homelab, being edited\n")
    return path


def vault_encrypt(value: str, name: str, password_file: Path) -> str:
    """``name: !vault |`` YAML for ``value``, made by the real ansible-vault."""
    tool = str(Path(sys.executable).with_name("ansible-vault"))
    return subprocess.run([tool, "encrypt_string", "--vault-password-file", str(password_file), value, "--name", name],
                          capture_output=True, text=True, check=True).stdout


@dataclass(frozen=True)
class Result:
    """What a CLI run printed and returned."""

    rc: int
    stdout: str
    stderr: str


def homelab_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a tests' ``homelab`` run: this one, no colour, a wide terminal, then ``env`` over it."""
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}


def run_homelab(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    """Run ``homelab`` as a person would (stdout and stderr kept apart): ``planner.cli.main`` in a child forked
    from :mod:`tests.forkserver`, where the planner is imported already, so a run costs its command's work and
    not a Python start-up."""
    from tests import forkserver

    ended, stdout, stderr = forkserver.run(list(args), homelab_env(env), cwd, timeout)
    if ended["timed_out"]:  # killed at the deadline, and failing the test as subprocess.run's timeout did
        raise subprocess.TimeoutExpired(["homelab", *args], timeout, stdout, stderr)
    return Result(ended["rc"], stdout, stderr)


def planned(env: dict[str, str], *args: str) -> dict:
    """``homelab ARGS --no-check --format json`` in ``env``: the plan document it printed (it must succeed)."""
    import json

    made = run_homelab(*args, "--no-check", "--format", "json", env=env)
    assert made.rc == 0, made.stderr
    return json.loads(made.stdout)


def tree_digest(path: Path) -> str:
    """A digest of every file under ``path`` (names and bytes), to prove nothing was written."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture
def homelab():
    """The CLI runner."""
    return run_homelab



def pytest_configure(config: pytest.Config) -> None:
    # The session lab's fixtures (tests/lab.py), registered once as a plugin for every suite (integration,
    # reliability): one definition, so one lab per session, whichever suite asks for it first.
    import tests.lab

    if not config.pluginmanager.is_registered(tests.lab):
        config.pluginmanager.register(tests.lab, "homelab-session-lab")



def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    # Time per suite (tests/unit, tests/integration, tests/reliability; the molecule scenarios apart), summed
    # over every test's setup, call and teardown, so the README's "how long each part takes" comes from a run.
    totals: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                parts = report.nodeid.split("/")
                suite = ("molecule" if "test_molecule.py" in report.nodeid
                         else parts[1] if len(parts) > 2 else parts[0])
                totals[suite] = totals.get(suite, 0.0) + report.duration
    if totals:
        # Whole seconds first, then minutes and seconds of them: 179.6 s is "3 min 0 s", never "2 min 60 s".
        terminalreporter.write_line("time per suite: " + ", ".join(
            "{} {} min {} s".format(suite, *divmod(round(seconds), 60)) for suite, seconds in sorted(totals.items())))
