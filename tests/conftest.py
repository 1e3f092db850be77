"""Shared fixtures: the project root and a way to run the real ``homelab`` CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def copy_project(dest: Path) -> Path:
    """A copy of the project without its virtualenv, state, tests or session logs; returns ``dest``."""
    import shutil

    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".venv", ".homelab", ".git", "__pycache__",
                                                              ".pytest_cache", ".mypy_cache", ".ruff_cache",
                                                              "*.egg-info", "tests", "sessions"))
    return dest


def documented_only(project: Path) -> Path:
    """``project`` with the facts a `make demo` wrote into its host_vars taken out: tests start from the
    documentation alone, whatever ran in the checkout before them."""
    from planner.yamlio.edit import delete_text

    taken_out = False
    for path in (project / "inventory" / "host_vars").glob("*.yml"):
        text = path.read_text()
        if "\ndiscovered:" in text:
            path.write_text(delete_text(text, ("discovered",)))
            taken_out = True
    kb = project / "docs" / "knowledge-base.yml"
    if kb.exists():
        documented = kb_as_documented(kb.read_text())
        taken_out = taken_out or documented != kb.read_text()
        kb.write_text(documented)
    if taken_out:
        # The docs the demo regenerated show those facts; made again from what is left, the copy starts with
        # current docs, as a clean checkout does (an apply that changes nothing regenerates only some of them).
        from planner.knowledge import docsgen

        docsgen.write(project, docsgen.generate(project, project / "inventory"))
    return project


def kb_as_documented(text: str) -> str:
    """A knowledge base without what the tool wrote into it (occurrences, issues it opened): what a `make demo`
    learnt in the checkout would otherwise count as sightings in a test's project."""
    import yaml

    from planner.yamlio.edit import delete_text

    issues = (yaml.safe_load(text) or {}).get("issues") or []
    for i in reversed(range(len(issues))):
        if issues[i].get("added_by") == "homelab":
            text = delete_text(text, ("issues", i))
        elif "occurrences" in issues[i]:
            text = delete_text(text, ("issues", i, "occurrences"))
    return text


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


def run_homelab(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    """Run ``homelab`` in a subprocess, as a person would (stdout and stderr kept apart)."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


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
        terminalreporter.write_line("time per suite: " + ", ".join(
            f"{suite} {seconds // 60:.0f} min {seconds % 60:.0f} s" for suite, seconds in sorted(totals.items())))
