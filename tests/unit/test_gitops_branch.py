"""homelab.ops.gitops_branch's git plumbing, against real temporary git repositories.

The module_utils are plain functions, so they are called directly; the module around them is run by
ansible in tests/integration/test_k3s_app.py and in molecule/k3s_app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git_repo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import gitops_branch as gb  # noqa: E402

BRANCH = "homelab/deploy-web"
DIRECTORY = "gitops/apps/web"
SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
"""
KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - service.yaml\n"


def run(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits on main, a staged change and an unstaged one: the person's work in progress."""
    path = git_repo(tmp_path / "repo")
    (path / "gitops").mkdir()
    (path / "gitops" / "keep.txt").write_text("other apps\n")
    run(path, "add", "gitops")
    run(path, "commit", "-q", "-m", "other apps")
    (path / "staged.txt").write_text("staged\n")
    run(path, "add", "staged.txt")
    return path


def state(repo: Path) -> dict[str, str]:
    """Everything of the person's that a commit on another branch must leave alone."""
    return {"head": run(repo, "rev-parse", "HEAD"), "symbolic": run(repo, "symbolic-ref", "HEAD"),
            "main": run(repo, "rev-parse", "refs/heads/main"), "status": run(repo, "status", "--porcelain"),
            "index": (repo / ".git" / "index").read_bytes().hex(), "readme": (repo / "README.md").read_text(),
            "files": " ".join(sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if ".git" not in p.parts))}


def commit(repo: Path, files: dict[str, str], message: str = "Deploy web") -> gb.Change:
    change = gb.plan_change(str(repo), DIRECTORY, BRANCH, files)
    if change.changed:
        gb.commit_change(str(repo), change, BRANCH, message)
    return change


def test_new_branch_from_head_leaves_the_working_tree_index_and_branches_alone(repo: Path) -> None:
    before = state(repo)
    change = commit(repo, {"service.yaml": SERVICE, "kustomization.yaml": KUSTOMIZATION})
    assert change.changed and not change.branch_exists and change.base == before["head"]
    assert state(repo) == before
    assert run(repo, "rev-parse", f"{BRANCH}^") == before["head"]
    assert run(repo, "show", f"{BRANCH}:{DIRECTORY}/service.yaml") + "\n" == SERVICE
    # The base's other files are carried over; the staged and unstaged work is not.
    assert run(repo, "ls-tree", "-r", "--name-only", BRANCH).split() == [
        "README.md", "gitops/apps/web/kustomization.yaml", "gitops/apps/web/service.yaml", "gitops/keep.txt"]
    assert run(repo, "show", f"{BRANCH}:README.md") == "the homelab"
    assert run(repo, "log", "-1", "--format=%s|%an", BRANCH) == "Deploy web|Person"


def test_second_run_with_the_same_files_changes_nothing(repo: Path) -> None:
    commit(repo, {"service.yaml": SERVICE})
    tip = run(repo, "rev-parse", BRANCH)
    again = gb.plan_change(str(repo), DIRECTORY, BRANCH, {"service.yaml": SERVICE})
    assert not again.changed and again.branch_exists and again.diffs == [] and again.base == tip


def test_a_change_adds_a_commit_on_the_branch_and_removes_files_no_longer_rendered(repo: Path) -> None:
    commit(repo, {"service.yaml": SERVICE, "old.yaml": SERVICE})
    tip = run(repo, "rev-parse", BRANCH)
    main = run(repo, "rev-parse", "main")
    change = commit(repo, {"service.yaml": SERVICE.replace("80", "8080")}, "Deploy web again")
    assert change.base == tip and change.base_name == BRANCH
    assert [(d["before_header"], d["after_header"]) for d in change.diffs] == [
        (f"{BRANCH}:{DIRECTORY}/old.yaml", "/dev/null"),
        (f"{BRANCH}:{DIRECTORY}/service.yaml", f"{BRANCH}:{DIRECTORY}/service.yaml")]
    assert run(repo, "rev-parse", f"{BRANCH}^") == tip
    assert run(repo, "ls-tree", "-r", "--name-only", BRANCH, "--", DIRECTORY) == f"{DIRECTORY}/service.yaml"
    assert run(repo, "rev-parse", "main") == main  # the base branch never moves


def test_diff_is_against_the_file_at_head(repo: Path) -> None:
    (repo / DIRECTORY).mkdir(parents=True)
    (repo / DIRECTORY / "service.yaml").write_text(SERVICE)
    run(repo, "add", DIRECTORY)
    run(repo, "commit", "-q", "-m", "web by hand")
    change = gb.plan_change(str(repo), DIRECTORY, BRANCH, {"service.yaml": SERVICE.replace("80", "81")})
    [diff] = change.diffs
    assert diff["before_header"] == f"HEAD:{DIRECTORY}/service.yaml" and diff["before"] == SERVICE
    assert "port: 81" in diff["after"]
    assert run(repo, "branch", "--list", BRANCH) == ""  # planning writes nothing


def test_a_repository_without_identity_still_gets_a_commit(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(repo, "config", "--unset", "user.name")
    run(repo, "config", "--unset", "user.email")
    monkeypatch.setenv("HOME", str(repo.parent))  # no global identity either
    monkeypatch.setenv("XDG_CONFIG_HOME", str(repo.parent))
    commit(repo, {"service.yaml": SERVICE})
    assert run(repo, "log", "-1", "--format=%an <%ae>", BRANCH) == "homelab <homelab@localhost>"


def test_a_branch_moved_meanwhile_is_not_overwritten(repo: Path) -> None:
    commit(repo, {"service.yaml": SERVICE})
    change = gb.plan_change(str(repo), DIRECTORY, BRANCH, {"service.yaml": SERVICE.replace("80", "82")})
    run(repo, "branch", "-f", BRANCH, "main")  # someone reset it after the plan read it
    with pytest.raises(gb.GitopsError, match="update-ref"):
        gb.commit_change(str(repo), change, BRANCH, "Deploy web")


@pytest.mark.parametrize(("repo_path", "directory", "branch", "message"), [
    ("relative/path", DIRECTORY, BRANCH, "absolute path"),
    ("/nonexistent/gitops", DIRECTORY, BRANCH, "does not exist"),
    (None, "../outside", BRANCH, "relative path inside"),
    (None, "/etc", BRANCH, "relative path inside"),
    (None, DIRECTORY, "bad..branch", "not a valid branch name"),
])
def test_bad_inputs_are_refused(repo: Path, repo_path: str | None, directory: str, branch: str,
                                message: str) -> None:
    with pytest.raises(gb.GitopsError, match=message):
        gb.plan_change(repo_path or str(repo), directory, branch, {"service.yaml": SERVICE})


def test_not_a_repository_and_no_commit_yet_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(gb.GitopsError, match="not a git repository"):
        gb.plan_change(str(plain), DIRECTORY, BRANCH, {})
    run(plain, "init", "-q")
    with pytest.raises(gb.GitopsError, match="no commit yet"):
        gb.plan_change(str(plain), DIRECTORY, BRANCH, {})


def test_validation_names_the_file_the_object_and_the_field() -> None:
    bad = SERVICE.replace("    - port: 80", "    - port: eighty")
    typo = SERVICE.replace("  selector:", "  selectr:")
    problems = gb.validate_manifests({"service.yaml": bad, "typo.yaml": typo, "kustomization.yaml": KUSTOMIZATION,
                                      "PULL_REQUEST.md": "# not YAML: [", "nokind.yaml": "a: 1\n"}, "1.33")

    assert any(p.startswith("service.yaml: Service/web: spec.ports.0.port: 'eighty'") for p in problems), problems
    assert any(p.startswith("typo.yaml: Service/web: spec: Additional properties") for p in problems), problems
    assert "nokind.yaml: a document without apiVersion and kind is no Kubernetes object" in problems
    assert not any(p.startswith("PULL_REQUEST.md") for p in problems)


def test_valid_manifests_pass_and_the_kustomization_must_name_them() -> None:
    assert gb.validate_manifests({"service.yaml": SERVICE, "kustomization.yaml": KUSTOMIZATION}, "1.33") == []
    missing = KUSTOMIZATION + "  - deployment.yaml\n"
    assert gb.validate_manifests({"service.yaml": SERVICE, "kustomization.yaml": missing}, "1.33") == [
        "kustomization.yaml: resources: 'deployment.yaml' is not a file beside it"]


def test_an_unknown_kubernetes_version_is_an_error() -> None:
    with pytest.raises(gb.GitopsError, match="no schemas for Kubernetes 9.1"):
        gb.validate_manifests({"service.yaml": SERVICE}, "9.1")
