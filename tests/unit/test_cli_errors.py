"""Errors a person can cause: each prints Error:/Hint:, exits with its documented code, shows no traceback
and leaves files as they were. Every CLI run here works on a copy of the project, never the checkout."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from planner.config import ConfigError, load_config
from planner.errors import ExitCode
from tests.conftest import ROOT, Result, copy_project, run_homelab


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    copy = tmp_path / "project"
    copy_project(copy)
    return {"HOMELAB_ROOT": str(copy), "HOMELAB_INVENTORY": str(copy / "inventory"), "HOMELAB_MODEL": "",
            "HOMELAB_LAB_DIR": str(tmp_path / "lab")}


def _project(env: dict[str, str]) -> Path:
    return Path(env["HOMELAB_ROOT"])


def _is_person_error(result: Result, code: int) -> bool:
    return (result.rc == code and "Error:" in result.stderr and "Hint:" in result.stderr
            and "Traceback" not in result.stderr)


def _nothing_saved_or_logged(project: Path) -> bool:
    plans = project / ".homelab" / "plans"
    saved = plans.is_dir() and any(plans.iterdir())
    return not saved and not (project / "docs" / "sessions").exists()


# 1. A plan file that is not UTF-8 (or not JSON) is a damaged plan file, named, never a traceback.
def test_a_damaged_plan_file_is_named_not_a_traceback(env: dict[str, str]) -> None:
    plans = _project(env) / ".homelab" / "plans"
    plans.mkdir(parents=True)
    (plans / "zz.json").write_bytes(b"\xff\xfe{")
    (plans / "yy.json").write_text("{bad")
    listed = run_homelab("plans", "--format", "json", env=env)
    assert listed.rc == 0 and json.loads(listed.stdout) == []
    assert "zz.json is not a readable plan file" in listed.stderr
    assert "yy.json is not a readable plan file" in listed.stderr
    assert "Traceback" not in listed.stderr
    assert _is_person_error(run_homelab("show", "zz", env=env), int(ExitCode.REFUSED))
    applied = run_homelab("apply", "--yes", env=env)
    assert _is_person_error(applied, int(ExitCode.USAGE)) and "no plans yet" in applied.stderr
    assert (plans / "zz.json").read_bytes() == b"\xff\xfe{"


# 2. A wrongly typed documented field: drift and docs report it as `inventory validate` does.
def test_a_wrongly_typed_documented_field_is_a_validation_error(env: dict[str, str], tmp_path: Path) -> None:
    inventory = tmp_path / "inv"
    shutil.copytree(_project(env) / "inventory", inventory)
    host_vars = inventory / "host_vars" / "k3s-vm-chief-horse.yml"
    text = host_vars.read_text()
    assert re.search(r"^  memory_gib: \d+$", text, re.MULTILINE)
    host_vars.write_text(re.sub(r"^  memory_gib: \d+$", "  memory_gib: 64GB", text, count=1, flags=re.MULTILINE))
    validated = run_homelab("inventory", "validate", "-i", str(inventory), env=env)
    assert _is_person_error(validated, 2) and "host_vars/k3s-vm-chief-horse.yml:" in validated.stderr
    for args in (("drift", "-i", str(inventory)), ("docs", "--check", "-i", str(inventory))):
        result = run_homelab(*args, env=env)
        assert _is_person_error(result, 2), result.stderr
        assert result.stderr == validated.stderr  # the same problems, with the same file:line:col


# 3. A state directory blocked by a file: exit 3 naming the path, nothing written.
@pytest.mark.parametrize("blocked", [".homelab", ".homelab/plans"])
def test_a_blocked_state_directory_is_an_environment_error(env: dict[str, str], blocked: str) -> None:
    project = _project(env)
    (project / blocked).parent.mkdir(parents=True, exist_ok=True)
    (project / blocked).write_text("")
    result = run_homelab("plan", "-p", "gather_facts", "-l", "maas", "--no-check", env=env)
    assert _is_person_error(result, int(ExitCode.ENVIRONMENT)), result.stderr
    assert str(project / blocked) in result.stderr
    assert (project / blocked).is_file() and not (project / "docs" / "sessions").exists()
    assert not (project / ".homelab" / "plan.key").exists()


# 4. An --output that cannot be written is refused before the plan is saved or logged.
def test_an_unwritable_output_is_refused_before_anything_is_saved(env: dict[str, str], tmp_path: Path) -> None:
    result = run_homelab("plan", "-p", "apply_baseline", "--no-check", "-o", str(tmp_path / "no" / "dir" / "x.html"),
                         "--format", "html", env=env)
    assert _is_person_error(result, 2) and "directory does not exist" in result.stderr
    assert _nothing_saved_or_logged(_project(env))


# 5. Every case failing because the model cannot be reached is exit 3; an errored case passes nothing.
def test_eval_cli_exits_3_when_the_model_cannot_be_reached(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as sock:  # a local port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: a, intent: gather facts from maas, expect: {playbooks: [gather_facts]}}\n"
                     "  - {id: b, intent: wipe every disk, expect: {refusal: true}}\n")
    result = run_homelab("eval", str(cases), "-m", "openai/test-model", "--format", "json",
                         env={**env, "HOMELAB_MODEL_API_BASE": f"http://127.0.0.1:{port}/v1",
                              "HOMELAB_MODEL_TIMEOUT": "5", "OPENAI_API_KEY": "test"})
    assert _is_person_error(result, int(ExitCode.ENVIRONMENT)), result.stderr
    assert result.stdout == ""


# 6. A request of only whitespace is no request: exit 2, nothing saved.
def test_a_whitespace_request_is_nothing_to_plan(env: dict[str, str]) -> None:
    result = run_homelab("plan", "   ", "--no-check", "--format", "json", env=env)
    assert _is_person_error(result, 2) and "nothing to plan" in result.stderr
    assert result.stdout == "" and _nothing_saved_or_logged(_project(env))


# 7. `inventory validate --format json` prints a document for an invalid inventory too.
def test_inventory_validate_json_reports_problems(tmp_path: Path) -> None:
    inventory = tmp_path / "inv"
    shutil.copytree(ROOT / "inventory", inventory)
    (inventory / "hosts.yml").write_text((inventory / "hosts.yml").read_text() + "\nbroken: [\n")
    result = run_homelab("inventory", "validate", "-i", str(inventory), "--format", "json")
    assert _is_person_error(result, 2)
    doc = json.loads(result.stdout)
    assert doc["valid"] is False and doc["problems"]
    assert set(doc["problems"][0]) == {"file", "line", "col", "message"}
    assert doc["problems"][0]["file"].endswith("hosts.yml") and isinstance(doc["problems"][0]["line"], int)


# 8. A HOMELAB_ROOT that is missing or not a project is bad input, not an empty project.
def test_a_wrong_homelab_root_is_bad_input(tmp_path: Path) -> None:
    for root, command in ((tmp_path / "nonexistent", "plans"), (tmp_path, "catalog")):
        result = run_homelab(command, env={"HOMELAB_ROOT": str(root)})
        assert _is_person_error(result, 2) and "HOMELAB_ROOT" in result.stderr and result.stdout == ""


# 9. With --no-check nothing is reviewed or run, and the messages say so.
def test_no_check_messages_are_true(env: dict[str, str]) -> None:
    for playbook in ("gather_facts", "apply_baseline"):
        result = run_homelab("plan", "-p", playbook, "-l", "maas", "--no-check", "--format", "json", env=env)
        assert result.rc == 0, result.stderr
        assert "check mode" not in result.stderr and "Checking" not in result.stderr
        assert "ran during review" not in result.stderr and "Apply it with" not in result.stderr
        assert "no check run" in result.stderr and "cannot be applied" in result.stderr


# 10. `revise --help` shows its exit codes and examples as written.
def test_revise_help_keeps_its_paragraphs() -> None:
    result = run_homelab("revise", "--help")
    assert result.rc == 0 and "\\b" not in result.stdout
    assert re.search(r"^ +Examples:$", result.stdout, re.MULTILINE)
    assert re.search(r'^ +homelab revise latest "delay the k3s nodes until next weekend"$', result.stdout, re.MULTILINE)


# 11. An unknown lab host is bad input with the known hosts in the hint (nothing is started).
def test_lab_ssh_to_an_unknown_host_is_bad_input(env: dict[str, str]) -> None:
    result = run_homelab("lab", "ssh", "nosuchhost", env=env)
    assert _is_person_error(result, 2) and "unknown lab host 'nosuchhost'" in result.stderr
    assert "still-fawn" in result.stderr.split("Hint:")[1]
    close = run_homelab("lab", "ssh", "still-fawm", env=env)
    assert close.rc == 2 and "did you mean 'still-fawn'" in close.stderr


# 11b. A fault planted on an unknown lab host is bad input; on a host that is not running, a lab error.
def test_lab_plant_names_what_is_wrong(env: dict[str, str]) -> None:
    unknown = run_homelab("lab", "plant", "still-fawm", "cpu-hog", env=env)
    assert _is_person_error(unknown, 2) and "did you mean 'still-fawn'" in unknown.stderr
    stopped = run_homelab("lab", "plant", "still-fawn", "disk-full", "--clear", env=env)
    assert _is_person_error(stopped, 3) and "lab host 'still-fawn' is not running" in stopped.stderr
    assert "homelab lab up" in stopped.stderr.split("Hint:")[1]
    fault = run_homelab("lab", "plant", "still-fawn", "fork-bomb", env=env)
    assert fault.rc == 2 and "'fork-bomb' is not one of 'cpu-hog', 'disk-full'" in fault.stderr


# 12. "latest" with no plans is bad input (run homelab plan), not a refusal.
@pytest.mark.parametrize("args", [("apply",), ("show", "latest")])
def test_no_plans_yet_is_bad_input(env: dict[str, str], args: tuple[str, ...]) -> None:
    result = run_homelab(*args, env=env)
    assert _is_person_error(result, 2) and "no plans yet" in result.stderr
    assert "homelab plan" in result.stderr.split("Hint:")[1]


# 13. The config file must be a plain mapping; an encrypted one is named as such.
def test_config_that_is_not_a_mapping_says_so(tmp_path: Path) -> None:
    config = tmp_path / ".homelab" / "config.yml"
    config.parent.mkdir()
    config.write_text("- model: openai/gpt-4o-mini\n")
    with pytest.raises(ConfigError) as listed:
        load_config(tmp_path)
    assert "must be a mapping of settings" in listed.value.message
    assert "found a list" in listed.value.details[0] and "Commented" not in listed.value.details[0]
    config.write_text("$ANSIBLE_VAULT;1.1;AES256\n36353962393433656661\n65633031643532616263\n")
    with pytest.raises(ConfigError) as vaulted:
        load_config(tmp_path)
    assert "vault-encrypted" in vaulted.value.message and "not encrypted" in vaulted.value.message
    assert "api_key_env" in (vaulted.value.hint or "") and "found str" not in str(vaulted.value.details)


# A pasted log is not a request: bounded before it reaches a model or the session log.
def test_an_overlong_request_is_refused_before_anything_is_saved(env: dict[str, str]) -> None:
    result = run_homelab("plan", "check maas " + "x" * 3000, "--no-check", "--format", "json", env=env)
    assert _is_person_error(result, 2) and "at most 2,000 are read" in result.stderr
    assert result.stdout == "" and _nothing_saved_or_logged(_project(env))
