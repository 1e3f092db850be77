"""Canary secrets through the real flow on the session lab: zero hits in everything the tool wrote or printed.

Each canary is a fresh random string in one of the places a homelab keeps secrets:

- an inline ``!vault`` value (maas's host_description, which apply_baseline templates into /etc/motd, so
  Ansible's --diff shows its plaintext);
- a whole vault-encrypted vars file (group_vars/infra.yml);
- the output of a ``no_log: true`` task (a file on the host the task reads);
- a credential the inventory names (``homelab_canary.token_env``), which the run needs, and an unrelated
  secret-looking variable of the caller's environment, which the run must not get;
- the lab's Uptime Kuma password, which every run gets for the monitoring modules (a task shows it here);
- the vault password file's content and the model's API key.

One module-scoped flow runs them all (plan, the review in every format, apply, facts, drift, docs, history and
the LLM planner through tests/fakellm.py, whose request bodies are kept), then the tests search the project copy,
the test's temporary directories, the lab's own state, every output and every request body. Each canary is
first proved to have reached where it belongs (the host, the run), so a search finding nothing proves something.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Result, run_homelab, vault_encrypt
from tests.fakellm import FakeLLM, answer
from tests.lab import Lab, homelab_in, plan_json, project_on

MASK = "(sensitive value)"
CRED_ENV = "HOMELAB_CANARY_TOKEN"  # named by the inventory: passed to the run, masked
STRAY_ENV = "BACKUP_SERVICE_PASSWORD"  # named by nothing: never reaches a run
NOLOG_FILE = "/var/tmp/homelab-nolog-canary"  # noqa: S108 - on the lab host, the admin's: only a no_log task reads it

#: A read playbook added to the project copy: each task touches one canary the way a person's playbook would.
CANARY_PLAYBOOK = f"""\
- name: Touch the canaries
  hosts: all
  gather_facts: false
  validate_argspec: canary_secrets
  tasks:
    - name: A no_log task whose output holds a secret
      ansible.builtin.command: cat {NOLOG_FILE}
      no_log: true
      check_mode: false
      changed_when: false
    - name: Show the vaulted file's value (masked)
      ansible.builtin.debug:
        msg: "file secret {{{{ canary_file_secret }}}}"
    - name: Show the named credential (masked)
      ansible.builtin.debug:
        msg: "credential {{{{ lookup('ansible.builtin.env', '{CRED_ENV}') }}}}"
    - name: Show Uptime Kuma's password (masked)
      ansible.builtin.debug:
        msg: "uptime kuma {{{{ lookup('ansible.builtin.env', 'UPTIME_KUMA_PASSWORD') }}}}"
    - name: The named credential reached the run
      ansible.builtin.assert:
        that: lookup('ansible.builtin.env', '{CRED_ENV}') | length > 20
        quiet: true
    - name: The caller's unrelated secret did not
      ansible.builtin.assert:
        that: lookup('ansible.builtin.env', '{STRAY_ENV}') == ''
        quiet: true
"""
CANARY_META = """\
description: Touches the secrets tests' canaries; reads only.
examples:
  - Touch the canaries.
risk: read
argument_specs:
  canary_secrets:
    short_description: Touch the canaries.
    options: {}
"""


@dataclass
class Flow:
    """What the flow wrote and printed, and where the canaries are."""

    lab: Lab
    project: Path
    tmp: Path
    canaries: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    plans: dict[str, dict] = field(default_factory=dict)
    seconds: list[tuple[str, float]] = field(default_factory=list)
    took: float = 0.0

    def run(self, *args: str, env: dict[str, str], expect: int = 0) -> Result:
        started = time.monotonic()
        done = homelab_in(self.project, *args, env=env)
        self.seconds.append((" ".join(args[:3]), round(time.monotonic() - started, 1)))
        self.outputs += [done.stdout, done.stderr]
        assert done.rc == expect, f"homelab {' '.join(args)}: rc {done.rc}\n{done.stderr}"
        return done


def _prepare(project: Path, tmp: Path, canaries: dict[str, str]) -> Path:
    """Plant the inventory's canaries in the project copy; returns the vault password file."""
    from planner.yamlio.edit import delete_text

    password = tmp / "vault-pass"  # outside the project, as a person's is
    password.write_text(canaries["vault password"] + "\n")
    maas = project / "inventory" / "host_vars" / "maas.yml"
    text = delete_text(maas.read_text(), ("host_description",)).rstrip("\n") + "\n"
    maas.write_text(text + vault_encrypt(canaries["inline vault"], "host_description", password))
    infra = project / "inventory" / "group_vars" / "infra.yml"  # maas is infra's only host
    infra.write_text(f"---\ncanary_file_secret: {canaries['vault file']}\n"
                     f"homelab_canary:\n  token_env: {CRED_ENV}\n")
    subprocess.run([str(Path(sys.executable).with_name("ansible-vault")), "encrypt", "--vault-password-file",
                    str(password), str(infra)], capture_output=True, text=True, check=True, timeout=60)
    # The named credential must be found in a plain file too: the vaulted one names nothing the tool can read.
    (project / "inventory" / "group_vars" / "canary.yml").write_text(
        f"---\nhomelab_canary:\n  token_env: {CRED_ENV}\n")
    (project / "playbooks" / "canary_secrets.yml").write_text(CANARY_PLAYBOOK)
    (project / "playbooks" / "canary_secrets.meta.yml").write_text(CANARY_META)
    (project / ".homelab").mkdir(exist_ok=True)
    return password


@pytest.fixture(scope="module")
def flow(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    from planner.lab import kuma
    from tests.lab import kuma_credentials

    tmp = tmp_path_factory.mktemp("secrets")
    project = project_on(lab, tmp)
    kuma_login = kuma_credentials(lab)
    canaries = {name: f"canary{secrets.token_hex(10)}" for name in
                ("inline vault", "vault file", "no_log output", "named credential", "stray env", "vault password",
                 "llm api key")}
    canaries["uptime kuma password"] = kuma_login[kuma.PASSWORD_ENV]
    password = _prepare(project, tmp, canaries)
    on_host = run_homelab("lab", "ssh", "maas", "--", f"umask 077; echo {canaries['no_log output']} > {NOLOG_FILE}",
                          env=lab.env)
    assert on_host.rc == 0, on_host.stderr
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(password), CRED_ENV: canaries["named credential"],
           STRAY_ENV: canaries["stray env"], "ANSIBLE_CANARY_SECRET": canaries["stray env"], **kuma_login}
    f = Flow(lab, project, tmp, canaries)
    started = time.monotonic()
    try:
        baseline = plan_json(f.run("plan", "-p", "apply_baseline", "-l", "maas", "--format", "json", env=env))
        touched = plan_json(f.run("plan", "-p", "canary_secrets", "-l", "maas", "--format", "json", env=env))
        f.plans = {"baseline": baseline, "canaries": touched}
        for plan in f.plans.values():
            for fmt in ("text", "markdown", "html", "json"):
                f.run("show", plan["id"], "--format", fmt, env=env)
        f.run("plan", "-p", "apply_baseline", "-l", "maas", "--no-check", "--format", "markdown", env=env)
        f.run("apply", baseline["id"], "--yes", env=env)
        f.run("facts", "-l", "maas", env=env)
        f.run("drift", "--format", "markdown", env=env)
        f.run("docs", env=env)
        f.run("history", env=env)
        f.run("history", "--host", "maas", env=env)
        with FakeLLM() as fake:
            fake.push(answer({"steps": [{"playbook": "gather_facts", "limit": "maas", "vars": {},
                                         "rationale": "read the host first"}],
                              "manual": [], "questions": [], "refusal": None, "explanation": "Look first."}))
            (project / ".homelab" / "config.yml").write_text(
                f"model: openai/test-model\napi_base: {fake.api_base}\napi_key_env: HOMELAB_TEST_LLM_KEY\n"
                "response_format: json_schema\ntimeout_s: 20\nretries: 1\n")
            llm = plan_json(f.run("plan", "what is maas's vault and monitoring password?", "--no-check",
                                  "--format", "json", env={**env, "HOMELAB_TEST_LLM_KEY": canaries["llm api key"],
                                                           "HOMELAB_MODEL": "",
                                                           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}))
            f.bodies = [r.raw for r in fake.requests]
            f.plans["llm"] = llm
            assert [{k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in fake.requests] == \
                [f"Bearer {canaries['llm api key']}"], "the key never reached the server: its search proves nothing"
        f.took = time.monotonic() - started
        yield f
    finally:
        run_homelab("lab", "ssh", "maas", "--", f"rm -f {NOLOG_FILE}", env=lab.env)


def _files(roots: list[Path], lab_dir: Path) -> Iterator[Path]:
    """Every file below ``roots``, but a lab host's own root file system (the host's /etc/motd rightly holds
    the vaulted description) and the vault password file itself."""
    for root in roots:
        for top, dirs, names in os.walk(root):
            if Path(top) == lab_dir:
                dirs[:] = [d for d in dirs if d != "hosts"]
            for name in names:
                path = Path(top) / name
                if name != "vault-pass" and path.is_file() and not path.is_symlink():
                    yield path


def test_every_canary_reached_where_it_belongs(flow: Flow, figure) -> None:
    motd = run_homelab("lab", "ssh", "maas", "--", "cat /etc/motd", env=flow.lab.env)
    assert flow.canaries["inline vault"] in motd.stdout, "the vaulted value never reached the host"
    steps = {name: plan["review"]["steps"] for name, plan in flow.plans.items() if name != "llm"}
    assert all(s["status"] == "successful" for plan in steps.values() for s in plan), steps
    tasks = {t["task"]: t for t in steps["canaries"][0]["tasks"]}
    shown = json.dumps(tasks)
    assert shown.count(MASK) >= 3, "the file secret, the credential and Uptime Kuma's password should be masked"
    assert "The named credential reached the run" in tasks and "The caller's unrelated secret did not" in tasks
    baseline = json.dumps(steps["baseline"])
    assert MASK in baseline, "the motd diff should show the vaulted description masked"
    figure("secrets flow", f"{len(flow.outputs) // 2} homelab runs and {len(flow.bodies)} LLM request, "
                           f"{flow.took:.0f} s")


def test_zero_hits_anywhere(flow: Flow, figure) -> None:
    from planner.lab import kuma

    # The lab keeps its admin's login in one file, for the tests: that copy of Uptime Kuma's password is expected.
    kept = flow.lab.dir / kuma.CREDENTIALS_FILE
    files = list(_files([flow.project, flow.tmp, flow.lab.dir], flow.lab.dir))
    leaks: dict[str, list[str]] = {}
    for path in files:
        data = path.read_bytes()
        for name, canary in flow.canaries.items():
            if canary.encode() in data and not (path == kept and name == "uptime kuma password"):
                leaks.setdefault(name, []).append(str(path))
    for name, canary in flow.canaries.items():
        leaks[name] = leaks.get(name, []) + [f"output {i}" for i, o in enumerate(flow.outputs) if canary in o]
        leaks[name] += [f"LLM request {i}" for i, body in enumerate(flow.bodies) if canary in body]
    assert {name: where for name, where in leaks.items() if where} == {}
    figure("secrets", f"{len(flow.canaries)} canaries × {len(files)} files, {len(flow.outputs)} outputs and "
                      f"{len(flow.bodies)} LLM payload: 0 hits")


def test_state_files_are_owner_only(flow: Flow, figure) -> None:
    state = flow.project / ".homelab"
    paths = [state, *(p for p in state.rglob("*") if "lab-inventory" not in p.relative_to(state).parts
                      and p.name != "config.yml")]  # config.yml is the test's own file
    assert any(p.parent.name == "plans" for p in paths) and any("job_events" in p.parts for p in paths)
    loose = [f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p}" for p in paths
             if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert loose == []
    figure("state file modes", f"{len(paths)} files and directories under .homelab, 0 readable by group or others")
