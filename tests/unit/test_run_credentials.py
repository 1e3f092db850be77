"""Credentials the inventory names by environment variable reach a run, and only those; secret ones are masked."""

from __future__ import annotations

from pathlib import Path

from planner.plans import environment
from planner.plans.masking import MASK
from planner.plans.masking import for_run as masker_for


def _inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "group_vars" / "all" / "monitoring.yml").write_text(
        "homelab_monitoring:\n  uptime_kuma:\n    username_env: KUMA_USER\n    password_env: KUMA_PASSWORD\n"
        "    url_env: not a name\n")
    (inv / "group_vars" / "all" / "broken.yml").write_text("a: [unclosed\n")
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1:\n")
    return inv


def test_the_inventory_names_the_credentials_a_run_gets(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    names = environment.named_credentials(inv)
    assert names == ["KUMA_PASSWORD", "KUMA_USER"]
    env = environment.for_run(tmp_path, tmp_path / "home", {"KUMA_PASSWORD": "s3cret-value", "OTHER": "x",
                                                            "PATH": "/bin"}, credentials=names)
    assert env["KUMA_PASSWORD"] == "s3cret-value"
    assert "OTHER" not in env and "KUMA_USER" not in env  # unset: nothing to pass


def test_names_that_change_how_programs_run_are_never_passed(tmp_path: Path) -> None:
    names = ["LD_PRELOAD", "PYTHONPATH", "ANSIBLE_CONFIG", "BASH_ENV", "HOME", "HTTPS_PROXY", "SSLKEYLOGFILE",
             "KUMA_PASSWORD"]
    caller = {name: "/tmp/evil" for name in names} | {"PATH": "/bin"}
    env = environment.for_run(tmp_path, tmp_path / "home", caller, credentials=names)
    assert env["KUMA_PASSWORD"] == "/tmp/evil"
    assert not {"LD_PRELOAD", "PYTHONPATH", "BASH_ENV", "HTTPS_PROXY", "SSLKEYLOGFILE"} & set(env)
    assert env.get("ANSIBLE_CONFIG") != "/tmp/evil" and env.get("HOME") != "/tmp/evil"


def test_a_passed_secret_is_masked_in_the_runs_output(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    inv = _inventory(tmp_path)
    monkeypatch.setenv("KUMA_PASSWORD", "s3cret-value")
    monkeypatch.setenv("KUMA_USER", "admin-user")
    masker = masker_for(tmp_path, inv, tmp_path / "playbooks" / "site.yml")
    assert masker.text("login with s3cret-value as admin-user") == f"login with {MASK} as admin-user"


def test_a_password_under_any_name_is_masked_and_a_username_is_not(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    # A file with Ansible's tags still names its credentials.
    (inv / "host_vars" / "h1.yml").write_text(
        "note: !unsafe '{{ x }}'\nkuma:\n  username_env: KUMA_LOGIN\n  password_env: KUMA_ADMIN_PW\n")
    assert environment.named_credentials(inv) == ["KUMA_ADMIN_PW", "KUMA_LOGIN"]
    monkeypatch.setenv("KUMA_ADMIN_PW", "hunter2-long")
    monkeypatch.setenv("KUMA_LOGIN", "admin")
    monkeypatch.setenv("UPTIME_KUMA_PASSWORD", "default-name-secret")
    masker = masker_for(tmp_path, inv, tmp_path / "playbooks" / "site.yml")
    out = masker.text("admin logs in with hunter2-long; default-name-secret")
    assert out == f"admin logs in with {MASK}; {MASK}"
