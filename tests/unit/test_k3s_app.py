"""The k3s_app role's manifests: what its templates render for a set of inputs, and that the result passes the
Kubernetes schemas (strict) that homelab.ops.gitops_branch checks before it commits.

The templates are rendered with Jinja2 the way Ansible's template lookup renders them (trim_blocks), with the
role's defaults and its derived names from vars/main.yml; the real play renders them in
tests/integration/test_k3s_app.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "k3s_app"
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils.gitops_branch import validate_manifests  # noqa: E402

OLLAMA = {"k3s_app_name": "ollama", "k3s_app_image": "docker.io/ollama/ollama:0.5.7", "k3s_app_port": 11434}


def render(**given: Any) -> dict[str, str]:
    """The files the role commits for these variables, by name."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"), undefined=jinja2.StrictUndefined,
                             trim_blocks=True)
    env.filters["to_json"] = json.dumps
    values: dict[str, Any] = {**yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()), "lan_domain": "maas",
                              **OLLAMA, **given}
    for name, expr in yaml.safe_load((ROLE / "vars" / "main.yml").read_text()).items():
        values[name] = ([env.from_string(e).render(values) for e in expr] if isinstance(expr, list)
                        else env.from_string(expr).render(values))
    names = values["_k3s_app_manifest_names"]
    templates = ["workload.yaml.j2", "service.yaml.j2", "ingress.yaml.j2", "kustomization.yaml.j2",
                 "PULL_REQUEST.md.j2"]
    return {name: env.get_template(t).render(values)
            for name, t in zip([*names, "kustomization.yaml", "PULL_REQUEST.md"], templates, strict=True)}


def objects(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {name: yaml.safe_load(text) for name, text in files.items() if name.endswith(".yaml")}


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return only


def test_without_storage_it_is_a_deployment_with_probes_and_no_limits() -> None:
    files = render()
    docs = objects(files)
    assert sorted(docs) == ["deployment.yaml", "ingress.yaml", "kustomization.yaml", "service.yaml"]
    deployment = docs["deployment.yaml"]
    assert deployment["kind"] == "Deployment" and deployment["metadata"]["namespace"] == "apps"
    assert "volumeClaimTemplates" not in deployment["spec"] and deployment["spec"]["replicas"] == 1
    c = container(deployment)
    assert c["image"] == "docker.io/ollama/ollama:0.5.7" and c["ports"][0]["containerPort"] == 11434
    assert c["readinessProbe"]["httpGet"] == {"path": "/", "port": "http"} == c["livenessProbe"]["httpGet"]
    assert "resources" not in c and "nodeSelector" not in deployment["spec"]["template"]["spec"]
    assert docs["kustomization.yaml"]["resources"] == ["deployment.yaml", "service.yaml", "ingress.yaml"]
    assert validate_manifests(files, "1.33") == []


def test_storage_makes_a_statefulset_with_a_volume_claim_per_replica() -> None:
    files = render(k3s_app_storage_gib=20, k3s_app_replicas=3, k3s_app_storage_path="/root/.ollama")
    sts = objects(files)["statefulset.yaml"]
    assert sts["kind"] == "StatefulSet" and sts["spec"]["serviceName"] == "ollama" and sts["spec"]["replicas"] == 3
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "local-path"
    assert container(sts)["volumeMounts"] == [{"name": "data", "mountPath": "/root/.ollama"}]
    assert "20 GiB per replica" in files["PULL_REQUEST.md"]
    assert validate_manifests(files, "1.33") == []


def test_gpu_and_memory_give_limits_a_runtime_class_a_node_selector_and_a_toleration() -> None:
    files = render(k3s_app_gpu=1, k3s_app_memory_mib=16384)
    pod = objects(files)["deployment.yaml"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {"limits": {"memory": "16384Mi", "nvidia.com/gpu": 1}}
    assert pod["runtimeClassName"] == "nvidia" and pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert "1 NVIDIA GPU(s) per replica" in files["PULL_REQUEST.md"]
    assert validate_manifests(files, "1.33") == []


def test_memory_alone_limits_memory_only() -> None:
    pod = objects(render(k3s_app_memory_mib=512))["deployment.yaml"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {"limits": {"memory": "512Mi"}} and "runtimeClassName" not in pod


@pytest.mark.parametrize(("given", "host"), [({}, "ollama.maas"), ({"k3s_app_ingress_host": "llm.example.org"},
                                                                     "llm.example.org")])
def test_the_ingress_answers_for_the_name_in_the_lan_domain_or_the_host_given(given: dict[str, str],
                                                                              host: str) -> None:
    files = render(**given)
    ingress = objects(files)["ingress.yaml"]
    assert ingress["spec"]["ingressClassName"] == "traefik"
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == host
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "ollama", "port": {"name": "http"}}
    assert f"http://{host}/" in files["PULL_REQUEST.md"]


def test_the_pull_request_says_how_to_merge_and_roll_back() -> None:
    text = render(k3s_app_health_path="/api/version")["PULL_REQUEST.md"]
    for words in ("# Deploy ollama on k3s", "homelab/deploy-ollama", "gitops/apps/ollama/", "## How to merge",
                  "## What the GitOps controller then does", "## How to roll back", "`/api/version`"):
        assert words in text


def test_a_broken_render_is_caught_by_validation() -> None:
    files = render()
    files["deployment.yaml"] = files["deployment.yaml"].replace("containerPort: 11434", "containerPort: \"x\"")
    [problem] = validate_manifests(files, "1.33")
    assert problem.startswith("deployment.yaml: Deployment/ollama: spec.template.spec.containers.0.ports.0."
                              "containerPort: 'x' is not of type 'integer'")
