"""homelab.ops.process_control's judgement: which reviewed processes it stops, skips or refuses, from /proc's text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.homelab.ops.plugins.module_utils import host_health as hh  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import process_control as pc  # noqa: E402

HOG = {"pid": 4242, "start_time": 5941269, "cmdline": "python3 /usr/local/bin/lab-cpu-hog",
       "unit": "lab-cpu-hog.service"}
BARE = {"pid": 4343, "start_time": 5941300, "cmdline": "python3 -c while True: pass", "unit": ""}
#: The unit's (LoadState, ActiveState, MainPID): HOG is its unit's main process.
RUNNING = ("loaded", "active", 4242)


def seen(item: dict, cgroup: str, **changes: object) -> dict:
    """The process /proc shows for ``item``'s pid: the reviewed one unless ``changes`` say otherwise."""
    return {"comm": "python3", "state": "R", "ppid": 1, "start_time": item["start_time"], "cmdline": item["cmdline"],
            "cgroup": cgroup, **changes}


def test_stat_fields_are_counted_after_the_last_parenthesis() -> None:
    # A command name may hold spaces and ')': field 22 is still the start time.
    fields = " ".join(str(n) for n in range(4, 30))
    assert pc.parse_stat(f"4242 (evil) (name) R 1 {fields}") == ("evil) (name", "R", 1, 21)
    assert pc.parse_stat("garbage") is None


def test_cmdline_is_argv_joined_by_single_spaces() -> None:
    assert pc.join_cmdline(b"python3\0-c\0while True: pass\0") == "python3 -c while True: pass"
    assert pc.join_cmdline(b"") == ""


def test_the_unit_is_the_innermost_service_or_scope_of_the_cgroup_v2_path() -> None:
    text = "9:name=systemd:/system.slice/x.service\n1:cpu:/\n0::/system.slice/lab-cpu-hog.service\n"
    assert pc.cgroup_path(text) == "/system.slice/lab-cpu-hog.service"
    assert pc.unit_of("/system.slice/lab-cpu-hog.service") == "lab-cpu-hog.service"
    assert pc.unit_of("/user.slice/user-1000.slice/session-3.scope") == "session-3.scope"
    assert pc.unit_of("/") == ""
    assert pc.cgroup_path("") == ""


@pytest.mark.parametrize("argv", [
    [b"java", b"-Xmx4g", b"-cp", b":".join(b"/opt/app/lib/dependency-%d.jar" % n for n in range(40)), b"Main"],
    [b"python3", b"-c", b"while True:  pass"],
])
def test_a_long_or_double_spaced_command_line_matches_what_the_diagnosis_reported(argv: list) -> None:
    raw = b"\0".join(argv) + b"\0"
    reviewed = dict(BARE, cmdline=hh.cmdline(raw))
    found = seen(reviewed, "/user.slice/user-1000.slice/session-3.scope", cmdline=pc.join_cmdline(raw))
    assert pc.decide(reviewed, found, set(), set())[0] == "signal"


def test_on_cgroup_v1_the_unit_is_read_from_systemds_hierarchy_as_the_diagnosis_reads_it() -> None:
    # The first line is a controller's, whose path names no unit: the stop and the diagnosis must agree.
    text = "12:cpu,cpuacct:/\n4:memory:/user.slice\n1:name=systemd:/system.slice/cron.service\n"
    assert pc.cgroup_path(text) == "/system.slice/cron.service"
    assert hh.cgroup_of(text)[:2] == (pc.cgroup_path(text), pc.unit_of(pc.cgroup_path(text)))
    assert pc.cgroup_path("12:cpu,cpuacct:/\n") == ""


def test_the_reviewed_process_in_its_unit_is_stopped_by_unit() -> None:
    verdict, why = pc.decide(HOG, seen(HOG, "/system.slice/lab-cpu-hog.service"), set(), set(), RUNNING)
    assert verdict == "unit" and "lab-cpu-hog.service" in why


def test_a_bare_process_with_the_same_start_time_and_cmdline_is_signalled() -> None:
    verdict, _ = pc.decide(BARE, seen(BARE, "/user.slice/user-1000.slice/session-3.scope"), set(), set())
    assert verdict == "signal"


@pytest.mark.parametrize("changes", [{"start_time": 5941999}, {"cmdline": "python3 -m http.server"}])
def test_a_reused_pid_is_never_signalled_and_counts_as_skipped(changes: dict) -> None:
    for item in (HOG, BARE):
        verdict, why = pc.decide(item, seen(item, "/system.slice/other.service", **changes), set(), set(), RUNNING)
        assert verdict == "skip"
        assert "not the reviewed process" in why and "not signalled" in why


def test_a_process_already_gone_is_unchanged() -> None:
    assert pc.decide(BARE, None, set(), set())[0] == "gone"
    assert pc.decide(BARE, seen(BARE, "/", state="Z"), set(), set())[0] == "gone"
    assert pc.decide(HOG, None, set(), set(), ("not-found", "inactive", 0))[0] == "gone"


def test_a_unit_that_still_runs_after_its_reviewed_process_is_gone_is_left_as_it_is() -> None:
    # What runs in it now was never reviewed: the unit is not stopped on the old process's account.
    verdict, why = pc.decide(HOG, None, set(), set(), ("loaded", "active", 5000))
    assert verdict == "gone" and "left as it is" in why


@pytest.mark.parametrize(("item", "cgroup", "state", "words"), [
    # A runaway in an SSH login: stopping its scope would end the whole session.
    ({**BARE, "unit": "session-7.scope"}, "/user.slice/user-1000.slice/session-7.scope", ("loaded", "active", 0),
     "scope"),
    # A unit of a user's own systemd: the system manager's foo.service is another unit, or none.
    ({**BARE, "unit": "foo.service"}, "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service",
     ("not-found", "inactive", 0), "user's own systemd"),
    # A job cron started: stopping cron.service would stop cron.
    ({**BARE, "unit": "cron.service"}, "/system.slice/cron.service", ("loaded", "active", 612), "main process"),
])
def test_a_process_that_is_not_its_units_main_process_is_signalled_alone(item: dict, cgroup: str, state: tuple,
                                                                          words: str) -> None:
    verdict, why = pc.decide(item, seen(item, cgroup), set(), set(), state)
    assert verdict == "signal" and "only the process is signalled" in why and words in why


@pytest.mark.parametrize(("item", "observed", "own_pids", "words"), [
    ({**BARE, "pid": 1}, None, set(), "pid 1"),
    (BARE, seen(BARE, "/system.slice/ssh.service"), {4343}, "this connection"),
    ({**HOG, "unit": "systemd-journald.service"}, None, set(), "systemd itself"),
    ({**HOG, "unit": "init.scope"}, None, set(), "systemd itself"),
    (BARE, seen(BARE, "/system.slice/ssh.service", comm="sshd"), set(), "sshd"),
    (BARE, seen(BARE, "/init.scope"), set(), "systemd itself"),
    (BARE, seen(BARE, "/kubepods/burstable/pod1234/abcd"), set(), "manifest"),
    (HOG, seen(HOG, "/system.slice/other.service"), set(), "not in unit lab-cpu-hog.service"),
    ({**BARE, "cmdline": ""}, seen({**BARE, "cmdline": ""}, "/"), set(), "kernel thread"),
])
def test_what_is_refused_whatever_the_plan_says(item: dict, observed: dict | None, own_pids: set[int],
                                                words: str) -> None:
    verdict, why = pc.decide(item, observed, own_pids, set(), RUNNING)
    assert verdict == "refuse"
    assert words in why


def test_sshd_and_the_own_session_are_never_stopped_but_a_process_in_them_is_signalled_alone() -> None:
    # Without logind (the sandbox lab), a process started over SSH sits in sshd's unit.
    in_ssh = {**BARE, "unit": "ssh.service"}
    verdict, why = pc.decide(in_ssh, seen(in_ssh, "/system.slice/ssh.service"), set(), set(), RUNNING)
    assert verdict == "signal" and "never stopped" in why and "only the process is signalled" in why
    in_session = {**BARE, "unit": "session-3.scope"}
    observed = seen(in_session, "/user.slice/user-1000.slice/session-3.scope")
    assert pc.decide(in_session, observed, set(), {"session-3.scope"}, RUNNING)[0] == "signal"
    # Gone, its unit is still never stopped.
    assert pc.decide(in_ssh, None, set(), set(), RUNNING)[0] == "gone"


def _started(argv: list[str]) -> tuple[subprocess.Popen, dict]:
    """A process of this test's own and the item a diagnosis would have made of it, read from /proc."""
    from ansible_collections.homelab.ops.plugins.modules import process_control as module

    proc = subprocess.Popen(argv)
    for _ in range(50):  # bounded: the child has exec'd once /proc shows its own command line
        now = module.observe(proc.pid)
        if now and now["cmdline"] == pc.join_cmdline("\0".join(argv)):
            break
        time.sleep(0.05)
    return proc, {"pid": proc.pid, "start_time": now["start_time"], "cmdline": now["cmdline"], "unit": ""}


def test_the_process_is_checked_again_right_before_it_is_signalled() -> None:
    # Items before it can take seconds: a pid that changed hands since the first look is never signalled.
    from ansible_collections.homelab.ops.plugins.modules import process_control as module

    proc, item = _started([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for stale in ({**item, "start_time": item["start_time"] - 1}, {**item, "cmdline": "python3 other"}):
            assert module.terminate(stale, 1) is None
            assert proc.poll() is None, "a process that is not the reviewed one was signalled"
        assert module.terminate(item, 5) == "SIGTERM"
        assert proc.wait(timeout=5) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()


def test_a_failure_partway_keeps_the_record_of_what_was_stopped_and_the_rest_still_runs() -> None:
    other = {**BARE, "pid": 4444}
    decisions = [(HOG, "unit", "main process"), (BARE, "signal", "matches"), (other, "signal", "matches"),
                 ({**BARE, "pid": 4545}, "gone", "already gone")]

    def act(item: dict, verdict: str, reason: str) -> tuple[str, str, str | None]:
        if item is BARE:
            raise PermissionError(1, "Operation not permitted")
        return verdict, reason, "stop unit lab-cpu-hog.service" if verdict == "unit" else "SIGTERM"

    result = pc.act_on_each(decisions, act)
    assert [(p["pid"], p["how"]) for p in result["stopped"]] == [(4242, "stop unit lab-cpu-hog.service"),
                                                                 (4444, "SIGTERM")]
    assert [(p["pid"], p["reason"]) for p in result["failures"]] == [
        (4343, "PermissionError: [Errno 1] Operation not permitted")]
    assert [p["pid"] for p in result["already_gone"]] == [4545] and result["not_reviewed"] == []


def _ansible(tmp_path: Path, play: list, *extra: str) -> subprocess.CompletedProcess:
    """A play of this test's own run by ansible-playbook against this machine (it must not change it)."""
    (tmp_path / "play.yml").write_text(json.dumps(play))
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-c", "local", "-i", "localhost,",
               str(tmp_path / "play.yml"), *extra]
    if not os.access("/usr/bin/python3", os.X_OK):  # ansible.cfg names the Debian hosts' interpreter
        command += ["-e", "ansible_python_interpreter=" + sys.executable]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
               ANSIBLE_NOCOLOR="1")
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("unit", "words"), [
    ("ssh.service", "sshd's"), ("systemd-journald.service", "systemd itself"), ("init.scope", "systemd itself"),
])
def test_the_role_refuses_limits_on_the_units_the_module_never_stops(tmp_path: Path, unit: str, words: str) -> None:
    # The role's first task is this check: a refused unit fails it before anything is written.
    assert pc.never_limited(unit) and words in pc.never_limited(unit)
    play = [{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "remediate", "vars": {
        "remediate_limits": [{"unit": unit, "cpu_quota_pct": 50, "memory_max_mib": 0}]}}]}]
    proc = _ansible(tmp_path, play, "--check")
    assert proc.returncode != 0 and "Check the limits asked for" in proc.stdout
    assert pc.never_limited(unit) in proc.stdout, proc.stdout + proc.stderr
    assert pc.never_limited("lab-cpu-hog.service") == ""


@pytest.mark.parametrize(("unit", "section"), [("lab-cpu-hog.service", "[Service]"), ("run-r1.scope", "[Scope]")])
def test_the_limits_drop_in_has_the_section_of_the_units_type(tmp_path: Path, unit: str, section: str) -> None:
    template = ROOT / "roles" / "remediate" / "templates" / "limits.conf.j2"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"ansible.builtin.debug": {
        "msg": "{{ lookup('ansible.builtin.template', '" + str(template) + "') }}"}}],
        "vars": {"_limit": {"unit": unit, "cpu_quota_pct": 25, "memory_max_mib": 0}}}]
    proc = _ansible(tmp_path, play)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"\\n{section}\\nCPUQuota=25%\\n" in proc.stdout
