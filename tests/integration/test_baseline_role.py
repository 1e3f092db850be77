"""The baseline role against the sandbox lab: an honest check run, a real run, and idempotence.

The playbook runs four times on all nine hosts, once each for the whole module
(a run takes tens of seconds): ``--check --diff``, a real run, a second real
run, and a second ``--check --diff``. Each test then asserts one promise about
that sequence. The runs add an admin key made for this module, so the first
check run has something to show even on hosts that already carry the baseline,
and the key's block proves that keys outside it survive.

The lab is shared by every integration test of the session, so the module puts
back on teardown every file the role writes, as it found it: later tests that
expect a fresh host's baseline diff (tests/integration/test_plan_apply.py) still
see one.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import Lab
from tests.integration.test_lab import HOSTS, lab_ssh

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
PLAYBOOK = "playbooks/apply_baseline.yml"

# Everything the role may write, each put back on teardown.
MANAGED = (
    "/etc/localtime",
    "/etc/timezone",
    "/etc/motd",
    "/etc/systemd/timesyncd.conf.d",
    "/etc/systemd/journald.conf.d",
    "/etc/sysctl.d/90-homelab.conf",
    "/home/admin/.ssh/authorized_keys",
)
BACKUP = "/var/tmp/baseline-test-backup.tar"
ABSENT = "/var/tmp/baseline-test-absent"
MARKER = "ADMIN KEYS MANAGED BY HOMELAB-PLANNER"

# What a host looks like to the tests: every file and directory under /etc and
# the admin user's ~/.ssh (path, type, mode, owner, mtime, link target) with
# the contents' digest, and the journald PID, which changes only on a restart.
SNAPSHOT = (
    "sudo find /etc /home/admin/.ssh -xdev -printf '%p %y %m %u:%g %T@ %l\\n' | sort;"
    " sudo find /etc /home/admin/.ssh -xdev -type f -print0 | sort -z | sudo xargs -0 sha256sum;"
    " echo journald-pid $(systemctl show -p MainPID --value systemd-journald.service)"
)


@dataclass(frozen=True)
class Run:
    """One ansible-playbook run: its exit status and what it printed."""

    rc: int
    stdout: str
    stderr: str

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host (ok, changed, unreachable, failed, ...)."""
        return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
                for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", self.stdout, re.M)}

    def explain(self) -> str:
        """The tail of the output, for an assertion message."""
        return self.stdout[-4000:] + self.stderr[-2000:]


@dataclass(frozen=True)
class Sequence:
    """The module's four runs and the hosts' state around them."""

    key: Path
    keys_before: dict[str, str]
    keys_after: dict[str, str]
    before: dict[str, str]
    check: Run
    after_check: dict[str, str]
    apply: Run
    after_apply: dict[str, str]
    reapply: Run
    after_reapply: dict[str, str]
    recheck: Run
    after_recheck: dict[str, str]


def run_playbook(lab: Lab, *args: str) -> Run:
    """Run the catalog playbook from the repository root, so ansible.cfg applies, as CI would."""
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(lab.inventory), PLAYBOOK, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def on_every_host(lab: Lab, command: str) -> dict[str, str]:
    """Run a shell command on all hosts at once; its stdout per host."""
    def one(host: str) -> str:
        proc = lab_ssh(lab, host, command)
        assert proc.returncode == 0, f"{host}: {proc.stderr}"
        return proc.stdout

    with ThreadPoolExecutor(max_workers=len(HOSTS)) as pool:
        return dict(zip(HOSTS, pool.map(one, HOSTS), strict=True))


def outside_block(authorized_keys: str) -> list[str]:
    """The lines of an authorized_keys file outside the role's marked block."""
    lines, inside = [], False
    for line in authorized_keys.splitlines():
        if MARKER in line:
            inside = line.startswith("# BEGIN")
            continue
        if not inside:
            lines.append(line)
    return lines


@pytest.fixture(scope="module")
def sequence(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sequence]:
    """Check, apply, apply again, check again; then put every managed file back."""
    key = tmp_path_factory.mktemp("baseline") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "baseline-test", "-f", str(key)],
                   check=True, capture_output=True)
    extra = ["-e", json.dumps({"baseline_admin_authorized_keys": [key.with_suffix(".pub").read_text().strip()]})]

    paths = " ".join(MANAGED)
    save = (f"cd / && rm -f {ABSENT} && present= && for p in {paths}; do"
            f" if [ -e $p ] || [ -L $p ]; then present=\"$present ${{p#/}}\"; else echo $p >> {ABSENT}; fi; done"
            f" && touch {ABSENT} && tar -cpf {BACKUP} $present")
    restore = f"cd / && xargs -r rm -rf < {ABSENT} && tar -xpf {BACKUP} && rm -f {BACKUP} {ABSENT}"
    on_every_host(lab, f"sudo sh -c {shlex.quote(save)}")
    try:
        keys_before = on_every_host(lab, "cat ~/.ssh/authorized_keys")
        before = on_every_host(lab, SNAPSHOT)
        check = run_playbook(lab, "--check", "--diff", *extra)
        after_check = on_every_host(lab, SNAPSHOT)
        apply = run_playbook(lab, *extra)
        after_apply = on_every_host(lab, SNAPSHOT)
        keys_after = on_every_host(lab, "cat ~/.ssh/authorized_keys")
        reapply = run_playbook(lab, *extra)
        after_reapply = on_every_host(lab, SNAPSHOT)
        recheck = run_playbook(lab, "--check", "--diff", *extra)
        after_recheck = on_every_host(lab, SNAPSHOT)
        yield Sequence(key, keys_before, keys_after, before, check, after_check, apply, after_apply,
                       reapply, after_reapply, recheck, after_recheck)
    finally:
        on_every_host(lab, f"sudo sh -c {shlex.quote(restore)}")


def assert_ran_everywhere(run: Run) -> dict[str, dict[str, int]]:
    """The run succeeded and reached all nine hosts; returns its recap."""
    assert run.rc == 0, run.explain()
    recap = run.recap
    assert sorted(recap) == sorted(HOSTS), run.explain()
    for host, counts in recap.items():
        assert counts["unreachable"] == 0 and counts["failed"] == 0, f"{host}: {counts}"
    return recap


def test_check_run_shows_a_diff_for_every_host(sequence: Sequence) -> None:
    recap = assert_ran_everywhere(sequence.check)
    assert all(counts["changed"] > 0 for counts in recap.values()), recap
    # The new key appears once per host as an added line of authorized_keys.
    public = sequence.key.with_suffix(".pub").read_text().strip()
    assert sequence.check.stdout.count(f"\n+{public}\n") == len(HOSTS), sequence.check.explain()
    assert "+++ after: /home/admin/.ssh/authorized_keys" in sequence.check.stdout


def test_check_run_changes_nothing_on_any_host(sequence: Sequence) -> None:
    changed = sorted(h for h in HOSTS if sequence.after_check[h] != sequence.before[h])
    assert changed == [], f"--check changed files under /etc or ~admin/.ssh (or restarted journald) on {changed}"


def test_real_run_succeeds_and_writes_the_baseline(lab: Lab, sequence: Sequence) -> None:
    recap = assert_ran_everywhere(sequence.apply)
    assert all(counts["changed"] > 0 for counts in recap.values()), recap

    shown = lab_ssh(lab, "maas", "cat /etc/motd /etc/systemd/journald.conf.d/90-homelab.conf"
                                 " /etc/systemd/timesyncd.conf.d/90-homelab.conf /etc/sysctl.d/90-homelab.conf;"
                                 " readlink /etc/localtime; cat ~/.ssh/authorized_keys")
    assert shown.returncode == 0, shown.stderr
    for expected in ("maas (groups: infra)", "managed by homelab-planner",
                     "SystemMaxUse=200M", "MaxRetentionSec=1month",
                     "NTP=0.debian.pool.ntp.org 1.debian.pool.ntp.org",
                     "fs.inotify.max_user_watches = 524288\nvm.swappiness = 10",
                     "/usr/share/zoneinfo/Etc/UTC", f"# BEGIN {MARKER}"):
        assert expected in shown.stdout, f"{expected!r} missing on maas:\n{shown.stdout}"


def test_real_run_keeps_every_key_outside_the_block(lab: Lab, sequence: Sequence) -> None:
    """The lab's own key (how the controller gets in) is untouched, and the new key logs in too."""
    public = sequence.key.with_suffix(".pub").read_text().strip()
    for host in HOSTS:
        kept = outside_block(sequence.keys_before[host])
        assert kept, f"{host}: the lab's key is missing before the run"
        assert outside_block(sequence.keys_after[host]) == kept, f"{host}: keys outside the block changed"
        assert public in sequence.keys_after[host] and public not in kept, f"{host}: the new key is not in the block"
    address = lab.state()["hosts"]["maas"]
    login = subprocess.run(["ssh", "-i", str(sequence.key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                            "-o", f"UserKnownHostsFile={lab.dir / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
                            "-p", str(address["port"]), f"admin@{address['address']}", "true"],
                           capture_output=True, text=True, timeout=30, check=False)
    assert login.returncode == 0, login.stderr


def test_real_run_restarts_journald_for_its_new_limits(sequence: Sequence) -> None:
    def pid(state: str) -> str:
        return state.rsplit("journald-pid", 1)[1].strip()

    restarted = [h for h in HOSTS if pid(sequence.after_apply[h]) != pid(sequence.before[h])]
    assert sorted(restarted) == sorted(HOSTS)


def test_second_real_run_changes_nothing(sequence: Sequence) -> None:
    recap = assert_ran_everywhere(sequence.reapply)
    assert all(counts["changed"] == 0 for counts in recap.values()), recap
    moved = sorted(h for h in HOSTS if sequence.after_reapply[h] != sequence.after_apply[h])
    assert moved == [], f"the second run rewrote files or restarted journald on {moved}"


def test_second_check_run_reports_no_changes(sequence: Sequence) -> None:
    recap = assert_ran_everywhere(sequence.recheck)
    assert all(counts["changed"] == 0 for counts in recap.values()), recap
    assert "+++ after" not in sequence.recheck.stdout
    assert sequence.after_recheck == sequence.after_reapply
