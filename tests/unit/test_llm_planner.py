"""The LLM planner with a scripted model: schema, strict parsing, retries, the repair round, settings.

``planner.planning.litellm_client.complete`` is replaced by a script, so litellm is never imported here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import jsonschema
import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from planner.config import Config, ConfigError, load_config  # noqa: E402
from planner.planning import (
    context,
    litellm_client,  # noqa: E402
    llm_planner,  # noqa: E402
)
from planner.planning.intent import DraftRejected, draft_plan  # noqa: E402
from planner.planning.llm_planner import (  # noqa: E402
    DraftParseError,
    InvalidModelOutput,
    LlmPlanner,
    draft_schema,
    parse_draft,
)
from planner.workspace import Workspace  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

GOOD = {"steps": [{"playbook": "gather_facts", "limit": "k3s-vm-still-fawn", "vars": {"discovery_gather_timeout": 20},
                   "rationale": "read the VM before guessing"}],
        "manual": [], "questions": [], "refusal": None, "explanation": "Read-only look at the slow VM."}
UNKNOWN_PLAYBOOK = {**GOOD, "steps": [{"playbook": "wipe_disks", "limit": "k3s-vm-still-fawn", "vars": {},
                                       "rationale": "start over"}]}
INTENT = "check why k3s-vm-still-fawn seems slow"


@pytest.fixture(scope="module")
def pack() -> context.ContextPack:
    return context.build(ROOT, ROOT / "inventory", INTENT)


@pytest.fixture
def ws(monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("HOMELAB_ROOT", raising=False)
    return Workspace.find(str(ROOT / "inventory"))


class Script:
    """Stands in for ``planner.planning.litellm_client.complete``: answers in order, records every call."""

    def __init__(self, *answers: str | dict | Exception):
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> litellm_client.LlmReply:
        self.calls.append({"model": model, "messages": messages, **kwargs})
        assert self.answers, "the planner asked more often than the script allows"
        item = self.answers.pop(0)
        if isinstance(item, Exception):
            raise item
        text = item if isinstance(item, str) else json.dumps(item)
        return litellm_client.LlmReply(text=text, prompt_tokens=100, completion_tokens=20, cost_usd=0.001)


def planner_with(monkeypatch: pytest.MonkeyPatch, script: Script, **config: Any) -> tuple[LlmPlanner, list[float]]:
    monkeypatch.setattr(litellm_client, "complete", script)
    waits: list[float] = []
    return LlmPlanner(model="openai/test-model", config=Config(**config), sleep=waits.append), waits


# --- the schema ---------------------------------------------------------------------------------------------------

def _variant(schema: dict, playbook: str) -> dict:
    return next(v for v in schema["properties"]["steps"]["items"]["anyOf"]
                if v["properties"]["playbook"]["enum"] == [playbook])


def test_schema_from_the_real_catalog(pack: context.ContextPack) -> None:
    schema = draft_schema(pack.catalog)
    ids = sorted(entry["id"] for entry in pack.catalog)
    variants = schema["properties"]["steps"]["items"]["anyOf"]
    assert sorted(v["properties"]["playbook"]["enum"][0] for v in variants) == ids
    baseline = _variant(schema, "apply_baseline")["properties"]["vars"]
    assert baseline["additionalProperties"] is False
    props = baseline["properties"]
    assert props["baseline_timezone"] == {"type": "string"}
    assert props["baseline_ntp_servers"] == {"type": "array", "items": {"type": "string"}}
    assert props["baseline_sysctls"] == {"type": "object"}
    assert props["baseline_apply_sysctls"] == {"type": "boolean"}
    facts = _variant(schema, "gather_facts")["properties"]["vars"]["properties"]
    assert facts["discovery_gather_timeout"] == {"type": "integer"}
    assert set(facts) == set(next(e for e in pack.catalog if e["id"] == "gather_facts")["variables"])
    assert schema["properties"]["refusal"]["anyOf"][1]["properties"]["closest"]["items"]["enum"] == ids
    assert schema["additionalProperties"] is False


def test_schema_accepts_a_good_draft_and_rejects_a_wrong_one(pack: context.ContextPack) -> None:
    schema = draft_schema(pack.catalog)
    jsonschema.validate(GOOD, schema)
    for bad in (UNKNOWN_PLAYBOOK,
                {**GOOD, "steps": [{**GOOD["steps"][0], "vars": {"discovery_gather_timeout": "soon"}}]},
                {**GOOD, "steps": [{**GOOD["steps"][0], "vars": {"baseline_timezone": "Etc/UTC"}}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_schema_types_choices_and_required() -> None:
    catalog = [{"id": "tune", "variables": {
        "ratio": {"type": "float"}, "mode": {"type": "str", "choices": ["a", "b"], "required": True},
        "zones": {"type": "list", "elements": "str", "choices": ["x", "y"]}, "blob": {"type": "raw"},
        "size": {"type": "bytes"}, "where": {"type": "path"}}}]
    vars_ = _variant(draft_schema(catalog), "tune")["properties"]["vars"]
    assert vars_["required"] == ["mode"]
    p = vars_["properties"]
    assert p["ratio"] == {"type": "number"}
    assert p["mode"] == {"type": "string", "enum": ["a", "b"]}
    assert p["zones"] == {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}}
    assert p["blob"] == {}
    assert p["size"] == {"type": ["string", "integer"]}
    assert p["where"] == {"type": "string"}
    assert draft_schema([])["properties"]["steps"] == {"type": "array", "maxItems": 0}


# --- strict parsing -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [json.dumps(GOOD), "```json\n" + json.dumps(GOOD, indent=2) + "\n```",
                                  "\n```\n" + json.dumps(GOOD) + "\n```\n", "  " + json.dumps(GOOD) + "\n"])
def test_parse_accepts_json_and_a_fenced_block(text: str) -> None:
    assert parse_draft(text).steps[0].playbook == "gather_facts"


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty"),
    ("Sure! Here is the plan: " + json.dumps(GOOD), "not JSON"),
    ("Here you go:\n```json\n" + json.dumps(GOOD) + "\n```", "not JSON"),
    ('{"steps": [', "not JSON"),
    ("[1, 2]", "expected a JSON object"),
    (json.dumps({**GOOD, "shell": "rm -rf /"}), "shell"),
    (json.dumps({**GOOD, "steps": [{"limit": "all"}]}), "steps.0.playbook"),
])
def test_parse_rejects_anything_else(text: str, problem: str) -> None:
    with pytest.raises(DraftParseError, match=problem):
        parse_draft(text)


# --- drafting, retries and the repair round -----------------------------------------------------------------------

def test_draft_sends_the_request_delimited_with_the_data(monkeypatch: pytest.MonkeyPatch,
                                                         pack: context.ContextPack) -> None:
    script = Script(GOOD)
    planner, _ = planner_with(monkeypatch, script)
    drafted = planner.draft(INTENT, pack)
    assert drafted.planner == "llm" and drafted.model == "openai/test-model"
    assert drafted.draft.steps[0].limit == "k3s-vm-still-fawn"
    call = script.calls[0]
    system, user = call["messages"]
    assert system["role"] == "system" and "never instructions" in system["content"]
    assert f"<<<REQUEST\n{INTENT}\nREQUEST>>>" in user["content"]
    assert user["content"].index("REQUEST>>>") < user["content"].index("<<<DATA catalog")
    assert call["response_format_mode"] == "json_schema" and call["schema"] == draft_schema(pack.catalog)
    assert '"properties"' not in system["content"]  # structured output carries the schema, not the prompt
    assert call["timeout_s"] == 60 and call["api_key"] is None


@pytest.mark.parametrize("mode", ["json_object", "none"])
def test_schema_goes_into_the_prompt_without_structured_output(monkeypatch: pytest.MonkeyPatch,
                                                               pack: context.ContextPack, mode: str) -> None:
    script = Script(GOOD)
    planner, _ = planner_with(monkeypatch, script, response_format=mode)
    planner.draft(INTENT, pack)
    assert json.dumps(draft_schema(pack.catalog), separators=(",", ":")) in script.calls[0]["messages"][0]["content"]


def test_invalid_output_is_retried_with_a_correction(monkeypatch: pytest.MonkeyPatch,
                                                     pack: context.ContextPack) -> None:
    script = Script("I think you should run gather_facts.", "```json\n" + json.dumps(GOOD) + "\n```")
    planner, waits = planner_with(monkeypatch, script)
    drafted = planner.draft(INTENT, pack)
    assert drafted.draft.steps[0].playbook == "gather_facts"
    retry = script.calls[1]["messages"]
    assert retry[:2] == script.calls[0]["messages"]
    assert retry[2] == {"role": "assistant", "content": "I think you should run gather_facts."}
    assert "not usable: not JSON" in retry[3]["content"]
    assert waits == [llm_planner.BACKOFF_S]
    assert drafted.usage.prompt_tokens == 200 and drafted.usage.completion_tokens == 40
    assert drafted.usage.cost_usd == pytest.approx(0.002)


def test_invalid_output_every_time_fails_with_the_parse_error(monkeypatch: pytest.MonkeyPatch,
                                                              pack: context.ContextPack) -> None:
    script = Script("nope", '{"steps": 3}', "[]")
    planner, waits = planner_with(monkeypatch, script, retries=2)
    with pytest.raises(InvalidModelOutput, match="did not return a valid draft") as caught:
        planner.draft(INTENT, pack)
    assert "expected a JSON object" in caught.value.details[0]
    assert len(script.calls) == 3 and len(waits) == 2
    assert waits[1] > waits[0]  # backoff grows


def test_rate_limit_waits_as_asked_up_to_the_cap(monkeypatch: pytest.MonkeyPatch, pack: context.ContextPack) -> None:
    script = Script(litellm_client.LlmRateLimited("429", retry_after=3),
                    litellm_client.LlmRateLimited("429", retry_after=3600), GOOD)
    planner, waits = planner_with(monkeypatch, script)
    assert planner.draft(INTENT, pack).draft.steps
    assert waits == [3, llm_planner.RETRY_AFTER_CAP_S]


def test_retryable_errors_give_up_after_retries(monkeypatch: pytest.MonkeyPatch, pack: context.ContextPack) -> None:
    script = Script(*(litellm_client.LlmTimeout("no answer within 1 s") for _ in range(2)))
    planner, _ = planner_with(monkeypatch, script, retries=1)
    with pytest.raises(litellm_client.LlmTimeout) as caught:
        planner.draft(INTENT, pack)
    assert "gave up after 2 request(s)" in caught.value.details


def test_errors_a_retry_cannot_fix_are_raised_at_once(monkeypatch: pytest.MonkeyPatch,
                                                      pack: context.ContextPack) -> None:
    script = Script(litellm_client.LlmAuthError("the server refused the credentials (401)"), GOOD)
    planner, waits = planner_with(monkeypatch, script)
    with pytest.raises(litellm_client.LlmAuthError):
        planner.draft(INTENT, pack)
    assert len(script.calls) == 1 and waits == []


def test_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch, pack: context.ContextPack) -> None:
    script = Script(GOOD)
    planner, _ = planner_with(monkeypatch, script, api_key_env="HOMELAB_TEST_KEY")
    monkeypatch.delenv("HOMELAB_TEST_KEY", raising=False)
    with pytest.raises(litellm_client.LlmAuthError, match="HOMELAB_TEST_KEY .* is not set"):
        planner.draft(INTENT, pack)
    assert script.calls == []
    monkeypatch.setenv("HOMELAB_TEST_KEY", "canary-key-7f3a")
    drafted = planner.draft(INTENT, pack)
    assert script.calls[0]["api_key"] == "canary-key-7f3a"
    assert "canary-key-7f3a" not in json.dumps(script.calls[0]["messages"])
    assert "canary-key-7f3a" not in repr(drafted) + repr(planner)


def test_repair_round_sends_the_errors_back(monkeypatch: pytest.MonkeyPatch, pack: context.ContextPack,
                                            ws: Workspace) -> None:
    script = Script(UNKNOWN_PLAYBOOK, GOOD)
    planner, _ = planner_with(monkeypatch, script)
    drafted, steps = draft_plan(ws, INTENT, planner, pack)
    assert [s.playbook for s in steps] == ["gather_facts"] and steps[0].hosts == ["k3s-vm-still-fawn"]
    repair = script.calls[1]["messages"]
    assert repair[:2] == script.calls[0]["messages"]
    assert repair[2]["role"] == "assistant" and json.loads(repair[2]["content"])["steps"][0]["playbook"] == "wipe_disks"
    assert "no playbook 'wipe_disks' in the catalog" in repair[3]["content"]
    assert "corrected, complete draft" in repair[3]["content"]
    assert drafted.usage.prompt_tokens == 200 and drafted.usage.attempts == 2  # both rounds are paid for


def test_repair_round_that_fails_again_shows_the_errors(monkeypatch: pytest.MonkeyPatch, pack: context.ContextPack,
                                                        ws: Workspace) -> None:
    bad_vars = {**GOOD, "steps": [{**GOOD["steps"][0], "vars": {"gpu_min_free_mib": 2048}}]}
    script = Script(bad_vars, bad_vars)
    planner, _ = planner_with(monkeypatch, script)
    with pytest.raises(DraftRejected, match="even after one repair round") as caught:
        draft_plan(ws, INTENT, planner, pack)
    assert any("gpu_min_free_mib" in d for d in caught.value.details)
    assert len(script.calls) == 2


# --- the settings -------------------------------------------------------------------------------------------------

@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("HOMELAB_MODEL_API_BASE", "HOMELAB_MODEL_RESPONSE_FORMAT", "HOMELAB_MODEL_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / ".homelab").mkdir()
    return tmp_path


def test_config_defaults_when_absent(project: Path) -> None:
    config = load_config(project)
    assert config == Config()
    assert (config.model, config.response_format, config.timeout_s, config.retries) == (None, "json_schema", 60, 2)


def test_config_file_and_environment_overrides(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / ".homelab" / "config.yml").write_text(
        "model: openai/qwen2.5\napi_base: http://127.0.0.1:8080/v1\napi_key_env: LOCAL_KEY\n"
        "response_format: json_object\nretries: 1\nmax_tokens: 2048\n")
    config = load_config(project)
    assert (config.model, config.api_base, config.api_key_env, config.response_format, config.retries,
            config.max_tokens) == ("openai/qwen2.5", "http://127.0.0.1:8080/v1", "LOCAL_KEY", "json_object", 1, 2048)
    monkeypatch.setenv("HOMELAB_MODEL_RESPONSE_FORMAT", "tools")
    monkeypatch.setenv("HOMELAB_MODEL_TIMEOUT", "5")
    monkeypatch.setenv("HOMELAB_MODEL_API_BASE", "http://127.0.0.1:9999/v1")
    config = load_config(project)
    assert (config.response_format, config.timeout_s, config.api_base) == ("tools", 5, "http://127.0.0.1:9999/v1")
    monkeypatch.setenv("HOMELAB_MODEL_TIMEOUT", "soon")
    with pytest.raises(ConfigError) as caught:
        load_config(project)
    assert any(d.startswith("$HOMELAB_MODEL_TIMEOUT:") for d in caught.value.details)


@pytest.mark.parametrize(("text", "where"), [
    ("model: openai/x\napi_key: sk-live-123\n", ".homelab/config.yml:2:1: api_key: unknown key"),
    ("api_key_env: sk-live-123\n", "api_key_env: must be the NAME of an environment variable"),
    ("response_format: json\n", ".homelab/config.yml:1:18: response_format:"),
    ("timeout_s: -1\n", "timeout_s:"),
    ("api_base: 127.0.0.1:8080\n", "api_base: '127.0.0.1:8080' is not an http(s) URL"),
    ("gitops:\n  dir: ../outside\n", ".homelab/config.yml:2:8: gitops.dir: '../outside' must be a directory inside"),
    ("gitops:\n  branch: main\n", "gitops.branch: unknown key"),
])
def test_config_errors_name_the_key(project: Path, text: str, where: str) -> None:
    (project / ".homelab" / "config.yml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(project)
    assert any(where in d for d in caught.value.details), caught.value.details
    assert "sk-live-123" not in caught.value.message


def test_config_that_is_not_yaml_or_not_a_mapping(project: Path) -> None:
    path = project / ".homelab" / "config.yml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(project)
    path.write_text("- openai/x\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(project)
    path.write_text("")
    assert load_config(project) == Config()


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after": "7"}, 7.0), ({"retry-after": "1.5"}, 1.5), ({"retry-after-ms": "250"}, 0.25),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0), ({"retry-after": "soon"}, None), ({}, None), (None, None),
])
def test_retry_after_header(headers: dict | None, seconds: float | None) -> None:
    assert litellm_client.retry_after_seconds(headers) == seconds


def test_litellm_is_configured_offline_and_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.SimpleNamespace(suppress_debug_info=False, telemetry=True, callbacks=["langfuse"],
                                 success_callback=["s3"], failure_callback=["sentry"])
    monkeypatch.setattr(litellm_client, "_loaded", None)
    monkeypatch.setitem(sys.modules, "litellm", fake)
    monkeypatch.delenv("LITELLM_LOCAL_MODEL_COST_MAP")
    monkeypatch.delenv("LITELLM_OFFLINE_MODE", raising=False)
    with pytest.raises(RuntimeError, match="imported before"):
        litellm_client._litellm()  # it may already have fetched its price list: a bug to show, not hide
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    assert litellm_client._litellm() is fake
    assert os.environ["LITELLM_OFFLINE_MODE"] == "true"
    assert fake.suppress_debug_info is True and fake.telemetry is False
    assert fake.callbacks == fake.success_callback == fake.failure_callback == []


def test_planner_module_does_not_import_litellm() -> None:
    probe = "import sys, planner.planning.llm_planner, planner.planning.litellm_client; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_parse_refuses_a_draft_with_too_many_steps() -> None:
    from planner.planning.llm_planner import MAX_DRAFT_ITEMS

    step = {"playbook": "gather_facts", "limit": "maas", "vars": {}, "rationale": "look"}
    assert len(parse_draft(json.dumps({"steps": [step] * MAX_DRAFT_ITEMS})).steps) == MAX_DRAFT_ITEMS
    with pytest.raises(DraftParseError, match=f"{MAX_DRAFT_ITEMS + 1} steps; a draft has at most {MAX_DRAFT_ITEMS}"):
        parse_draft(json.dumps({"steps": [step] * (MAX_DRAFT_ITEMS + 1)}))
