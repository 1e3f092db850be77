"""`homelab plan "words"`, `revise` and `--show-prompt` through the CLI, offline, without a check run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_project, run_homelab


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    copy = tmp_path / "project"
    copy_project(copy)
    return {"HOMELAB_ROOT": str(copy), "HOMELAB_INVENTORY": str(copy / "inventory"), "HOMELAB_MODEL": ""}


def test_words_become_a_validated_plan_document(env: dict[str, str]) -> None:
    made = run_homelab("plan", "apply the baseline settings to every host", "--no-check", "--format", "json", env=env)
    assert made.rc == 0, made.stderr
    assert "Offline planner (no model configured)" in made.stderr
    doc = json.loads(made.stdout)
    assert [(s["playbook"], s["limit"], len(s["hosts"])) for s in doc["steps"]] == [("apply_baseline", "all", 9)]
    assert doc["planner"] == "offline" and doc["refusal"] is None and doc["model"] is None


def test_a_refusal_exits_non_zero_and_still_prints_the_document(env: dict[str, str]) -> None:
    refused = run_homelab("plan", "wipe the disks on every proxmox host", "--no-check", "--format", "json", env=env)
    assert refused.rc == 4
    doc = json.loads(refused.stdout)
    assert doc["steps"] == [] and doc["refusal"]["reason"] and doc["refusal"]["closest"]
    assert refused.stderr.splitlines()[-2].startswith("Error: the planner refused")
    # A refused plan targets no host: revising it says so instead of "targets ." with nothing named.
    revised = run_homelab("revise", doc["id"], "skip still-fawn", "--no-check", env=env)
    assert revised.rc == 2 and f"plan {doc['id']} targets no host" in revised.stderr


def test_revise_leaves_hosts_out_and_links_to_the_parent(env: dict[str, str]) -> None:
    parent = json.loads(run_homelab("plan", "apply the baseline settings to every host", "--no-check",
                                    "--format", "json", env=env).stdout)
    revised = run_homelab("revise", parent["id"], "delay the k3s nodes until next weekend", "--no-check",
                          "--format", "json", env=env)
    assert revised.rc == 0, revised.stderr
    doc = json.loads(revised.stdout)
    assert doc["parent"] == parent["id"]
    assert sorted(doc["excluded"]) == ["k3s-vm-chief-horse", "k3s-vm-pumped-piglet", "k3s-vm-still-fawn"]
    assert len(doc["steps"][0]["hosts"]) == 6
    assert any("k3s" in m["title"] for m in doc["manual"])
    unclear = run_homelab("revise", parent["id"], "make it nicer", "--no-check", env=env)
    assert unclear.rc == 2 and "can only revise a plan by leaving hosts out" in unclear.stderr


def test_show_prompt_prints_what_would_be_sent_and_sends_nothing(env: dict[str, str]) -> None:
    shown = run_homelab("plan", "check why k3s-vm-still-fawn seems slow", "--show-prompt", env=env)
    assert shown.rc == 0, shown.stderr
    assert "<<<DATA catalog" in shown.stdout and "<<<DATA memory" in shown.stdout
    assert "about" in shown.stderr and "tokens" in shown.stderr and "Nothing was sent" in shown.stderr
    plans = Path(env["HOMELAB_ROOT"]) / ".homelab" / "plans"
    assert not plans.exists() or not list(plans.iterdir()), "--show-prompt must not make a plan"


def test_show_prompt_for_a_model_shows_the_messages_and_schema_without_importing_litellm(env: dict[str, str]) -> None:
    code = ("import sys; from planner.cli import main; sys.argv = ['homelab', 'plan', 'check maas', '--show-prompt', "
            "'--model', 'openai/test-model']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'litellm' not in sys.modules, 'litellm was imported'")
    import os
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120, cwd=env["HOMELAB_ROOT"])
    assert proc.returncode == 0, proc.stderr
    assert "===== system =====" in proc.stdout and "===== response schema =====" in proc.stdout
