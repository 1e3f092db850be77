"""Masking secrets in run events: what counts as secret, how it is found, and what a no_log result keeps."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from planner.plans.artifacts import MaskedArtifacts
from planner.plans.masking import MASK, MIN_CHARS, Masker, censor, for_run, secret_values, variants
from planner.plans.review import ReviewCollector

CANARY = "canary-3f9a1c7e"


def _encrypt(plaintext: str, password: str) -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(password.encode()))]).encrypt(plaintext).decode()


def _indent(envelope: str) -> str:
    return "\n".join("  " + line for line in envelope.splitlines())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with an inline !vault value, a whole-file vaulted group_vars file and a role vars file."""
    root = tmp_path / "project"
    for d in ("inventory/host_vars", "inventory/group_vars", "playbooks", "roles/web/vars"):
        (root / d).mkdir(parents=True)
    (root / "ansible.cfg").write_text("[defaults]\nvault_password_file = ../vault-pass\n")
    (tmp_path / "vault-pass").write_text("s3cret-pass\n")
    (root / "inventory" / "host_vars" / "maas.yml").write_text(
        f"---\nhost_description: !vault |\n{_indent(_encrypt(CANARY, 's3cret-pass'))}\nlan_ip: 10.0.0.1\n")
    (root / "inventory" / "group_vars" / "infra.yml").write_text(
        _encrypt("---\ndb_password: hunter2-longer\nenabled: true\nport: 22\nkey: |\n  line-one-of-key\n"
                 "  line-two-of-key\n", "s3cret-pass"))
    (root / "roles" / "web" / "vars" / "main.yml").write_text(
        f"web_token: !vault |\n{_indent(_encrypt('tok-9988776655', 's3cret-pass'))}\n")
    (root / "playbooks" / "site.yml").write_text("- hosts: all\n")
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.delenv("ANSIBLE_VAULT_IDENTITY_LIST", raising=False)
    return root


def _event(**res) -> dict:
    return {"event": "runner_on_ok", "uuid": "u1", "counter": 7,
            "stdout": f"changed: [maas] => {json.dumps(res)}",
            "event_data": {"host": "maas", "task": "Write the motd", "task_action": "ansible.builtin.template",
                           "task_path": "x", "res": res}}


def test_every_vaulted_value_the_run_reads_is_found_with_the_runs_own_secret(project: Path) -> None:
    masker = for_run(project, project / "inventory", project / "playbooks" / "site.yml")
    text = (f"{CANARY} hunter2-longer tok-9988776655 line-one-of-key line-two-of-key "
            "enabled: true port 22 10.0.0.1")
    masked = masker.text(text)
    assert masked == f"{MASK} {MASK} {MASK} {MASK} {MASK} enabled: true port 22 10.0.0.1"


def test_without_the_password_nothing_is_decrypted_and_only_no_log_is_censored(project: Path) -> None:
    (project / "ansible.cfg").write_text("[defaults]\n")
    masker = for_run(project, project / "inventory", project / "playbooks" / "site.yml")
    assert masker.pattern is None and masker.text(CANARY) == CANARY


def test_the_environment_names_the_password_file(project: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "ansible.cfg").write_text("[defaults]\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(tmp_path / "vault-pass"))
    masker = for_run(project, project / "inventory", project / "playbooks" / "site.yml")
    assert masker.text(f"motd: {CANARY}") == f"motd: {MASK}"


def test_a_diff_in_an_event_is_masked_before_the_review_sees_it(project: Path) -> None:
    masker = for_run(project, project / "inventory", project / "playbooks" / "site.yml")
    event = _event(changed=True, diff=[{"before": "old\n", "after": f"maas\n{CANARY}\n",
                                        "after_header": "/etc/motd"}], msg=f"wrote {CANARY}")
    masked = masker.event(event)
    assert CANARY not in json.dumps(masked)
    assert CANARY in json.dumps(event), "the caller's event is left as it was"
    collector = ReviewCollector(0, "apply_baseline", True, [])
    collector.handle(masked)
    assert collector.results[0].diffs[0].after == f"maas\n{MASK}\n"


def test_a_no_log_result_keeps_only_its_status() -> None:
    event = _event(censored="the output has been hidden due to the fact that 'no_log: true' was specified",
                   changed=True, diff={"after": "leak-me-please"}, msg="leak-me-please",
                   results=[{"censored": "hidden", "changed": True, "item": "leak-me-please"}])
    event["event_data"]["task_args"] = "content=leak-me-please"
    masked = Masker().event(event)
    assert masked["event_data"]["res"] == {"changed": True, "censored": event["event_data"]["res"]["censored"],
                                           "results": [{"changed": True, "censored": "hidden"}]}
    assert "task_args" not in masked["event_data"]
    assert censor("not a dict") == "not a dict"


def test_short_values_are_not_masked_and_multi_line_ones_are_masked_line_by_line() -> None:
    assert variants("yes") == []
    assert len("abcd") == MIN_CHARS and "abcd" in variants("abcd")
    found = variants("-----BEGIN KEY-----\nAAAAbbbbCCCC\n-----\n")
    assert "AAAAbbbbCCCC" in found and "-----" not in found
    masker = Masker.of(secret_values([("x", False, 'say "hi"\nthere-you-go')]))
    # As JSON spells it too: a failure message prints results as JSON.
    assert masker.text(json.dumps({"msg": 'say "hi"\nthere-you-go'})) == json.dumps({"msg": MASK})
    assert masker.text("there-you-go and more") == f"{MASK} and more"


def test_a_whole_file_that_is_not_yaml_is_masked_whole() -> None:
    masker = Masker.of(secret_values([("key.pem", True, "-----BEGIN-----\nMIIEvQIBADANBgkq\n-----END-----\n")]))
    assert masker.text("content: MIIEvQIBADANBgkq") == f"content: {MASK}"


def test_artifacts_are_written_masked_and_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        run = tmp_path / ".homelab" / "runs" / "p-check-0" / "artifacts" / "run"
        sink = MaskedArtifacts(Masker.of([CANARY]), run)
        sink.record(_event(changed=True, msg=CANARY))
        sink.record({"event": "playbook_on_stats", "uuid": "u2", "counter": 8, "stdout": "PLAY RECAP",
                     "event_data": {"ok": {"maas": 1}, "changed": {"maas": 1}}})
        # What ansible-runner itself writes goes to the scratch directory, unmasked; only the small files stay.
        (sink.scratch / "run" / "job_events").mkdir(parents=True)
        (sink.scratch / "run" / "job_events" / "u3-partial.json").write_text(CANARY)
        (sink.scratch / "run" / "command").write_text(json.dumps({"env": {"X": CANARY}}))
        scratch = sink.scratch
        sink.close()
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / ".homelab").rglob("*")]
    assert not any(CANARY.encode() in p.read_bytes() for p in files if p.is_file())
    assert not scratch.exists()
    assert json.loads((run / "command").read_text()) == {"env": {"X": MASK}}
    assert sorted(p.name for p in (run / "job_events").iterdir()) == ["7-u1.json", "8-u2.json"]
    assert MASK in (run / "stdout").read_text()
    assert sink.stats is not None and sink.stats["ok"] == {"maas": 1}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files if p.is_file()} == {"0o600"}
    dirs = [p for p in files if p.is_dir()] + [tmp_path / ".homelab"]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in dirs} == {"0o700"}
