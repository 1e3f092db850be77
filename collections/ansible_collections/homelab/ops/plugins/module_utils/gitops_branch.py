# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Manifests for a GitOps repository: validated offline, committed on a branch of their own with git plumbing.

Plain functions over plain data, so the unit tests call them without Ansible. A commit is made the way
``git commit`` makes one, but without the person's working tree, index or current branch: the base commit's
tree is read into a temporary index (``GIT_INDEX_FILE``), the app's directory is replaced there by the
rendered files (``hash-object``, ``update-index``), and ``write-tree``, ``commit-tree`` and ``update-ref``
make the branch. Nothing else of the repository moves; no hook runs.

The base is the branch itself when it exists (a second apply adds to it, or finds its tree already the
same and changes nothing), else the repository's HEAD.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field

#: What a DNS label (an app's name, and so its Kubernetes object names) may be.
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: Files committed but not Kubernetes objects: the kustomization and the pull request's description.
KUSTOMIZATION = "kustomization.yaml"
NOT_VALIDATED = (".md",)
_ZERO = "0" * 40
# Identity for the commit when the repository names none: commit-tree refuses to guess one.
_FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "homelab", "GIT_AUTHOR_EMAIL": "homelab@localhost",
                      "GIT_COMMITTER_NAME": "homelab", "GIT_COMMITTER_EMAIL": "homelab@localhost"}


class GitopsError(Exception):
    """Something a person must fix: not a repository, no commit yet, an invalid manifest, a bad name."""


@dataclass(frozen=True)
class Change:
    """What committing ``files`` under ``directory`` on ``branch`` would do, worked out without writing."""

    base: str  # the commit the branch starts from, or its tip when it exists
    base_name: str  # "HEAD" or the branch, for the diff's header
    branch_exists: bool
    before: dict[str, str]  # path in the repository -> text at the base, under the directory
    after: dict[str, str]  # path in the repository -> the rendered text
    diffs: list[dict[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the branch would get a new commit."""
        return self.before != self.after


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # A GIT_DIR or GIT_INDEX_FILE from the caller would point the commands at another repository or index.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    env.update(extra or {})
    return env


def git(repo: str, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``git -C repo ARGS`` and return its stdout (stripped); a GitopsError with git's message on failure."""
    proc = subprocess.run(["git", "-C", repo, *args], input=stdin, capture_output=True, env=_clean_env(env),
                          check=False, timeout=60)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip() or f"exit code {proc.returncode}"
        raise GitopsError(f"git {' '.join(args[:2])} failed in {repo}: {message}")
    return proc.stdout.decode("utf-8", "replace").strip()


def _commit_or_none(repo: str, ref: str) -> str | None:
    proc = subprocess.run(["git", "-C", repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                          capture_output=True, env=_clean_env(), check=False, timeout=60)
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def check_inputs(repo: str, directory: str, branch: str) -> None:
    """Refuse what would write outside the app's directory or is no repository, before anything is read."""
    if not repo or not os.path.isabs(repo):
        raise GitopsError(f"the GitOps repository must be an absolute path (got {repo!r}); the planner fills it "
                          "from gitops.repo in .homelab/config.yml")
    if not os.path.isdir(repo):
        raise GitopsError(f"the GitOps repository {repo} does not exist")
    parts = directory.split("/")
    if not directory or directory.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise GitopsError(f"the directory {directory!r} must be a relative path inside the repository, "
                          "without '.' or '..'")
    inside = subprocess.run(["git", "-C", repo, "rev-parse", "--is-inside-work-tree"], capture_output=True,
                            env=_clean_env(), check=False, timeout=60)
    bare = subprocess.run(["git", "-C", repo, "rev-parse", "--is-bare-repository"], capture_output=True,
                          env=_clean_env(), check=False, timeout=60)
    if inside.returncode != 0 and bare.stdout.strip() != b"true":
        raise GitopsError(f"{repo} is not a git repository (git init it, or set gitops.repo to one)")
    if subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, env=_clean_env(),
                      check=False, timeout=60).returncode != 0:
        raise GitopsError(f"{branch!r} is not a valid branch name")


def _paths_at(repo: str, commit: str, directory: str) -> list[str]:
    listed = git(repo, "ls-tree", "-r", "-z", "--full-tree", "--name-only", commit, "--", directory + "/")
    return [path for path in listed.split("\0") if path]


def plan_change(repo: str, directory: str, branch: str, files: dict[str, str]) -> Change:
    """What committing ``files`` (names inside ``directory`` -> text) on ``branch`` would change; writes nothing."""
    check_inputs(repo, directory, branch)
    tip = _commit_or_none(repo, f"refs/heads/{branch}")
    base = tip or _commit_or_none(repo, "HEAD")
    if base is None:
        raise GitopsError(f"{repo} has no commit yet: the branch needs one to start from (commit something first)")
    for name in files:
        if "/" in name or name in ("", ".", ".."):
            raise GitopsError(f"{name!r} is not a plain file name")
    # git stores text as given; a trailing newline is what an editor would write, and keeps reruns equal.
    after = {f"{directory}/{name}": text if text.endswith("\n") else text + "\n" for name, text in files.items()}
    before = {path: _blob_text(repo, base, path) for path in _paths_at(repo, base, directory)}
    base_name = branch if tip else "HEAD"
    diffs = [{"before_header": f"{base_name}:{path}" if path in before else "/dev/null",
              "after_header": f"{branch}:{path}" if path in after else "/dev/null",
              "before": before.get(path, ""), "after": after.get(path, "")}
             for path in sorted(set(before) | set(after)) if before.get(path) != after.get(path)]
    return Change(base, base_name, tip is not None, before, after, diffs)


def _blob_text(repo: str, commit: str, path: str) -> str:
    # Read exactly (git() strips), so a file that differs only at its end still compares as different.
    proc = subprocess.run(["git", "-C", repo, "cat-file", "blob", f"{commit}:{path}"], capture_output=True,
                          env=_clean_env(), check=False, timeout=60)
    if proc.returncode != 0:
        raise GitopsError(f"cannot read {path} at {commit[:12]}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode("utf-8", "replace")


def commit_change(repo: str, change: Change, branch: str, message: str) -> str:
    """Commit ``change`` on ``branch`` through a temporary index and return the new commit.

    The person's index, working tree, HEAD and every other ref stay as they were. ``update-ref`` is given
    the ref's expected old value, so a branch that moved since :func:`plan_change` read it is not overwritten.
    """
    identity = {} if _has_identity(repo) else dict(_FALLBACK_IDENTITY)
    with tempfile.TemporaryDirectory(prefix="homelab-gitops-") as scratch:
        env = {**identity, "GIT_INDEX_FILE": os.path.join(scratch, "index")}
        git(repo, "read-tree", change.base, env=env)
        for path in sorted(set(change.before) - set(change.after)):
            git(repo, "update-index", "--force-remove", "--", path, env=env)
        for path, text in sorted(change.after.items()):
            sha = git(repo, "hash-object", "-w", "--stdin", stdin=text.encode("utf-8"), env=env)
            git(repo, "update-index", "--add", "--cacheinfo", f"100644,{sha},{path}", env=env)
        tree = git(repo, "write-tree", env=env)
        commit = git(repo, "commit-tree", tree, "-p", change.base, "-F", "-", stdin=message.encode("utf-8"),
                     env=env)
    old = change.base if change.branch_exists else _ZERO
    git(repo, "update-ref", "-m", f"homelab: {message.splitlines()[0]}", f"refs/heads/{branch}", commit, old)
    return commit


def _has_identity(repo: str) -> bool:
    for key in ("user.name", "user.email"):
        proc = subprocess.run(["git", "-C", repo, "config", "--get", key], capture_output=True, env=_clean_env(),
                              check=False, timeout=60)
        if proc.returncode != 0 or not proc.stdout.strip():
            return False
    return True


def validate_manifests(files: dict[str, str], kubernetes_version: str) -> list[str]:
    """Every problem of the manifests against the Kubernetes schemas of ``kubernetes_version`` (strict: an
    unknown field is an error), as ``file: kind/name: field.path: what is wrong``; empty when all are valid.

    Checked offline with the schemas the ``kubernetes-validate`` package bundles. The kustomization is
    checked for what the GitOps controller needs (it names each manifest beside it); markdown is not checked.
    """
    import yaml

    try:
        from kubernetes_validate import utils as kubernetes_validate
    except ImportError:
        raise GitopsError("the kubernetes-validate package is not installed in the Python that runs this "
                          "module (pip install kubernetes-validate)") from None
    # The package picks the newest schemas not newer than the version asked for, comparing strings ("1.5" is
    # newer than "1.33" to it): only a version it bundles is accepted, so what is checked is what was asked.
    bundled = sorted({kubernetes_validate.major_minor(v) for v in kubernetes_validate.all_versions()},
                     key=lambda v: tuple(int(x) for x in v.split(".")))
    if kubernetes_validate.major_minor(kubernetes_version) not in bundled:
        raise GitopsError(f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version} (it has "
                          f"{', '.join(bundled)}); set k3s_app_kubernetes_version to one of them")
    problems: list[str] = []
    for name, text in sorted(files.items()):
        if name.endswith(NOT_VALIDATED):
            continue
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as err:
            problems.append(f"{name}: not valid YAML: {str(err).splitlines()[0]}")
            continue
        if name == KUSTOMIZATION:
            problems += _kustomization_problems(name, docs, files)
            continue
        for doc in docs:
            problems += _object_problems(name, doc, kubernetes_version, kubernetes_validate)
    return problems


def _object_problems(name: str, doc: object, version: str, kv: object) -> list[str]:
    if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
        return [f"{name}: a document without apiVersion and kind is no Kubernetes object"]
    what = f"{doc['kind']}/{(doc.get('metadata') or {}).get('name', '?')}"
    try:
        kv.validate(doc, version, strict=True)  # type: ignore[attr-defined]
    except kv.ValidationError as err:  # type: ignore[attr-defined]
        where = ".".join(str(p) for p in err.path) or "(top level)"
        return [f"{name}: {what}: {where}: {err.message}"]
    except kv.SchemaNotFoundError as err:  # type: ignore[attr-defined]
        return [f"{name}: {what}: {err.message}"]
    return []


def _kustomization_problems(name: str, docs: list[object], files: dict[str, str]) -> list[str]:
    doc = docs[0] if len(docs) == 1 else None
    if not isinstance(doc, dict) or doc.get("kind") != "Kustomization":
        return [f"{name}: must be one Kustomization document"]
    resources = doc.get("resources")
    if not isinstance(resources, list) or not resources:
        return [f"{name}: resources: must list the manifests beside it"]
    return [f"{name}: resources: {r!r} is not a file beside it" for r in resources if r not in files]
