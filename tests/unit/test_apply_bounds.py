"""What bounds an apply: SIGTERM cancels like Ctrl-C, --timeout is checked, a run leaves no process behind.

The lab half (each fault against real hosts) is tests/reliability/test_apply_faults.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from planner.cli import main
from planner.plans.progress import Interrupt


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_asks_for_a_clean_cancel_and_a_second_one_forces(sig: signal.Signals,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    interrupt = Interrupt()
    before = signal.getsignal(sig)
    with interrupt.armed():
        os.kill(os.getpid(), sig)
        assert interrupt(), "the first signal sets the cancel flag"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) == before, "the previous handler is restored"
    word = "Interrupting" if sig == signal.SIGINT else "Terminated"
    assert f"{word}: cancelling the run cleanly" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "said"), [
    (["--timeout", "0"], "Invalid value for '--timeout'"),
    (["--timeout", "ten"], "Invalid value for '--timeout'"),
    (["--timeout", "60", "--at", "now + 5 minutes"], "--timeout bounds an apply that runs now"),
])
def test_a_bad_timeout_is_refused_before_anything_runs(args: list[str], said: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["apply", "latest", "--yes", *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert said in err and "Error:" in err and "Hint:" in err, err
    assert not (tmp_path / ".homelab").exists(), "nothing written"


#: Run in a process of its own: becoming a child subreaper lasts for the life of the process, and pytest's
#: own process must not collect the orphans of every later test (a lab's systemd-nspawn, say).
_LEFTOVERS = """
import os, subprocess, sys, time
from pathlib import Path
from planner.plans import runner

home = Path(sys.argv[1])
runner._become_subreaper()
stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
# Like ansible-playbook's worker: a grandchild in a session of its own whose parent exits at once.
subprocess.run([sys.executable, "-c", "import os, subprocess, sys; subprocess.Popen([sys.executable, '-c', "
                "'import time; time.sleep(60)'], start_new_session=True); os._exit(0)"],
               env={**os.environ, "HOME": str(home)}, check=True)
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not runner._children(home):
    time.sleep(0.05)
orphans = runner._children(home)
assert len(orphans) == 1, f"the worker was not re-parented here: {orphans}"
runner._kill_leftovers(home)
assert runner._children(home) == {}
assert all(not Path(f"/proc/{pid}").exists() for pid in orphans), "not killed and reaped"
assert stranger.poll() is None, "another child of this process was touched"
stranger.kill()
stranger.wait()
print("ok")
"""


def test_what_a_run_leaves_behind_is_killed_and_nothing_else(tmp_path: Path) -> None:
    """A run's detached worker (its own session, re-parented to the runner's process once its parent is gone)
    is killed with its group and reaped; a child of that process that is not the run's is left alone."""
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.run([sys.executable, "-c", _LEFTOVERS, str(home)], capture_output=True, text=True,
                          timeout=60, check=False, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
