"""Plan → review → apply against the sandbox lab, with real ansible-runner over SSH."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_homelab
from tests.integration.conftest import Lab, homelab_in, pid_alive, plan_json

HOSTS = 9
# Everything a baseline run may touch, hashed on a host before and after a check run.
# (~/.ansible is Ansible's own remote temp directory, created by any connection.)
FINGERPRINT = ("sudo find /etc /home -xdev -type f -not -path '*/.ansible/*' -print0 | sort -z"
               " | sudo xargs -0 sha256sum | sha256sum")


def fingerprint(lab: Lab, host: str) -> str:
    from tests.integration.test_lab import lab_ssh

    proc = lab_ssh(lab, host, FINGERPRINT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_baseline_plan_shows_diffs_changes_nothing_applies_and_is_idempotent(lab: Lab, project: Path) -> None:
    before = {h: fingerprint(lab, h) for h in ("still-fawn", "maas", "k3s-vm-chief-horse")}
    made = homelab_in(project, "plan", "-p", "apply_baseline", "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    review = plan["review"]["steps"][0]
    assert len(review["hosts"]) == HOSTS
    assert all(s["changed"] > 0 and not s["unreachable"] for s in review["hosts"].values())
    diffs = [d for t in review["tasks"] if t["status"] == "changed" for d in t["diffs"]]
    assert any("motd" in (d.get("before_header") or "") + (d.get("after_header") or "") for d in diffs)
    assert {h: fingerprint(lab, h) for h in before} == before, "check mode changed a host"

    applied = homelab_in(project, "apply", plan["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    assert "Apply succeeded." in applied.stderr
    shown = plan_json(homelab_in(project, "show", plan["id"], "--format", "json"))
    assert shown["status"] == "applied"
    record = shown["applies"][-1]
    assert record["status"] == "succeeded" and len(record["hosts"]) == HOSTS
    assert all(o["outcome"] in ("changed", "ok") for o in record["hosts"].values())

    again = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "--format", "json"))
    counts = again["review"]["steps"][0]["hosts"]
    assert all(s["changed"] == 0 and s["failed"] == 0 for s in counts.values()), counts

    twice = homelab_in(project, "apply", plan["id"], "--yes")
    assert twice.rc == 4 and "already applied" in twice.stderr


@pytest.mark.parametrize("edit", ["inventory/host_vars/still-fawn.yml", "playbooks/apply_baseline.yml",
                                  "roles/baseline/defaults/main.yml", "ansible.cfg"])
def test_a_plan_goes_stale_when_an_input_changes(project: Path, edit: str) -> None:
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", "still-fawn", "--format", "json")
    assert made.rc == 0, made.stderr
    plan_id = plan_json(made)["id"]
    with (project / edit).open("a") as fh:
        fh.write("\n# edited after the plan was made\n")
    refused = homelab_in(project, "apply", plan_id, "--yes")
    assert refused.rc == 4
    assert refused.stderr.startswith(f"Error: plan {plan_id} is stale — {edit} changed since it was made")
    assert "Hint:  homelab plan again" in refused.stderr


def test_unchanged_plan_applies_and_tampered_plan_is_refused(project: Path) -> None:
    first = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas", "--format", "json"))
    second = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "maas",
                                  "-e", "baseline_timezone=Europe/Berlin", "--format", "json"))
    path = project / ".homelab" / "plans" / f"{second['id']}.json"
    doc = json.loads(path.read_text())
    doc["steps"][0]["vars"]["baseline_timezone"] = "Etc/UTC"
    path.write_text(json.dumps(doc, indent=2))
    tampered = homelab_in(project, "apply", second["id"], "--yes")
    assert tampered.rc == 4
    assert f"plan {second['id']} was changed after it was made" in tampered.stderr
    ok = homelab_in(project, "apply", first["id"], "--yes")
    assert ok.rc == 0, ok.stderr


def test_two_concurrent_applies_exactly_one_runs(project: Path) -> None:
    a = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "proxmox",
                             "-e", "baseline_journald_system_max_use=150M", "--format", "json"))
    b = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "proxmox",
                             "-e", "baseline_journald_system_max_use=160M", "--format", "json"))
    env = {**os.environ, "HOMELAB_INVENTORY": str(project / ".homelab" / "lab-inventory"), "NO_COLOR": "1"}
    first = subprocess.Popen([sys.executable, "-m", "planner", "apply", a["id"], "--yes"], cwd=project, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock_dir = project / ".homelab" / "locks"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.read_text().strip() for p in lock_dir.glob("*.lock")):
        time.sleep(0.05)
    second = homelab_in(project, "apply", b["id"], "--yes")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.rc == 4, second.stderr
    assert f"another apply is running on this inventory: pid {first.pid}, plan {a['id']}" in second.stderr


def test_a_host_stopped_mid_apply_is_unreachable_while_the_rest_succeed(lab: Lab, project: Path) -> None:
    made = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "k3s",
                                "-e", "baseline_journald_max_retention=2weeks", "--format", "json"))
    victim = "k3s-vm-pumped-piglet"
    pid = lab.state()["hosts"][victim]["pid"]
    env = {**os.environ, "HOMELAB_INVENTORY": str(project / ".homelab" / "lab-inventory"), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "planner", "apply", made["id"], "--yes"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = project / ".homelab" / "runs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(runs.glob(f"{made['id']}-apply-*/artifacts/run/job_events/*")):
        time.sleep(0.05)
    # The lab started this process; the test stops it by its recorded pid (nspawn powers the host off).
    os.kill(pid, signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        for _ in range(50):
            if not pid_alive(pid):
                break
            time.sleep(0.1)
        restored = run_homelab("lab", "up", env=lab.env, timeout=300)
        assert restored.rc == 0, restored.stderr
    assert proc.returncode == 1, err
    record = plan_json(homelab_in(project, "show", made["id"], "--format", "json"))["applies"][-1]
    assert record["status"] == "hosts_failed"
    assert record["hosts"][victim]["outcome"] == "unreachable"
    others = {h: o["outcome"] for h, o in record["hosts"].items() if h != victim}
    assert others and all(o in ("changed", "ok") for o in others.values()), others


CANARY_NO_LOG = "canary-nolog-7c1e9b"
CANARY_VAULT = "canary-vault-52fd0a"


def test_secrets_appear_nowhere(lab: Lab, project: Path, tmp_path: Path) -> None:
    """A no_log value and a vaulted variable never reach the review, plan file, artifacts or output."""
    vault_pass = tmp_path / "vault-pass"
    vault_pass.write_text("lab-vault-password\n")
    encrypted = subprocess.run([str(Path(sys.executable).with_name("ansible-vault")), "encrypt_string",
                                "--vault-password-file", str(vault_pass), CANARY_VAULT, "--name", "lab_canary_secret"],
                               capture_output=True, text=True, check=True).stdout
    (project / "inventory" / "group_vars" / "all" / "secrets.yml").write_text(encrypted)
    (project / "playbooks" / "canary_check.yml").write_text(f"""---
- name: Canary check
  hosts: all
  gather_facts: false
  become: true
  validate_argspec: canary_check
  tasks:
    - name: Write the vaulted secret to a file
      ansible.builtin.copy:
        content: "{{{{ lab_canary_secret }}}}\\n"
        dest: /root/canary-secret
        mode: "0600"
      no_log: true
    - name: Write another secret without showing it
      ansible.builtin.copy:
        content: "{CANARY_NO_LOG}\\n"
        dest: /root/canary-nolog
        mode: "0600"
      no_log: true
""")
    (project / "playbooks" / "canary_check.meta.yml").write_text("""---
description: Writes two secret files so tests can prove secrets never leak into plans or logs.
examples: [write the canary secrets]
tags: [test]
risk: change
argument_specs:
  canary_check:
    short_description: Canary secrets
    options: {}
""")
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(vault_pass)}
    outputs = []
    for fmt in ("text", "json", "markdown", "html"):
        made = homelab_in(project, "plan", "-p", "canary_check", "-l", "chief-horse", "--format", fmt, env=env)
        assert made.rc == 0, made.stderr
        outputs += [made.stdout, made.stderr]
    plan_id = json.loads(homelab_in(project, "plans", "--format", "json").stdout)[-1]["id"]
    applied = homelab_in(project, "apply", plan_id, "--yes", env=env)
    assert applied.rc == 0, applied.stderr
    outputs += [applied.stdout, applied.stderr]
    for fmt in ("text", "json", "markdown", "html"):
        shown = homelab_in(project, "show", plan_id, "--format", fmt)
        outputs += [shown.stdout, shown.stderr]
    # The secrets really were used: the files exist on the host with the values.
    from tests.integration.test_lab import lab_ssh

    written = lab_ssh(lab, "chief-horse", "sudo cat /root/canary-secret /root/canary-nolog")
    assert written.stdout.split() == [CANARY_VAULT, CANARY_NO_LOG], written.stderr
    state = project / ".homelab"
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" and "plans" in p.parts for p in files)
    assert any("job_events" in p.parts for p in files)
    for canary in (CANARY_NO_LOG, CANARY_VAULT):
        assert all(canary not in text for text in outputs), f"{canary} in terminal output"
        leaked = [str(p) for p in files if canary.encode() in p.read_bytes()]
        assert leaked == [], f"{canary} leaked into {leaked}"


def _on_a_terminal(slave: int):
    """preexec_fn: a new session whose controlling terminal is the pty, as in a person's shell."""
    def become_foreground() -> None:
        import fcntl
        import termios

        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    return become_foreground


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_ctrl_c_on_a_terminal_cancels_marks_the_plan_interrupted_and_releases_the_lock(project: Path) -> None:
    """Live hosts × tasks progress on a real terminal; Ctrl-C typed there stops the run cleanly."""
    import pty
    import threading

    made = plan_json(homelab_in(project, "plan", "-p", "apply_baseline", "-l", "k3s",
                                "-e", "baseline_journald_max_retention=3weeks", "--format", "json"))
    master, slave = pty.openpty()
    env = {**os.environ, "HOMELAB_INVENTORY": str(project / ".homelab" / "lab-inventory"),
           "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "planner", "apply", made["id"], "--yes"], cwd=project, env=env,
                            stdin=slave, stdout=slave, stderr=slave, preexec_fn=_on_a_terminal(slave),
                            close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the last process holding the pty exits
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    runs = project / ".homelab" / "runs"
    deadline = time.monotonic() + 120
    # Wait until tasks are really running on the hosts and the live view has counted a result.
    while time.monotonic() < deadline and not (
            len(list(runs.glob(f"{made['id']}-apply-*/artifacts/*/job_events/*"))) > 20
            and re.search(rb" [1-9][0-9]* results", b"".join(chunks))):
        time.sleep(0.05)
    run_dirs = list(runs.glob(f"{made['id']}-apply-*"))
    assert run_dirs, "the apply never started"
    os.write(master, b"\x03")  # Ctrl-C, typed on the terminal: SIGINT to the foreground process group
    try:
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=5)
        os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert rc == 130, screen[-3000:]
    assert "Interrupting: cancelling the run cleanly" in screen
    # The live view: tasks × hosts done and the current task, a few lines whatever the number of hosts.
    plain = re.sub(r"\x1b\[[0-9;]*m", "", screen)  # without the colours
    assert re.search(r"task \d+ · 3 hosts · \d+ results · \d+ changed", plain), plain[-3000:]
    assert "now: " in screen and "━" not in screen
    assert not _processes_mentioning(str(run_dirs[0])), "the runner left ansible processes behind"

    shown = plan_json(homelab_in(project, "show", made["id"], "--format", "json"))
    assert shown["status"] == "interrupted"
    assert shown["applies"][-1]["status"] == "interrupted"
    lock_dir = project / ".homelab" / "locks"
    assert not any(p.read_text().strip() for p in lock_dir.glob("*.lock")), "the lock was kept"
    # Nothing stale, nothing locked: the same reviewed plan can be finished.
    again = homelab_in(project, "apply", made["id"], "--yes")
    assert again.rc == 0, again.stderr
