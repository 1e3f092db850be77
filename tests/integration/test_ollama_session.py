"""The Ollama conversation as the person has it, on the lab, with the offline planner:

    homelab plan "I want to deploy Ollama for local LLM testing"
    homelab revise ID "trial first"
    homelab apply ID
    homelab plan "ollama works, promote it to production"    (then apply: a GitOps branch)
    homelab plan "remove the ollama trial"                   (then apply: nothing left)

Each part has its own closer tests (test_check_gpus, test_trial_service, test_k3s_app, and the unit tests of
the framework, placement and the service record); this one checks that they hold together: the GPU report
and the placement agree, the answer settles the tier without changing the steps, the applied trial is
written into services: and SERVICES.md, the promotion deploys what the trial ran, and the removal goes
where the trial runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from planner import yamlio
from tests.conftest import git_repo
from tests.integration.conftest import Lab, homelab_in, plan_json
from tests.integration.test_lab import lab_ssh
from tests.integration.test_trial_service import NAME, UNIT, dns_query, lab_address, leftovers

QUESTION = "Trial through the orchestrator, or production on k3s?"


def services(project: Path) -> list[dict]:
    return list(yamlio.plain(yamlio.load(project / "inventory" / "group_vars" / "all" / "services.yml"))["services"])


def made(project: Path, *args: str) -> dict:
    result = homelab_in(project, *args, "--format", "json")
    assert result.rc == 0, result.stderr
    return plan_json(result)


def applied(project: Path, plan: dict) -> None:
    result = homelab_in(project, "apply", plan["id"], "--yes")
    assert result.rc == 0, result.stderr


def test_the_ollama_conversation(lab: Lab, project: Path, tmp_path: Path) -> None:
    gitops = git_repo(tmp_path / "gitops")
    (project / ".homelab" / "config.yml").write_text(yaml.safe_dump({"gitops": {"repo": str(gitops)}}))
    # The facts first, as `make demo` gathers them: the placement reads measured GPU memory where there is some.
    facts = homelab_in(project, "facts")
    assert facts.rc == 0, facts.stderr

    # 1. GPUs checked everywhere, the workload placed where its estimate fits, and the tier asked.
    first = made(project, "plan", "I want to deploy Ollama for local LLM testing")
    assert [(s["playbook"], s["limit"]) for s in first["steps"]] == [
        ("check_gpus", "all"), ("deploy_trial_service", "still-fawn")]
    assert first["steps"][1]["vars"] == {"trial_service_name": "ollama"}
    why = first["steps"][1]["rationale"]
    assert "still-fawn has an NVIDIA GeForce RTX 3070 with 7.5 GiB free" in why, why
    assert "estimated need 6 GiB GPU, 8 GiB RAM" in why and "orchestrator: trial" in why
    assert [q["question"] for q in first["questions"]] == [QUESTION]
    [gpus] = [t["report"] for t in first["review"]["steps"][0]["tasks"] if isinstance(t.get("report"), dict)]
    assert [f["host"] for f in gpus["gpus"]["fits"]] == ["still-fawn"]
    assert "held by python3" in {m["host"]: m["reason"] for m in gpus["gpus"]["does_not_fit"]}["pumped-piglet"]

    # 2. The answer settles the tier; the steps stay as reviewed.
    second = made(project, "revise", first["id"], "trial first")
    assert second["parent"] == first["id"] and second["questions"] == []
    assert [(s["playbook"], s["limit"], s["vars"]) for s in second["steps"]] == [
        (s["playbook"], s["limit"], s["vars"]) for s in first["steps"]]

    # 3. Deployed, answering, resolvable, in the inventory's services and in SERVICES.md.
    applied(project, second)
    host, maas = lab_address(lab, "still-fawn"), lab_address(lab, "maas")
    assert lab_ssh(lab, "still-fawn", f"systemctl is-active {UNIT}").stdout.strip() == "active"
    assert dns_query(maas, NAME) == [host]
    answer = lab_ssh(lab, "uptime-kuma", f"python3 -c \"import urllib.request as u; "
                     f"print(u.urlopen('http://{NAME}:11434/api/version', timeout=5).status)\"")
    assert answer.stdout.strip() == "200", answer.stderr
    [trial] = [s for s in services(project) if s["name"] == "ollama"]
    assert (trial["tier"], trial["dns"], trial["port"], trial["added_by"]) == (
        "orchestrator", NAME, 11434, "deploy_trial_service")
    assert trial["plan"] == second["id"] and trial["monitored"] is True
    assert NAME in (project / "docs" / "SERVICES.md").read_text()

    # 4. Production: the GitOps change from the trial's record, on a branch, never applied to the cluster.
    third = made(project, "plan", "ollama works, promote it to production")
    [step] = third["steps"]
    assert (step["playbook"], step["limit"]) == ("deploy_k3s_app", "k3s")
    assert {k: step["vars"][k] for k in ("k3s_app_name", "k3s_app_image", "k3s_app_port", "k3s_app_gpu")} == {
        "k3s_app_name": "ollama", "k3s_app_image": "docker.io/ollama/ollama:0.5.7", "k3s_app_port": 11434,
        "k3s_app_gpu": 1}
    # The lab's trial ran lighttpd in the image's place, so its record has no image: the recipe's stands in.
    assert "values from the ollama trial's record in services:" in step["rationale"]
    assert "image from the ollama recipe" in step["rationale"] and "k3s: production" in step["rationale"]
    assert any('homelab plan "remove the ollama trial"' in m["title"] for m in third["manual"])
    applied(project, third)
    branch = subprocess.run(["git", "-C", str(gitops), "show", "homelab/deploy-ollama:gitops/apps/ollama/"],
                            capture_output=True, text=True)
    assert branch.returncode == 0 and "kustomization.yaml" in branch.stdout, branch.stderr
    head = subprocess.run(["git", "-C", str(gitops), "branch", "--show-current"], capture_output=True, text=True)
    assert head.stdout.strip() == "main", "the person's branch moved"

    # 5. The trial goes where its record says it runs, and nothing of it is left.
    fourth = made(project, "plan", "remove the ollama trial")
    assert [(s["playbook"], s["limit"]) for s in fourth["steps"]] == [("remove_trial_service", "still-fawn")]
    applied(project, fourth)
    assert leftovers(lab) == []
    assert dns_query(maas, NAME) == []
    assert [s for s in services(project) if s["name"] == "ollama"] == []
