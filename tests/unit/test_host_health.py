"""diagnose_host's judging (module_utils/host_health.py) on small texts of /proc, systemctl and journalctl:
runaways against blips and reused pids, units and k3s pods from cgroups, real filesystems, findings with
their runbook steps, the proposals' fixed shape, and the host_health module run by ansible here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from tests.unit.test_host_facts import COLLECTIONS, run_ansible_module

sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.homelab.ops.plugins.module_utils import host_health as hh  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import process_control as pc  # noqa: E402

HOG_STAT = ("4242 (python3 (odd) name) R 1 4242 4242 0 -1 4194304 300 0 0 0 2900 110 0 0 20 0 1 0 "
            "987654 20000000 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0")


def test_pid_stat_reads_comm_with_parentheses_and_field_22():
    proc = hh.pid_stat(HOG_STAT)
    assert proc == {"comm": "python3 (odd) name", "state": "R", "ticks": 3010, "start_time": 987654,
                    "rss_pages": 2048}


def test_cmdline_joins_argv_with_single_spaces():
    assert hh.cmdline(b"python3\0/usr/local/bin/lab-cpu-hog\0") == "python3 /usr/local/bin/lab-cpu-hog"
    assert hh.cmdline(b"") == ""


@pytest.mark.parametrize(("text", "expected"), [
    ("0::/system.slice/lab-cpu-hog.service\n", ("/system.slice/lab-cpu-hog.service", "lab-cpu-hog.service", False)),
    ("0::/user.slice/user-1000.slice/session-4.scope\n", ("/user.slice/user-1000.slice/session-4.scope",
                                                          "session-4.scope", False)),
    ("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_5e6f.slice/"
     "cri-containerd-abc.scope\n", None),
    ("12:cpu,cpuacct:/x\n1:name=systemd:/system.slice/cron.service\n", ("/system.slice/cron.service",
                                                                         "cron.service", False)),
    ("0::/\n", ("/", "", False)),
])
def test_cgroup_names_the_unit_and_k3s_pods(text, expected):
    path, unit, pod = hh.cgroup_of(text)
    if expected is None:
        assert pod and unit == "cri-containerd-abc.scope" and path.startswith("/kubepods.slice/")
    else:
        assert (path, unit, pod) == expected


def _sample(**procs):
    return {int(pid[1:]): {"start_time": st, "cpu_pct": pct, "comm": "x", "ticks": 0, "rss_pages": 0}
            for pid, (st, pct) in procs.items()}


def test_a_runaway_is_above_the_threshold_in_both_samples():
    first = _sample(p10=(100, 99.0), p11=(200, 95.0), p12=(300, 10.0), p13=(400, 90.0))
    second = _sample(p10=(100, 97.5), p11=(200, 20.0), p12=(300, 99.0), p13=(401, 90.0), p14=(500, 99.0))
    found = hh.runaways(first, second, 80)
    # p11 and p12 spiked once; p13's pid was reused (another start_time); p14 was not there the first time.
    assert [(p["pid"], p["cpu_pct"]) for p in found] == [(10, 97.5)]
    assert hh.runaways(first, second, 98) == []


def test_proc_counters():
    assert hh.cpu_times("cpu  100 0 50 800 40 5 5 0 0 0\ncpu0 1 2 3\n") == (160, 40, 1000)
    assert hh.iowait_pct((160, 40, 1000), (260, 90, 1200)) == 25.0
    assert hh.iowait_pct((1, 1, 1), (1, 1, 1)) == 0.0
    assert hh.oom_kills("pgfault 5\noom_kill 3\n") == 3 and hh.oom_kills("pgfault 5\n") == 0
    assert hh.load("0.50 1.25 2.00 1/300 4242\n") == [0.5, 1.25, 2.0]
    assert hh.cores("processor\t: 0\nmodel\t: x\n\nprocessor\t: 1\n", 7) == 2
    assert hh.cores("", 7) == 7
    mem = hh.meminfo("MemTotal: 2097152 kB\nMemFree: 1 kB\nMemAvailable: 102400 kB\n"
                     "SwapTotal: 1048576 kB\nSwapFree: 262144 kB\n")
    assert mem == {"total_mib": 2048, "available_mib": 100, "swap_total_mib": 1024, "swap_used_mib": 768}


def test_real_mounts_leave_out_kernel_and_runtime_filesystems():
    mounts = "\n".join([
        "overlay / overlay rw 0 0", "proc /proc proc rw 0 0", "tmpfs /dev tmpfs rw 0 0",
        "tmpfs /run tmpfs rw 0 0", "tmpfs /tmp tmpfs rw 0 0", "tmpfs /srv/lab-full tmpfs rw,size=32768k 0 0",
        "/dev/sda1 /srv/my\\040disk ext4 rw 0 0", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0",
        "tmpfs /var/lib/kubelet/pods/x/volumes/secret tmpfs rw 0 0", "/dev/sda1 /srv/my\\040disk ext4 rw 0 0",
        "/dev/loop0 /snap/core/1 squashfs ro 0 0", "/dev/sdb1 /running ext4 rw 0 0"])
    assert hh.real_mounts(mounts) == [("/", "overlay"), ("/tmp", "tmpfs"), ("/srv/lab-full", "tmpfs"),
                                      ("/srv/my disk", "ext4"), ("/running", "ext4")]


def test_filesystem_use_as_df_counts_it():
    st = SimpleNamespace(f_blocks=8192, f_bfree=100, f_bavail=50, f_frsize=4096, f_files=1000, f_ffree=10)
    fs = hh.filesystem("/srv/lab-full", "tmpfs", st)
    assert fs == {"mount": "/srv/lab-full", "fstype": "tmpfs", "size_mib": 32, "used_pct": 99.4,
                  "inodes_used_pct": 99.0}
    assert hh.filesystem("/x", "ext4", SimpleNamespace(f_blocks=0)) is None


def test_failed_units_and_journal_errors():
    assert hh.failed_units("\u25cf nginx.service loaded failed failed A web server\nx.mount loaded failed failed\n"
                           ) == ["nginx.service", "x.mount"]
    lines = [json.dumps({"_SYSTEMD_UNIT": "nginx.service", "MESSAGE": "bind() failed"}),
             json.dumps({"_SYSTEMD_UNIT": "nginx.service", "MESSAGE": [98, 97, 100, 255]}),
             json.dumps({"SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "I/O error, dev sda"}), "not json", "[]"]
    assert hh.journal_errors("\n".join(lines)) == [
        {"unit": "nginx.service", "message": "bad\ufffd", "count": 2},
        {"unit": "kernel", "message": "I/O error, dev sda", "count": 1}]


def test_host_text_reaches_the_report_with_its_control_characters_written_out():
    # An ANSI escape in a command line, a unit name or a journal message must not reach a terminal raw.
    assert hh.cmdline(b"python3\0-c\0print('\x1b[2J')\0") == "python3 -c print('\\x1b[2J')"
    assert hh.text("a\x07b\x9bc\x7f") == "a\\x07b\\x9bc\\x7f"
    lines = [json.dumps({"_SYSTEMD_UNIT": "evil\x1b[31m.service", "MESSAGE": "clear\x1b]0;owned\x07 \u009b2J"})]
    [group] = hh.journal_errors("\n".join(lines))
    assert group == {"unit": "evil\\x1b[31m.service", "message": "clear\\x1b]0;owned\\x07 \\x9b2J", "count": 1}
    assert hh.failed_units("\u25cf x\x1b[0m.service loaded failed failed\n") == ["x\\x1b[0m.service"]
    assert hh.cgroup_of("0::/system.slice/a\x1bb.service\n")[:2] == ("/system.slice/a\\x1bb.service",
                                                                     "a\\x1bb.service")
    health = _health(runaway=[dict(HOG, comm="x\x1b", cmdline=hh.cmdline(b"x\x1b[1m\0"))])
    for finding in hh.findings(health, 80, 90, 3):
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in finding["summary"] + finding["evidence"])


def _health(**changes):
    base = {"checked_at": "2026-12-06T07:00:00+00:00", "cores": 4, "load": [0.2, 0.3, 0.4], "iowait_pct": 0.5,
            "memory": {"total_mib": 8192, "available_mib": 6000, "swap_total_mib": 0, "swap_used_mib": 0},
            "oom_kills": 0, "filesystems": [{"mount": "/", "fstype": "ext4", "size_mib": 1000, "used_pct": 40.0,
                                             "inodes_used_pct": 5.0}],
            "failed_units": [], "journal_errors": [], "top": [], "runaway": [], "findings": [], "skipped": []}
    base.update(changes)
    return base


HOG = {"pid": 4242, "start_time": 987654, "comm": "python3", "cmdline": "python3 /usr/local/bin/lab-cpu-hog",
       "user": "root", "cpu_pct": 99.2, "unit": "lab-cpu-hog.service",
       "cgroup": "/system.slice/lab-cpu-hog.service", "k3s_pod": False}
POD = {"pid": 777, "start_time": 5, "comm": "ollama", "cmdline": "ollama serve", "user": "root", "cpu_pct": 88.0,
       "unit": "cri-containerd-abc.scope", "k3s_pod": True,
       "cgroup": "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_5e6f.slice/"
                 "cri-containerd-abc.scope"}


def test_a_healthy_host_has_no_finding_and_proposes_nothing():
    health = _health()
    assert hh.findings(health, 80, 90, 3) == []
    assert hh.proposals(health) == {"steps": [], "manual": []}
    assert hh.report_lines(health) == ["nothing wrong found (load 0.20 0.30 0.40 on 4 cores, no runaway process)"]


def test_findings_carry_severity_evidence_and_their_runbook_step():
    health = _health(
        runaway=[HOG], load=[9.0, 9.0, 4.0], iowait_pct=30.0, oom_kills=2, failed_units=["nginx.service"],
        memory={"total_mib": 8192, "available_mib": 300, "swap_total_mib": 1024, "swap_used_mib": 900},
        journal_errors=[{"unit": "nginx.service", "message": "bind() failed", "count": 3}],
        filesystems=[{"mount": "/srv/lab-full", "fstype": "tmpfs", "size_mib": 32, "used_pct": 100.0,
                      "inodes_used_pct": 91.0}])
    found = {f["id"]: f for f in hh.findings(health, 80, 90, 3)}
    assert set(found) == set(hh.RUNBOOK)
    assert found["cpu-runaway"]["severity"] == "critical"
    assert "pid 4242" in found["cpu-runaway"]["summary"] and "lab-cpu-hog.service" in found["cpu-runaway"]["summary"]
    assert "99.2 %" in found["cpu-runaway"]["evidence"] and "start_time 987654" in found["cpu-runaway"]["evidence"]
    assert found["disk-full"]["severity"] == "critical" and "/srv/lab-full" in found["disk-full"]["summary"]
    assert found["inodes-full"]["severity"] == "warning"
    assert found["load-high"]["severity"] == "critical" and "2.25 per core" in found["load-high"]["summary"]
    assert found["memory-low"]["severity"] == "critical" and found["journal-errors"]["severity"] == "info"
    assert {f["runbook"] for f in found.values()} <= set(hh.RUNBOOK.values())
    severities = [f["severity"] for f in hh.findings(health, 80, 90, 3)]
    assert severities == sorted(severities, key=["critical", "warning", "info"].index)
    assert hh.report_lines(_health(runaway=[HOG], findings=[found["cpu-runaway"]]))[0].startswith(
        "critical cpu-runaway: python3 /usr/local/bin/lab-cpu-hog (pid 4242")


def test_proposals_stop_plain_runaways_limit_their_units_and_leave_pods_to_the_manifest():
    proposed = hh.proposals(_health(runaway=[HOG, POD]))
    standard, permanent = proposed["steps"]
    assert standard == {
        "playbook": "remediate_runaway_processes", "kind": "standard",
        "vars": {"remediate_processes": [{"pid": 4242, "start_time": 987654,
                                          "cmdline": "python3 /usr/local/bin/lab-cpu-hog",
                                          "unit": "lab-cpu-hog.service"}], "remediate_action": "stop"},
        "reason": standard["reason"]}
    assert permanent["kind"] == "permanent" and permanent["vars"] == {
        "remediate_processes": [],
        "remediate_limits": [{"unit": "lab-cpu-hog.service", "cpu_quota_pct": 50, "memory_max_mib": 0}]}
    assert standard["reason"].endswith(".") and permanent["reason"].endswith(".")
    assert proposed["manual"] == [{"title": "add resources.limits to pod 1a2b3c4d-5e6f's manifest",
                                   "reason": proposed["manual"][0]["reason"]}]
    # A runaway with no unit is stopped by pid; there is no unit to limit.
    loose = hh.proposals(_health(runaway=[dict(HOG, unit="", cgroup="/")]))
    assert [s["kind"] for s in loose["steps"]] == ["standard"]


@pytest.mark.parametrize(("refused", "words"), [
    (dict(HOG, pid=812, comm="sshd", cmdline="sshd: admin [priv]", unit="ssh.service"), "sshd"),
    (dict(HOG, pid=301, comm="systemd-journal", cmdline="/lib/systemd/systemd-journald",
          unit="systemd-journald.service"), "systemd itself"),
    (dict(HOG, pid=1, comm="systemd", cmdline="/sbin/init", unit="init.scope"), "pid 1"),
    (dict(HOG, pid=15, comm="ksoftirqd/1", cmdline="[ksoftirqd/1]", unit=""), "kernel thread"),
])
def test_what_the_stop_would_refuse_is_a_manual_item_and_the_others_are_still_proposed(refused, words):
    proposed = hh.proposals(_health(runaway=[refused, HOG]))
    standard, permanent = proposed["steps"]
    assert [p["pid"] for p in standard["vars"]["remediate_processes"]] == [4242]
    assert [u["unit"] for u in permanent["vars"]["remediate_limits"]] == ["lab-cpu-hog.service"]
    [item] = proposed["manual"]
    where = refused["unit"] or "no unit"
    assert item["title"] == f"{refused['comm']} (pid {refused['pid']}) in {where} is busy: look at it yourself; " \
        "the tool never stops it"
    assert words in item["reason"]
    # The same rules as the stop's: what it proposes, process_control would not refuse.
    assert pc.never_stopped(refused["pid"], refused["comm"], refused["unit"], refused["cmdline"].startswith("["))


def test_sshds_unit_is_never_proposed_for_limits_though_a_process_in_it_is_stopped():
    # Without logind, a process started over SSH sits in sshd's unit: it is stopped alone, sshd never limited.
    in_ssh = dict(HOG, unit="ssh.service", cgroup="/system.slice/ssh.service")
    assert [s["kind"] for s in hh.proposals(_health(runaway=[in_ssh]))["steps"]] == ["standard"]


def test_a_proposals_reason_names_the_first_few_and_counts_the_rest():
    # The planner drops a proposal whose reason is over 500 characters: forty runaways must not do that.
    many = [dict(HOG, pid=1000 + n, comm=f"worker-{n:02d}", unit=f"worker-{n:02d}.service") for n in range(40)]
    standard, permanent = hh.proposals(_health(runaway=many))["steps"]
    assert standard["reason"] == ("Stop worker-00 (pid 1000), worker-01 (pid 1001), worker-02 (pid 1002) and 37 more: "
                                  "each kept a core busy in both samples.")
    assert "worker-02.service and 37 more" in permanent["reason"] and len(permanent["reason"]) <= 500
    assert len(standard["vars"]["remediate_processes"]) == 40


def test_module_finds_a_busy_process_here():
    """The module run by ansible on this machine, with a busy loop of its own running (then stopped).

    The threshold is 5 % of a core: the machine the tests run on may be small and busy with other work,
    so the loop cannot be counted on for a whole core; an idle one would stay near 0 %.
    """
    hog = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.5)
        result = run_ansible_module("homelab.ops.host_health", "--check",
                                    args="cpu_threshold_pct=5 sample_seconds=1 top_n=3")
    finally:
        hog.kill()
        hog.wait()
    health = result["health"]
    assert result["ansible_facts"]["homelab_discovered"]["health"] == health
    assert len(health["top"]) == 3 and health["load"] and health["memory"]["total_mib"] > 0
    assert any(fs["mount"] == "/" or fs["used_pct"] >= 0 for fs in health["filesystems"])
    hogs = [p for p in health["runaway"] if p["pid"] == hog.pid]
    assert hogs and hogs[0]["cpu_pct"] > 5 and hogs[0]["start_time"] > 0, (health["runaway"], health["top"])
    assert any(f["id"] == "cpu-runaway" and f"pid {hog.pid}" in f["summary"] for f in health["findings"])
    assert os.path.isdir("/run/systemd/system") or any("systemd is not running" in s for s in health["skipped"])
    assert {"steps", "manual"} == set(result["proposals"]) and result["report"]


def test_the_review_shows_a_diagnosis_as_its_findings_and_proposals():
    from planner.render.grouping import report_text

    health = _health(runaway=[HOG, POD])
    health["findings"] = hh.findings(health, 80, 90, 3)
    text = report_text({"homelab_health": health, "homelab_proposals": hh.proposals(health)})
    lines = text.splitlines()
    assert lines[0] == "checked 2026-12-06T07:00:00+00:00: load 0.20 0.30 0.40 on 4 cores, 2 runaway process(es)"
    assert lines[1] == ("critical cpu-runaway: python3 /usr/local/bin/lab-cpu-hog (pid 4242, lab-cpu-hog.service) "
                        "keeps 99 % of a core busy")
    assert lines[2].startswith("    evidence: pid 4242 start_time 987654 user root: at least 99.2 %")
    assert lines[3] == "    runbook: Runaway processes"
    assert "proposed (standard): remediate_runaway_processes — Stop python3 (pid 4242): each kept a core busy in " \
           "both samples." in lines
    assert any(line.startswith("for the person: add resources.limits to pod 1a2b3c4d-5e6f's manifest")
               for line in lines)
    # Anything else is still shown as JSON, and a malformed diagnosis too.
    assert report_text({"homelab_health": {"findings": "x"}}).startswith("{")
    assert report_text({"summary": "x"}).startswith("{")
