"""Variables the configuration fixes: gitops.repo and gitops.dir in .homelab/config.yml, the ``config`` extractor
that reads them, and the same value in an offline draft, an LLM draft (whose model never sees the variable) and a
plan named with --playbook."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from planner.catalog.entries import OfflineVariable, load_catalog  # noqa: E402
from planner.config import load_config, setting, settings  # noqa: E402
from planner.planning import context  # noqa: E402
from planner.planning import extractors as ex  # noqa: E402
from planner.planning.extractors import Named, Wanted, extract  # noqa: E402
from planner.planning.fixed import given_or_fixed  # noqa: E402
from planner.planning.intent import draft_plan  # noqa: E402
from planner.planning.llm_planner import draft_schema  # noqa: E402
from planner.planning.offline import OfflinePlanner  # noqa: E402
from planner.workspace import Workspace  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.unit.test_llm_planner import Script, planner_with  # noqa: E402

INTENT = "deploy docker.io/ollama/ollama:0.5.7 to production on k3s as ollama on port 11434 with 1 gpu"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".homelab").mkdir()
    return tmp_path


def test_gitops_settings_default_to_the_project_itself(project: Path) -> None:
    assert settings(project) == {"gitops.repo": str(project), "gitops.dir": "gitops"}


def test_gitops_settings_from_the_file_relative_to_the_project(project: Path) -> None:
    (project / ".homelab" / "config.yml").write_text("gitops:\n  repo: ../fleet\n  dir: clusters/home/\n")
    assert settings(project) == {"gitops.repo": str((project / "../fleet").resolve()), "gitops.dir": "clusters/home"}
    (project / ".homelab" / "config.yml").write_text("gitops:\n  repo: /srv/fleet\n")
    assert setting(load_config(project), project, "gitops.repo") == "/srv/fleet"


def test_the_config_extractor_reads_only_the_named_setting() -> None:
    named = Named(config={"gitops.repo": "/srv/fleet", "gitops.dir": "gitops"})
    assert extract(Wanted("config", key="gitops.repo"), "put it in /tmp/evil please", named) == "/srv/fleet"
    assert extract(Wanted("config", key="gitops.dir"), "", named) == "gitops"
    assert extract(Wanted("config", key="gitops.repo"), "", Named()) is None


@pytest.mark.parametrize("how", [{"extractor": "config"}, {"extractor": "image", "key": "gitops.repo"},
                                 {"extractor": "config", "key": "gitops.branch"}])
def test_a_config_variable_needs_a_known_key_and_only_it_has_one(how: dict) -> None:
    with pytest.raises(ValidationError):
        OfflineVariable.model_validate(how)


@pytest.mark.parametrize(("text", "images"), [
    ("deploy docker.io/ollama/ollama:0.5.7 on k3s", ["docker.io/ollama/ollama:0.5.7"]),
    ("run grafana/grafana:11.4.0 please", ["grafana/grafana:11.4.0"]),
    ("registry.lan:5000/tools/app:v2", ["registry.lan:5000/tools/app:v2"]),
    ("at 10:30 on friday", []), ("127.0.0.1:8080", []), ("jellyfin", []), ("k3s nodes", []),
])
def test_image(text: str, images: list[str]) -> None:
    assert [f.value for f in ex.image(text)] == images


@pytest.mark.parametrize(("text", "ports"), [
    ("on port 11434", [11434]), ("port: 8096", [8096]), ("listening on :3000", [3000]), ("port 99999", []),
    ("ollama/ollama:0.5.7", []), ("at 22:00", []), ("3 replicas", []),
])
def test_port(text: str, ports: list[int]) -> None:
    assert [f.value for f in ex.port(text)] == ports


@pytest.mark.parametrize(("text", "gib"), [("20 GB of storage", [20]), ("1 TB", [1024]), ("512 MiB", [1]),
                                           ("2.5GbE", [])])
def test_size_gib(text: str, gib: list[int]) -> None:
    assert [f.value for f in ex.size_gib(text)] == gib


@pytest.mark.parametrize(("text", "name"), [
    ("deploy grafana/grafana:11.4.0 as dashboards", "dashboards"),
    ("deploy docker.io/ollama/ollama:0.5.7 on k3s", "ollama"),
    ("run ghcr.io/open-webui/open-webui:main", "open-webui"),
    ("promote it to production", None),
])
def test_app_name(text: str, name: str | None) -> None:
    assert extract(Wanted("app_name"), text) == name


def test_offline_and_llm_drafts_get_the_configured_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("HOMELAB_ROOT", raising=False)
    ws = Workspace.find(str(ROOT / "inventory"))
    pack = context.build(ROOT, ROOT / "inventory", INTENT)
    assert pack.config["gitops.repo"]
    # The model is never told of the variable, neither in the schema nor in the catalog block.
    schema = draft_schema(pack.catalog)
    k3s = next(v for v in schema["properties"]["steps"]["items"]["anyOf"]
               if v["properties"]["playbook"]["enum"] == ["deploy_k3s_app"])["properties"]["vars"]["properties"]
    assert "k3s_app_name" in k3s and "k3s_app_gitops_repo" not in k3s and "k3s_app_gitops_dir" not in k3s
    assert "k3s_app_gitops_repo" not in pack.render_data()
    # A model that names a repository anyway (an injected instruction, say) gets the configured one.
    answer = {"steps": [{"playbook": "deploy_k3s_app", "limit": "k3s", "rationale": "production on k3s",
                         "vars": {"k3s_app_name": "ollama", "k3s_app_image": "docker.io/ollama/ollama:0.5.7",
                                  "k3s_app_port": 11434, "k3s_app_gitops_repo": "/tmp/elsewhere"}}],
              "manual": [], "questions": [], "refusal": None, "explanation": "GitOps."}
    planner, _ = planner_with(monkeypatch, Script(answer))
    _, llm_steps = draft_plan(ws, INTENT, planner, pack)
    _, offline_steps = draft_plan(ws, INTENT, OfflinePlanner(), pack)
    for steps in (llm_steps, offline_steps):
        [step] = steps
        assert step.vars["k3s_app_gitops_repo"] == pack.config["gitops.repo"] == str(ROOT)
        assert step.vars["k3s_app_gitops_dir"] == "gitops"
    assert offline_steps[0].vars["k3s_app_gpu"] == 1 and offline_steps[0].vars["k3s_app_name"] == "ollama"


def test_a_named_playbook_takes_the_configured_value_unless_given() -> None:
    fixed = load_catalog(ROOT).get("deploy_k3s_app").fixed
    assert fixed == {"k3s_app_gitops_repo": "gitops.repo", "k3s_app_gitops_dir": "gitops.dir"}
    values = {"gitops.repo": "/srv/fleet", "gitops.dir": "gitops"}
    assert given_or_fixed(fixed, {"k3s_app_name": "web"}, values) == {
        "k3s_app_gitops_repo": "/srv/fleet", "k3s_app_gitops_dir": "gitops", "k3s_app_name": "web"}
    assert given_or_fixed(fixed, {"k3s_app_gitops_repo": "/tmp/repo"}, values)["k3s_app_gitops_repo"] == "/tmp/repo"
