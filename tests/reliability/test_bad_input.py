"""Bad input, across the commands that read it: each case prints ``Error:`` and ``Hint:`` (no traceback),
exits with the code README's "Exit codes" documents, and leaves every file of the project as it was.

Inputs: the hand-kept inventory and the catalog's meta files (playbooks/*.meta.yml), broken each way a file
can be: a syntax error, a duplicate key, a YAML alias bomb ("billion laughs"), a 50 MB file, bytes that are
not UTF-8, a NUL byte; and on the command line unknown options, bad plan ids and bad dates. Each case runs
the real CLI in a child forked from this process (tests/reliability/cli.py), on one copy of the project whose
file the case breaks and then puts back; the alias bomb and the huge file also run in a fresh interpreter,
whose time and peak memory are the command's own: refused in under a second and under 100 MB.
tests/unit/test_cli_errors.py and tests/unit/test_yaml_limits.py cover other cases; none is repeated here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from planner.errors import ExitCode
from tests.conftest import copy_project, tree_digest
from tests.reliability.cli import Measured, forked, spawned

USAGE, REFUSED = ExitCode.USAGE, ExitCode.REFUSED
HOSTS = "inventory/hosts.yml"
HOST_VARS = "inventory/host_vars/maas.yml"
META = "playbooks/gather_facts.meta.yml"
CHANGE_META = "playbooks/apply_baseline.meta.yml"

# Nine anchors, each nine aliases of the one before: 9**9 (387 million) nodes once expanded, 600 bytes on disk.
BOMB = "\n".join([f"bomb_a: &a [{', '.join(['lol'] * 9)}]"]
                 + [f"bomb_{b}: &{b} [{', '.join(['*' + a] * 9)}]"
                    for a, b in zip("abcdefgh", "bcdefghi", strict=True)])
HUGE_MIB = 50


def _append(text: str | bytes) -> Callable[[bytes], bytes]:
    data = text.encode() if isinstance(text, str) else text
    return lambda old: old + b"\n" + data + b"\n"


def _huge(old: bytes) -> bytes:
    # Valid YAML all the way (a comment line repeated), so only its size can be the reason to refuse it.
    line = b"# padding: a file that is not an inventory got into it, or a generated one ran away\n"
    return old + line * (HUGE_MIB * 1024 * 1024 // len(line) + 1)


BREAKS: dict[str, Callable[[bytes], bytes]] = {
    "syntax error": _append("broken: [unclosed"),
    "duplicate key": _append("lan_ip: 192.168.4.99"),
    "alias bomb": _append(BOMB),
    f"{HUGE_MIB} MB file": _huge,
    "non-UTF-8 bytes": _append(b"note: caf\xe9 (latin-1)"),
    "NUL byte": _append("note: a\x00b"),
    "not a mapping": lambda old: b"- just\n- a list\n",
}
META_BREAKS: dict[str, Callable[[bytes], bytes]] = {
    **{k: v for k, v in BREAKS.items() if k not in ("duplicate key",)},
    "duplicate key": _append("risk: change"),
    "unknown field": _append("run_as_root_everywhere: true"),
    "wrong type": lambda old: old.replace(b"risk: read", b"risk: [read, change]"),
}

PLAN_CHECKLESS = ("plan", "-p", "gather_facts", "-l", "maas", "--no-check", "--format", "json")
INVENTORY_READERS = {
    "inventory validate": ("inventory", "validate"),
    "plan --playbook": PLAN_CHECKLESS,
    "plan words": ("plan", "what hardware does maas have", "--no-check", "--format", "json"),
    "drift": ("drift",),
    "docs": ("docs",),
}
META_READERS = {
    "catalog": ("catalog",),
    "catalog show": ("catalog", "show", "gather_facts"),
    "plan --playbook": PLAN_CHECKLESS,
    "docs --check": ("docs", "--check"),
}


@dataclass(frozen=True)
class Case:
    """One command on one broken input: what it must exit with, and a phrase its error must have."""

    id: str
    args: tuple[str, ...]
    code: ExitCode = USAGE
    says: str = ""
    breaks: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)  # path -> new bytes from old
    measured: bool = False  # also run in a fresh interpreter: < 1 s and < 100 MB


def _file_cases() -> list[Case]:
    cases = []
    for broken, change in BREAKS.items():
        path = HOST_VARS if broken in ("duplicate key", "alias bomb", "NUL byte") else HOSTS
        for reader, args in INVENTORY_READERS.items():
            # Measured where the broken file is what the command reads first (a plan loads the catalog before
            # the inventory: its second is the catalog's).
            heavy = broken in ("alias bomb", f"{HUGE_MIB} MB file") and reader == "inventory validate"
            # Ansible reads hosts.yml for `plan --playbook`: its error names the inventory, and the hint the
            # command that names the line.
            unread = reader == "plan --playbook" and broken in ("syntax error", "not a mapping")
            says = "inventory validate" if unread else path.rsplit("/", 1)[1]
            if broken == "duplicate key" and reader == "plan --playbook":
                # Ansible keeps the last of duplicate keys, and so does a plan that names its playbook (it reads
                # host_vars only when a run does); validate, drift, docs and a plan from words refuse them.
                continue
            cases.append(Case(f"inventory {broken}: {reader}", args, USAGE, says, {path: change}, heavy))
    for broken, change in META_BREAKS.items():
        path = CHANGE_META if broken == "duplicate key" else META
        for reader, args in META_READERS.items():
            heavy = broken == "alias bomb" and reader == "catalog"
            cases.append(Case(f"meta {broken}: {reader}", args, USAGE, path.rsplit("/", 1)[1], {path: change},
                              heavy))
    return cases


OPTION_CASES = [
    Case(f"unknown option: {' '.join(args)}", args, USAGE, "No such option")
    for args in (("plan", "-p", "gather_facts", "--dry-run"), ("apply", "--force"),
                 ("inventory", "validate", "--strict"), ("history", "--limit", "3"), ("docs", "--dry-run"),
                 ("catalog", "--all"), ("facts", "--dry-run"),
                 ("drift", "--json"), ("show", "--raw"), ("plans", "-n", "3"), ("schedule", "--all"))
] + [
    Case("unknown subcommand: inventory check", ("inventory", "check"), USAGE, "No such command"),
    Case("bad choice: --format yaml", ("plan", "-p", "gather_facts", "--format", "yaml"), USAGE, "yaml"),
    Case("bad choice: apply --scheduler cron", ("apply", "--at", "fri 22:00", "--scheduler", "cron"), USAGE, "cron"),
]
ID_CASES = [
    Case(f"bad plan id: {' '.join(args)}", args, code, says)
    for args, code, says in (
        (("show", "nosuchplan"), USAGE, "nosuchplan"),
        (("show", "../../etc/passwd"), USAGE, "passwd"),
        (("apply", "nosuchplan", "--yes"), USAGE, "nosuchplan"),
        (("apply", "../plans/x", "--yes"), USAGE, "../plans/x"),
        (("apply", "nosuchplan", "--yes", "--at", "fri 22:00"), USAGE, "nosuchplan"),
        (("plan", "--exclude", "k3s", "nosuchplan", "--no-check"), USAGE, "nosuchplan"),
        (("revise", "nosuchplan", "leave maas out", "--no-check"), USAGE, "nosuchplan"),
        (("policy", "check", "nosuchplan"), USAGE, "nosuchplan"),
        (("schedule", "cancel", "nosuchplan"), USAGE, "nosuchplan"),
        (("rca", "nosuchplan"), USAGE, "nosuchplan"),
    )
]
DATE_CASES = [
    Case(f"bad date: {' '.join(args)}", args, USAGE, says)
    for args, says in (
        (("history", "--since", "2026-02-30"), "is not a date"),
        (("history", "--since", "last tuesday"), "is not a date"),
        (("history", "--since", "2026-1-5"), "is not a date"),
        (("history", "--since", "99999-01-01"), "is not a date"),
        (("apply", "latest", "--yes", "--at", "blursday 25:00"), "blursday"),
        (("apply", "latest", "--yes", "--at", "2020-01-01 10:00"), "not in the future"),
    )
]
CASES = _file_cases() + OPTION_CASES + ID_CASES + DATE_CASES


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("bad-input") / "project")


@pytest.fixture(scope="module")
def env(project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"HOMELAB_ROOT": str(project), "HOMELAB_INVENTORY": str(project / "inventory"), "HOMELAB_MODEL": "",
            "HOMELAB_LAB_DIR": str(tmp_path_factory.mktemp("bad-input-lab"))}


@pytest.fixture(scope="module")
def saved_plan(project: Path, env: dict[str, str]) -> str:
    """One saved plan, made first, so that `apply latest --at WHEN` reaches its date and every case sees the
    same state (made with --no-check: nothing runs, and it cannot be applied)."""
    made = forked(*PLAN_CHECKLESS, env=env)
    assert made.rc == 0, made.stderr
    return made.stdout


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Measured]:
    """Case id -> its run, when it passed every check; the figures are made from it."""
    return {}


@contextmanager
def broken(project: Path, breaks: dict[str, Callable[[bytes], bytes]]) -> Iterator[None]:
    """The project with each file of ``breaks`` replaced, put back afterwards whatever happens."""
    kept = {path: (project / path).read_bytes() for path in breaks}
    try:
        for path, change in breaks.items():
            (project / path).write_bytes(change(kept[path]))
        yield
    finally:
        for path, old in kept.items():
            (project / path).write_bytes(old)


def _is_person_error(run: Measured, case: Case) -> None:
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.rc == case.code, (run.rc, run.stderr[-3000:])
    lines = run.stderr.splitlines()
    assert any(line.startswith("Error: ") for line in lines), run.stderr[-3000:]
    assert any(line.startswith("Hint: ") for line in lines), run.stderr[-3000:]
    assert case.says in run.stderr, run.stderr[-3000:]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_an_error_with_a_hint_and_writes_nothing(case: Case, project: Path, env: dict[str, str],
                                                              saved_plan: str, outcomes: dict[str, Measured]) -> None:
    with broken(project, case.breaks):
        before = tree_digest(project)
        run = forked(*case.args, env=env)
        _is_person_error(run, case)
        assert tree_digest(project) == before, "a file of the project changed"
        if case.measured:
            # The forked run's time is the command's own (its modules were imported before the fork); a fresh
            # interpreter's peak memory is the command's own (a forked child's counts pytest's pages too).
            # CPU time, not wall-clock: on a busy machine the wall clock measures the other processes too.
            assert run.cpu_s < 1.0, run
            fresh = spawned(*case.args, env=env)
            _is_person_error(fresh, case)
            assert tree_digest(project) == before, "a file of the project changed"
            assert fresh.peak_mib < 100, fresh.peak_mib
            run = Measured(run.rc, run.stdout, run.stderr, run.seconds, fresh.peak_mib, run.cpu_s)
    outcomes[case.id] = run


def test_bad_input_figures(outcomes: dict[str, Measured], figure: Callable[[str, str], None]) -> None:
    # Made from the cases above (pytest runs a file's tests in order): select it with them.
    assert len(outcomes) == len(CASES), f"{len(CASES) - len(outcomes)} case(s) failed or were not run"
    groups = ("inventory", "catalog", "policy", "schedule")  # whose second word is the command
    commands = {" ".join(c.args[:2]) if c.args[0] in groups and c.args[1:2] != ("--all",) else c.args[0]
                for c in CASES if not c.id.startswith("unknown subcommand")}
    figure("bad input", f"{len(CASES)} cases over {len(commands)} commands: {len(outcomes)} Error/Hint with the "
                        "documented exit code, 0 tracebacks, 0 files written")
    heavy = [(c.id, outcomes[c.id]) for c in CASES if c.measured]
    slowest = max(run.cpu_s for _, run in heavy)
    biggest = max(run.peak_mib for _, run in heavy)
    figure("alias bomb and huge files", f"{len(heavy)} refusals: at most {slowest:.2f} s of CPU, peak memory "
                                        f"{biggest:.0f} MB in a fresh interpreter (limits 1 s, 100 MB)")
