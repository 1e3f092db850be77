"""Every role's molecule scenario (molecule/<role>/), run with `molecule test` as a person would run it.

One test per directory under molecule/ that holds a molecule.yml, so a new role's scenario runs here with no
change to this file. Each scenario starts a sandbox lab of its own (127.0.6.x, in the scenario's scratch
directory, which this test puts under pytest's temporary directory), runs its sequence against it (converge,
idempotence, check and verify among them; see the scenario's molecule.yml) and stops the lab again. The
scenarios run one after the other and share nothing with the session's lab (127.0.3.x) or the demo's
(127.0.1.x). What they have in common is in .config/molecule/config.yml.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_homelab
from tests.integration.conftest import mounts_under

pytestmark = pytest.mark.lab

MOLECULE = Path(sys.executable).with_name("molecule")
BASE_CONFIG = ROOT / ".config" / "molecule" / "config.yml"
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))

# Settings from the caller's shell that would change what a scenario runs or prints (another ansible.cfg,
# a stdout callback whose recap molecule's idempotence step cannot read, another scratch directory).
INHERITED_PREFIXES = ("ANSIBLE_", "MOLECULE_", "HOMELAB_")
# Kept: where the lab's root filesystem is cached and fetched from, the scenarios' loopback /24, and the lab
# hosts' bytecode cache that tests/lab.py turns on (it changes no module's behaviour, only what compiling
# each task's code costs: the baseline and node_exporter scenarios took 213 CPU-seconds with it, 221 without).
KEPT = {"HOMELAB_CACHE_DIR", "HOMELAB_DEBIAN_MIRROR", "HOMELAB_MOLECULE_LAB_NET", "HOMELAB_LAB_SSH_PORT",
        "HOMELAB_LAB_BYTECODE_CACHE"}


def molecule_env(scratch: Path) -> dict[str, str]:
    """The environment of one `molecule test`: this virtualenv first on PATH, no colour, its own scratch dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES) or k in KEPT}
    env.update({
        # molecule starts ansible-playbook by name; the scenarios start the homelab beside it.
        "PATH": f"{MOLECULE.parent}{os.pathsep}{env.get('PATH', '')}",
        "MOLECULE_EPHEMERAL_DIRECTORY": str(scratch),
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
    })
    return env


def test_there_are_scenarios() -> None:
    """Guards the parametrized test below against passing vacuously after a move."""
    assert SCENARIOS, "no molecule scenarios found under molecule/"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the molecule scenarios need root for their sandbox lab (overlayfs mounts, systemd-nspawn)")
    scratch = tmp_path / "molecule"
    started = time.monotonic()
    # The base config is named, not left for molecule to find at the repository's root: a copy of the
    # project without .git would otherwise run with ~/.config/molecule/config.yml, or with none.
    try:
        proc = subprocess.run([str(MOLECULE), "--base-config", str(BASE_CONFIG), "test", "--scenario-name",
                               scenario], cwd=ROOT, env=molecule_env(scratch), capture_output=True, text=True,
                              timeout=1200, check=False)
    except BaseException:
        # Interrupted (a Ctrl-C) or past its timeout, molecule was killed before its destroy step: the
        # scenario's lab is stopped here instead, so that nothing of it outlives the test run.
        lab_env = {"HOMELAB_LAB_DIR": str(scratch / "lab"),
                   "HOMELAB_LAB_NET": os.environ.get("HOMELAB_MOLECULE_LAB_NET", "127.0.6")}
        run_homelab("lab", "down", env=lab_env, timeout=300)
        raise
    took = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"molecule test -s {scenario} failed after {took:.0f} s:\n{output[-8000:]}"
    assert "Molecule executed 1 scenario (1 successful)" in output, output[-4000:]
    assert mounts_under(scratch) == [], f"the {scenario} scenario's lab left mounts behind"
