"""The sandbox lab for lab tests (integration and reliability): one lab per test session, torn down at the end.

It runs on its own loopback /24 (127.0.3.0, or ``$HOMELAB_TEST_LAB_NET`` so
that two test runs can share a machine) and in its own directory, so a lab
left up by `make demo` (127.0.1.0, .homelab/lab) is not disturbed.

The fixtures here (``lab``, ``project``, ``atd``) are registered once, by tests/conftest.py, so that every
suite under tests/ shares the one session lab instead of starting a second on the same net.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Result, copy_project, documented_only, run_homelab

LAB_NET = os.environ.get("HOMELAB_TEST_LAB_NET", "127.0.3")
# The tests' labs keep the code Ansible sends compiled (docs/LAB.md, "Speed"): their hosts share this
# machine's two cores, and without it each task's compile is most of what the suite waits for.
os.environ.setdefault("HOMELAB_LAB_BYTECODE_CACHE", "1")


@dataclass(frozen=True)
class Lab:
    """A running lab: where it lives and the environment that points homelab at it."""

    dir: Path
    env: dict[str, str]

    @property
    def inventory(self) -> Path:
        """The lab's Ansible inventory directory."""
        return self.dir / "inventory"

    def state(self) -> dict:
        """lab.json: what the lab started."""
        return json.loads((self.dir / "lab.json").read_text())


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``."""
    prefix = str(path)
    with open("/proc/self/mountinfo") as fh:
        return [line.split()[4] for line in fh if line.split()[4].startswith(prefix)]


@contextmanager
def running_lab(lab_dir: Path, net: str) -> Iterator[Lab]:
    """A lab up in ``lab_dir`` on loopback ``net`` for the block; down at the end, proving nothing is left."""
    if os.geteuid() != 0:
        pytest.fail("the lab integration tests need root (overlayfs mounts, systemd-nspawn)")
    env = {"HOMELAB_LAB_DIR": str(lab_dir), "HOMELAB_LAB_NET": net}
    try:
        result = run_homelab("lab", "up", env=env, timeout=600)
    except BaseException:
        # Interrupted (a Ctrl-C) or past its timeout: `lab down` waits for the lab's lock, so it stops what
        # the start left once that has ended.
        run_homelab("lab", "down", env=env, timeout=300)
        raise
    assert result.rc == 0, f"lab up failed:\n{result.stderr}"
    lab = Lab(lab_dir, env)
    pids = [h["pid"] for h in lab.state()["hosts"].values()]
    try:
        yield lab
    finally:
        down = run_homelab("lab", "down", env=env, timeout=300)
        assert down.rc == 0, down.stderr
        assert [p for p in pids if pid_alive(p)] == [], "lab down left processes running"
        assert mounts_under(lab_dir) == [], "lab down left mounts behind"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Bring the lab up once for the session; bring it down and prove nothing is left."""
    with running_lab(tmp_path_factory.mktemp("lab"), LAB_NET) as lab:
        yield lab


def plan_json(result: Result) -> dict:
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def project(lab: Lab, tmp_path: Path) -> Path:
    """A copy of the project whose lab inventory links to the copy's own inventory files.

    Tests that edit inputs (to make a plan stale) edit the copy, never the repository.
    """
    return project_on(lab, tmp_path)


def project_on(lab: Lab, tmp_path: Path) -> Path:
    """The ``project`` fixture's copy, for any running lab (a test's own lab too)."""
    copy = documented_only(copy_project(tmp_path / "project"))
    inv = copy / ".homelab" / "lab-inventory"
    inv.mkdir(parents=True)
    for entry in (copy / "inventory").iterdir():
        (inv / entry.name).symlink_to(entry)
    shutil.copy(lab.inventory / "zz-lab.yml", inv / "zz-lab.yml")
    return copy


def homelab_in(project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    """``homelab ARGS`` in ``project``, against the session lab's inventory."""
    inv = str(project / ".homelab" / "lab-inventory")
    return run_homelab(*args, cwd=project, env={"HOMELAB_INVENTORY": inv, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="session")
def atd() -> Iterator[None]:
    """An atd for scheduled applies (the test machines have no systemd as PID 1): our own child, stopped by its
    PID at the end, or the one already serving its compiled-in spool."""
    proc = subprocess.Popen(["atd", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass  # ours runs
    else:
        running = Path("/run/atd.pid")
        assert running.exists() and pid_alive(int(running.read_text().split()[0])), (
            f"atd could not start and none serves the spool: {proc.stderr.read() if proc.stderr else ''}")
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def kuma_credentials(lab: Lab) -> dict[str, str]:
    """The lab's Uptime Kuma admin: the variables `. uptime-kuma.env` exports, read as a shell reads them."""
    from planner.lab import kuma

    proc = subprocess.run(["sh", "-c", f'. "{lab.dir / kuma.CREDENTIALS_FILE}" && env'], capture_output=True,
                          text=True, check=True, env={})
    found = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return {k: found[k] for k in (kuma.USERNAME_ENV, kuma.PASSWORD_ENV)}
