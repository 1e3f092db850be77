#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitops_branch
short_description: Validate Kubernetes manifests offline and commit them on a branch of a GitOps repository
description:
  - Validates every manifest in O(files) against the Kubernetes schemas of O(kubernetes_version)
    with the C(kubernetes-validate) package, offline and strictly (an unknown field is an error).
    An invalid manifest fails the task, naming the file, the object, the field and the error.
  - Commits the files as the whole content of O(directory) on O(branch), starting from the
    repository's HEAD when the branch does not exist yet, else from the branch's tip.
  - Uses git plumbing with a temporary index, so the person's working tree, index, current branch
    and every other branch stay exactly as they were. Nothing is pushed; no hook runs.
  - A second run with the same files finds the branch's tree already the same and changes nothing.
  - In check mode it validates and shows the diff of every file against the base, and writes
    nothing (not even git objects).
  - Runs on the controller (delegate_to localhost); it never calls a Kubernetes cluster.
options:
  repo:
    description: Absolute path of the GitOps git repository (a working tree or a bare repository).
    type: path
    required: true
  directory:
    description: Directory inside the repository that holds exactly O(files), such as C(gitops/apps/ollama).
    type: str
    required: true
  branch:
    description: Branch to create or update, such as C(homelab/deploy-ollama).
    type: str
    required: true
  files:
    description: File name inside O(directory) to its text. C(kustomization.yaml) must list the others'
      manifests; C(*.md) files are committed without validation.
    type: dict
    required: true
  commit_message:
    description: The commit message.
    type: str
    required: true
  kubernetes_version:
    description: Kubernetes version whose schemas the manifests must pass, such as C(1.33).
    type: str
    required: true
attributes:
  check_mode:
    description: Validates and reports the diff; writes nothing.
    support: full
  diff_mode:
    description: One diff per file added, changed or removed, against the base.
    support: full
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Commit the app's manifests on their branch
  homelab.ops.gitops_branch:
    repo: /srv/gitops
    directory: gitops/apps/ollama
    branch: homelab/deploy-ollama
    files:
      kustomization.yaml: "{{ lookup('ansible.builtin.template', 'kustomization.yaml.j2') }}"
    commit_message: Deploy ollama on k3s
    kubernetes_version: "1.33"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
branch:
  description: The branch.
  returned: always
  type: str
commit:
  description: The branch's commit after the run (the new one when changed; null in check mode when it would
    be created).
  returned: always
  type: str
base:
  description: The commit the change starts from (HEAD, or the branch's tip when it existed).
  returned: always
  type: str
paths:
  description: The files of the directory after the run, as paths in the repository.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.gitops_branch import (
    GitopsError,
    commit_change,
    plan_change,
    validate_manifests,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "repo": {"type": "path", "required": True},
            "directory": {"type": "str", "required": True},
            "branch": {"type": "str", "required": True},
            "files": {"type": "dict", "required": True},
            # Not "message": Ansible keeps that option name for itself, so a module never receives it.
            "commit_message": {"type": "str", "required": True},
            "kubernetes_version": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    files = {str(k): str(v) for k, v in p["files"].items()}
    try:
        problems = validate_manifests(files, p["kubernetes_version"])
        if problems:
            module.fail_json(msg=f"{len(problems)} manifest problem(s) against Kubernetes "
                                 f"{p['kubernetes_version']}: " + "; ".join(problems), problems=problems)
        change = plan_change(p["repo"], p["directory"], p["branch"], files)
        commit = change.base if change.branch_exists else None
        if change.changed and not module.check_mode:
            commit = commit_change(p["repo"], change, p["branch"], p["commit_message"])
    except GitopsError as err:
        module.fail_json(msg=str(err))
    result = {"changed": change.changed, "branch": p["branch"], "commit": commit, "base": change.base,
              "paths": sorted(change.after)}
    if module._diff:
        result["diff"] = change.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
