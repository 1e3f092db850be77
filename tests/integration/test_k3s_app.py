"""deploy_k3s_app against the sandbox lab: the GitOps change reviewed in check mode, applied as a branch of a
temporary git repository named in the project's config, and a second apply that changes nothing.

The play targets the lab's k3s hosts (their inventory gives lan_domain) and runs once on the controller: the
cluster is never called, and the person's working tree, index and current branch stay as they were."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, git_repo
from tests.integration.conftest import Lab, homelab_in, plan_json

sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils.gitops_branch import validate_manifests  # noqa: E402

BRANCH = "homelab/deploy-ollama"
APP_DIR = "gitops/apps/ollama"
OLLAMA = ("-e", "k3s_app_name=ollama", "-e", "k3s_app_image=docker.io/ollama/ollama:0.5.7", "-e", "k3s_app_port=11434",
          "-e", "k3s_app_gpu=1", "-e", "k3s_app_storage_gib=20", "-e", "k3s_app_memory_mib=16384")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def gitops(project: Path, tmp_path: Path) -> Path:
    """A GitOps repository with a commit on main and the person's uncommitted work, named in the project's config."""
    repo = git_repo(tmp_path / "gitops-repo")
    (project / ".homelab" / "config.yml").write_text(f"gitops:\n  repo: {repo}\n")
    return repo


def person(repo: Path) -> tuple[str, str, str, str]:
    return (git(repo, "rev-parse", "HEAD"), git(repo, "symbolic-ref", "HEAD"), git(repo, "status", "--porcelain"),
            (repo / "README.md").read_text())


def test_ollama_goes_to_a_branch_with_valid_manifests_and_a_second_apply_changes_nothing(
        lab: Lab, project: Path, gitops: Path) -> None:
    before = person(gitops)
    made = homelab_in(project, "plan", "-p", "deploy_k3s_app", "-l", "k3s", *OLLAMA, "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    step = plan["steps"][0]
    # The planner filled the repository from the config; the plan records it, so apply commits where review looked.
    assert step["vars"]["k3s_app_gitops_repo"] == str(gitops) and step["vars"]["k3s_app_gitops_dir"] == "gitops"
    review = plan["review"]["steps"][0]
    [commit_task] = [t for t in review["tasks"] if t["task"].endswith("commit them on the app's branch")]
    assert commit_task["status"] == "changed"
    shown = "\n".join(str(d) for d in commit_task["diffs"])
    for path in ("statefulset.yaml", "service.yaml", "ingress.yaml", "kustomization.yaml", "PULL_REQUEST.md"):
        assert f"{BRANCH}:{APP_DIR}/{path}" in shown, shown
    assert "nvidia.com/gpu: 1" in shown and "storage: 20Gi" in shown and "ollama.maas" in shown
    assert git(gitops, "branch", "--list", BRANCH) == "", "the check run made the branch"
    assert person(gitops) == before

    applied = homelab_in(project, "apply", plan["id"], "--yes")
    assert applied.rc == 0, applied.stderr
    assert person(gitops) == before, "the apply touched the person's HEAD, index or working tree"
    assert git(gitops, "rev-parse", f"{BRANCH}^") == before[0]
    files = {path.rsplit("/", 1)[1]: git(gitops, "show", f"{BRANCH}:{path}") + "\n"
             for path in git(gitops, "ls-tree", "-r", "--name-only", BRANCH, "--", APP_DIR).split()}
    assert sorted(files) == ["PULL_REQUEST.md", "ingress.yaml", "kustomization.yaml", "service.yaml",
                             "statefulset.yaml"]
    assert validate_manifests(files, "1.33") == []
    assert "## How to roll back" in files["PULL_REQUEST.md"]
    tip = git(gitops, "rev-parse", BRANCH)

    again = plan_json(homelab_in(project, "plan", "-p", "deploy_k3s_app", "-l", "k3s", *OLLAMA, "--format", "json"))
    assert all(s["changed"] == 0 and s["failed"] == 0 for s in again["review"]["steps"][0]["hosts"].values())
    second = homelab_in(project, "apply", again["id"], "--yes")
    assert second.rc == 0, second.stderr
    record = plan_json(homelab_in(project, "show", again["id"], "--format", "json"))["applies"][-1]
    assert all(o["outcome"] == "ok" for o in record["hosts"].values()), record
    assert git(gitops, "rev-parse", BRANCH) == tip and person(gitops) == before


def test_manifests_that_cannot_be_validated_fail_the_review(lab: Lab, project: Path, gitops: Path) -> None:
    # Schemas for a Kubernetes the package does not bundle: the module refuses before any branch is made
    # (the unit tests cover each invalid manifest, named by file, object and field).
    made = homelab_in(project, "plan", "-p", "deploy_k3s_app", "-l", "k3s", *OLLAMA,
                      "-e", "k3s_app_kubernetes_version=1.5", "--format", "json")
    assert made.rc == 1, made.stderr
    review = plan_json(made)["review"]["steps"][0]
    [failed] = [t for t in review["tasks"] if t["status"] == "failed"]
    assert "no schemas for Kubernetes 1.5" in str(failed), failed
    assert git(gitops, "branch", "--list", BRANCH) == ""


def test_run_directly_without_a_repository_the_play_says_what_to_give(tmp_path: Path) -> None:
    # ansible-playbook as a person runs it, with no planner to fill the repository: nothing of the project's
    # (its playbook directory included) stands in for it.
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[k3s]\nk3s-a ansible_connection=local\n[all:vars]\nlan_domain=maas\n")
    playbook = Path(sys.executable).with_name("ansible-playbook")
    run = subprocess.run([str(playbook), "-i", str(inventory), str(ROOT / "playbooks" / "deploy_k3s_app.yml"),
                          *OLLAMA], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "deploy_k3s_app needs: k3s_app_gitops_repo, the absolute path of the GitOps git repository" in run.stdout
    assert "-e k3s_app_gitops_repo=/path/to/repo" in run.stdout
