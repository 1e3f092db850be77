"""The planner's side of a trial: recipes, where a GPU workload goes, the GPU check first, and promotion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from planner.catalog.entries import load_catalog
from planner.catalog.recipes import RECIPES_FILE, load_recipes
from planner.errors import CatalogError
from planner.planning import context
from planner.planning.offline import OfflinePlanner
from planner.planning.placement import Need, gib, place
from planner.yamlio.files import set_in_file
from tests.conftest import FIXTURES, copy_project, documented_only

TRIAL = FIXTURES / "trial"
STILL_FAWN_GPU = {"gpus": [{"index": 0, "model": "NVIDIA GeForce RTX 3070", "memory_total_mib": 8192,
                            "memory_used_mib": 512, "memory_free_mib": 7680,
                            "processes": [{"pid": 1, "name": "Xorg", "used_memory_mib": 512}]}],
                  "memory_mib": 65536, "nvidia_smi": "ok", "gathered_at": "2026-12-06T03:00:00+00:00"}


def add_trial_entries(project: Path) -> Path:
    """The stand-in sidecars and recipes copied into a project copy."""
    for path in (TRIAL / "playbooks").iterdir():
        shutil.copy(path, project / "playbooks" / path.name)
    recipes = project / RECIPES_FILE
    recipes.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(TRIAL / RECIPES_FILE, recipes)
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = add_trial_entries(documented_only(copy_project(tmp_path_factory.mktemp("trial") / "project")))
    # still-fawn was read by discovery: 7.5 GiB of its 8 GiB free. pumped-piglet never was (documented only).
    set_in_file(root / "inventory" / "host_vars" / "still-fawn.yml", ("discovered",), STILL_FAWN_GPU)
    return root


def draft(project: Path, intent: str):
    return OfflinePlanner().draft(intent, context.build(project, project / "inventory", intent)).draft


# --- recipes ---------------------------------------------------------------------------------------------------

def test_recipes_load_typed(project: Path) -> None:
    recipes = load_recipes(project)
    ollama = recipes.get("ollama")
    assert (ollama.port, ollama.gpu, ollama.gpu_mib, ollama.memory_mib) == (11434, True, 6144, 8192)
    assert ollama.env == {"OLLAMA_HOST": "0.0.0.0"}
    with pytest.raises(CatalogError, match="no recipe for 'olama'") as err:
        recipes.get("olama")
    assert "did you mean ollama" in str(err.value.hint)


def test_no_recipes_file_means_no_recipes(tmp_path: Path) -> None:
    assert load_recipes(tmp_path).by_name == {}


@pytest.mark.parametrize(("body", "expected"), [
    ("trial_service_recipes:\n  ollama:\n    description: x\n    port: 11434\n    source: s\n    gpu_mb: 1\n",
     "main.yml:7:5: trial_service_recipes.ollama.gpu_mb: unknown key (did you mean 'gpu_mib'?)"),
    ("trial_service_recipes:\n  ollama:\n    description: x\n    source: s\n",
     "trial_service_recipes.ollama.port: required key is missing"),
    ("trial_service_recipes:\n  ollama:\n    description: x\n    port: '11434'\n    source: s\n",
     "main.yml:5:11: trial_service_recipes.ollama.port: Input should be a valid integer"),
    ("trial_service_recipes:\n  Open WebUI:\n    description: x\n    port: 8080\n    source: s\n",
     "main.yml:3:3: trial_service_recipes.Open WebUI: a service name must be a DNS label"),
])
def test_malformed_recipes_are_refused_with_where(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / RECIPES_FILE
    path.parent.mkdir(parents=True)
    path.write_text("---\n" + body)
    with pytest.raises(CatalogError) as err:
        load_recipes(tmp_path)
    assert any(expected in line for line in err.value.details), err.value.details


def test_recipes_without_the_key_are_refused(tmp_path: Path) -> None:
    path = tmp_path / RECIPES_FILE
    path.parent.mkdir(parents=True)
    path.write_text("---\nrecipes: {}\n")
    with pytest.raises(CatalogError, match="trial_service_recipes is missing"):
        load_recipes(tmp_path)


# --- placement ---------------------------------------------------------------------------------------------------

NEED = Need("ollama", 6144, 8192, "ollama docs")


def host(name: str, *, found: dict | None = None, documented: dict | None = None) -> dict:
    return {"name": name, "discovered": found, "documented": documented or {}}


def test_measured_free_memory_wins_and_the_sentence_says_it() -> None:
    hosts = [host("still-fawn", found={"memory_mib": 65536, "gpus": [
        {"model": "NVIDIA GeForce RTX 3070", "memory_total_mib": 8192, "memory_used_mib": 512,
         "memory_free_mib": 7680, "processes": 1}]}),
             host("maas", documented={"memory_gib": 4, "gpus": []})]
    placed = place(NEED, hosts)
    assert placed.host == "still-fawn"
    assert placed.sentence == ("still-fawn has an NVIDIA GeForce RTX 3070 with 7.5 GiB free, 1 process(es) already "
                               "on it; estimated need 6 GiB GPU, 8 GiB RAM (ollama recipe: ollama docs)")


def test_most_free_first_and_documented_figures_are_said_so() -> None:
    hosts = [host("still-fawn", found={"memory_mib": 65536, "gpus": [
        {"model": "NVIDIA GeForce RTX 3070", "memory_total_mib": 8192, "memory_used_mib": 512}]}),
             host("pumped-piglet", documented={"memory_gib": 128,
                                               "gpus": [{"model": "NVIDIA GeForce RTX 3090", "memory_gib": 24}]})]
    placed = place(NEED, hosts)
    assert [f.host for f in placed.ranked] == ["pumped-piglet", "still-fawn"]
    assert placed.sentence.startswith("pumped-piglet has an NVIDIA GeForce RTX 3090 with 24 GiB (documented, not "
                                      "measured); estimated need 6 GiB GPU")


def test_a_busy_gpu_or_too_little_ram_does_not_fit_and_none_is_chosen() -> None:
    hosts = [host("still-fawn", found={"memory_mib": 65536, "gpus": [
        {"model": "NVIDIA GeForce RTX 3070", "memory_total_mib": 8192, "memory_free_mib": 2048}]}),
             host("small", documented={"memory_gib": 4, "gpus": [{"model": "Tesla T4", "memory_gib": 16}]}),
             host("maas", documented={"memory_gib": 4})]
    placed = place(NEED, hosts)
    assert placed.host is None
    assert "no host fits" in placed.sentence
    assert "still-fawn: its NVIDIA GeForce RTX 3070 has 2 GiB free, under 6 GiB" in placed.sentence
    assert "small: 4 GiB RAM, under 8 GiB" in placed.sentence
    assert gib(7680) == "7.5 GiB"


# --- the offline planner -------------------------------------------------------------------------------------------

def test_a_gpu_trial_goes_where_the_gpu_has_room_after_a_live_gpu_check(project: Path) -> None:
    result = draft(project, "I want to deploy Ollama for local LLM testing")
    assert [s.playbook for s in result.steps] == ["check_gpus", "deploy_trial_service"]
    check, deploy = result.steps
    assert check.limit == "all"
    assert check.vars == {"gpu_min_free_mib": 6144, "gpu_min_memory_mib": 8192}
    assert deploy.limit == "pumped-piglet"  # 24 GiB documented beats 7.5 GiB free on still-fawn
    assert deploy.vars == {"trial_service_name": "ollama"}
    assert ("pumped-piglet has an NVIDIA GeForce RTX 3090 with 24 GiB (documented, not measured); estimated need "
            "6 GiB GPU, 8 GiB RAM (ollama recipe: ollama docs, 7B model at 4-bit)") in deploy.rationale
    assert not result.questions


def test_the_sentence_uses_measured_free_memory(project: Path, tmp_path: Path) -> None:
    root = shutil.copytree(project, tmp_path / "p", symlinks=True)
    # pumped-piglet read too, and its 3090 is busy: still-fawn's 7.5 GiB free is the best place now.
    set_in_file(root / "inventory" / "host_vars" / "pumped-piglet.yml", ("discovered",), {
        "memory_mib": 131072, "gpus": [{"model": "NVIDIA GeForce RTX 3090", "memory_total_mib": 24576,
                                        "memory_free_mib": 1024}]})
    deploy = draft(root, "I want to deploy Ollama for local LLM testing").steps[-1]
    assert deploy.limit == "still-fawn"
    assert ("still-fawn has an NVIDIA GeForce RTX 3070 with 7.5 GiB free, 1 process(es) already on it; estimated "
            "need 6 GiB GPU, 8 GiB RAM") in deploy.rationale


def test_no_host_fits_chooses_none_and_asks(project: Path, tmp_path: Path) -> None:
    root = shutil.copytree(project, tmp_path / "p", symlinks=True)
    recipes = root / RECIPES_FILE
    recipes.write_text(recipes.read_text().replace("gpu_mib: 6144", "gpu_mib: 40960"))
    result = draft(root, "I want to deploy Ollama for local LLM testing")
    assert [s.playbook for s in result.steps] == ["check_gpus", "deploy_trial_service"]
    assert result.steps[-1].limit == "all"
    assert [q.question for q in result.questions] == ["Which host should run it?"]
    assert "no host fits" in result.questions[0].assumption


def test_a_named_host_is_kept_and_no_check_is_added(project: Path) -> None:
    result = draft(project, "Deploy ollama on still-fawn for testing")
    assert [(s.playbook, s.limit) for s in result.steps] == [("deploy_trial_service", "still-fawn")]


def test_a_recipe_without_a_gpu_is_not_placed(project: Path) -> None:
    result = draft(project, "Try out jellyfin for testing")
    assert [s.playbook for s in result.steps] == ["deploy_trial_service"]
    assert result.steps[0].vars == {"trial_service_name": "jellyfin"}


# --- promotion -----------------------------------------------------------------------------------------------------

RECORDED = {"name": "ollama", "tier": "orchestrator", "host": "still-fawn", "port": 11434,
            "dns": "ollama-trial.maas", "monitored": True, "health_path": "/api/version",
            "image": "docker.io/ollama/ollama:0.5.7", "runtime": "podman", "gpu_mib": 6144, "memory_mib": 8192,
            "added_by": "deploy_trial_service", "deployed": "2026-12-06", "plan": "0a1b2c3d"}


def test_promotion_takes_the_trials_record_and_lists_its_removal(project: Path, tmp_path: Path) -> None:
    root = shutil.copytree(project, tmp_path / "p", symlinks=True)
    services = root / "inventory" / "group_vars" / "all" / "services.yml"
    count = len(load_services(services))
    set_in_file(services, ("services", count), RECORDED)
    result = draft(root, "ollama works, promote it to production")
    assert [s.playbook for s in result.steps] == ["deploy_k3s_app"]
    step = result.steps[0]
    assert step.vars == {"k3s_app_name": "ollama", "k3s_app_image": "docker.io/ollama/ollama:0.5.7",
                         "k3s_app_port": 11434, "k3s_app_gpu": 1, "k3s_app_memory_mib": 8192,
                         "k3s_app_health_path": "/api/version"}
    assert ("k3s_app_gpu=1, k3s_app_memory_mib=8192, k3s_app_health_path=/api/version: values from the ollama "
            "trial's record in services: (deployed 2026-12-06, plan 0a1b2c3d)") in step.rationale
    assert "values from the request" not in step.rationale
    [item] = [m for m in result.manual if "remove the trial" in m.title]
    assert item.title == ('After the branch is merged and ollama runs on k3s, remove the trial: '
                          'homelab plan "remove the ollama trial"')
    assert "remove_trial_service" in item.reason and "still-fawn" in item.reason
    # The removal the checklist names goes where the record says the trial runs.
    [remove] = draft(root, "remove the ollama trial").steps
    assert (remove.playbook, remove.limit, remove.vars) == ("remove_trial_service", "still-fawn",
                                                            {"trial_service_name": "ollama"})
    assert "ollama runs there (its record in services:, deployed 2026-12-06)" in remove.rationale


def test_a_removal_without_a_record_is_not_placed(project: Path) -> None:
    result = draft(project, "remove the ollama trial")
    assert [(s.playbook, s.limit) for s in result.steps] == [("remove_trial_service", "all")]
    assert [q.question for q in result.questions] == ["Which hosts?"]


def test_promotion_without_a_trial_takes_the_recipe_and_says_so(project: Path) -> None:
    result = draft(project, "ollama works, promote it to production")
    step = result.steps[0]
    assert step.vars["k3s_app_image"] == "docker.io/ollama/ollama:0.5.4"
    assert step.vars["k3s_app_gpu"] == 1
    assert "no ollama trial is recorded in services:, so the values come from the ollama recipe" in step.rationale
    assert not [m for m in result.manual if "remove the trial" in m.title]


def load_services(path: Path) -> list:
    from planner.yamlio.reading import load_fast

    return load_fast(path)["services"]


# --- the catalog checks what the meta files declare ---------------------------------------------------------------

@pytest.mark.parametrize(("edit", "expected"), [
    (("deploy_trial_service", "check: check_gpus", "check: check_gpu"),
     "offline.placement.check: 'check_gpu' is no catalog entry (did you mean 'check_gpus'?)"),
    (("deploy_trial_service", "recipe_variable: trial_service_name", "recipe_variable: service"),
     "offline.placement.recipe_variable: 'service' is not a variable of deploy_trial_service"),
    (("deploy_trial_service", "{gpu_min_free_mib: gpu_mib", "{gpu_free_mib: gpu_mib"),
     "offline.placement.check_variables: 'gpu_free_mib' is not a variable of check_gpus"),
    (("deploy_k3s_app", "retires: remove_trial_service", "retires: remove_trial"),
     "offline.retires: 'remove_trial' is no catalog entry"),
    (("deploy_k3s_app", "field: image}", "field: images}"),
     "offline.variables.k3s_app_image.field: 'images' is no field of a service record (did you mean 'image'?)"),
    (("deploy_k3s_app", "{extractor: service_record, field: port}", "{extractor: service_record}"),
     "offline.variables.k3s_app_port: service_record reads one field of a record: name it"),
])
def test_catalog_refuses_what_the_placement_and_record_blocks_get_wrong(project: Path, tmp_path: Path,
                                                                        edit: tuple[str, str, str],
                                                                        expected: str) -> None:
    root = shutil.copytree(project, tmp_path / "p", symlinks=True)
    entry, old, new = edit
    meta = root / "playbooks" / f"{entry}.meta.yml"
    assert old in meta.read_text()
    meta.write_text(meta.read_text().replace(old, new))
    with pytest.raises(CatalogError) as err:
        load_catalog(root)
    assert any(expected in line for line in err.value.details), err.value.details


def test_known_service_reads_recipes_and_the_tools_own_records_only() -> None:
    from planner.planning.extractors import Named, Wanted, extract

    named = Named(recipes={"open-webui": {}, "ollama": {}},
                  records=({"name": "my-llm", "added_by": "deploy_trial_service"}, {"name": "jellyfin"}))
    assert extract(Wanted("known_service"), "Try Open WebUI next to it", named) == "open-webui"
    assert extract(Wanted("known_service"), "remove the my-llm trial", named) == "my-llm"
    assert extract(Wanted("known_service"), "restart jellyfin", named) is None  # a person's item, and no recipe
    assert extract(Wanted("known_service"), "ollamas everywhere", named) is None
