"""The LLM planner over litellm's real HTTP path, against a scripted server on 127.0.0.1.

No lab and no root: drafts are validated by ``draft_plan`` like any plan, and
nothing is executed. Every connection this module's process makes is checked:
one to anything but loopback fails the run (litellm must stay offline).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

# Before litellm can be imported by anything in this process.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from planner.config import Config  # noqa: E402
from planner.planning import (
    context,
    litellm_client,  # noqa: E402
    llm_planner,  # noqa: E402
)
from planner.planning.intent import DraftRejected, draft_plan  # noqa: E402
from planner.planning.llm_planner import InvalidModelOutput, LlmPlanner, draft_schema  # noqa: E402
from planner.workspace import Workspace  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.fakellm import (  # noqa: E402
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    FakeLLM,
    answer,
    http_error,
    rate_limited,
    slow,
    tool_call,
    trickle,
)

MODEL = "openai/test-model"
KEY_ENV = "HOMELAB_TEST_LLM_KEY"
KEY = "canary-apikey-5d41402a"
INTENT = "check why k3s-vm-still-fawn seems slow"
GOOD = {"steps": [{"playbook": "gather_facts", "limit": "k3s-vm-still-fawn", "vars": {"discovery_gather_timeout": 20},
                   "rationale": "read the VM before proposing a change"}],
        "manual": [], "questions": [{"question": "Slow at what?", "assumption": "the whole VM"}],
        "refusal": None, "explanation": "A read-only look at the VM first."}
UNKNOWN_PLAYBOOK = {**GOOD, "steps": [{**GOOD["steps"][0], "playbook": "tune_vm_performance"}]}
BAD_VARS = {**GOOD, "steps": [{**GOOD["steps"][0], "vars": {"gpu_min_free_mib": 4096}}]}
_LOOPBACK = ("127.0.0.1", "::1", "localhost")

# litellm asks asyncio for an event loop from a blocking call; harmless, and not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:There is no current event loop:DeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def loopback_only() -> Iterator[list[str]]:
    """Refuse, and remember, any connection or name lookup that is not loopback."""
    blocked: list[str] = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def allowed(address: Any) -> bool:
        return not isinstance(address, tuple) or address[0] in _LOOPBACK

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if not allowed(address):
            blocked.append(f"connect {address}")
            raise OSError(f"test guard: no connection to {address} (loopback only)")
        return connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> Any:
        if not allowed(address):
            blocked.append(f"connect {address}")
            raise OSError(f"test guard: no connection to {address} (loopback only)")
        return connect_ex(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in _LOOPBACK:
            blocked.append(f"resolve {name}")
            raise socket.gaierror(f"test guard: no lookup of {name} (loopback only)")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (
        guarded_connect, guarded_connect_ex, guarded_getaddrinfo)
    try:
        yield blocked
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    assert blocked == [], f"something tried to leave the machine: {blocked}"


@pytest.fixture
def server() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture(scope="module")
def ws() -> Workspace:
    os.environ.pop("HOMELAB_ROOT", None)
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        return Workspace.find(str(ROOT / "inventory"))
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def pack(ws: Workspace) -> context.ContextPack:
    return context.build(ws.root, ws.inventory, INTENT)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def planner_for(server: FakeLLM, mode: str = "json_schema", **settings: Any) -> LlmPlanner:
    config = Config(api_base=server.api_base, api_key_env=KEY_ENV, response_format=mode,
                    **{"timeout_s": 10, **settings})
    return LlmPlanner.from_config(config, MODEL)


def assert_sent_no_secret(server: FakeLLM) -> None:
    for request in server.requests:
        assert KEY not in request.raw
        assert {k.lower(): v for k, v in request.headers.items()}["authorization"] == f"Bearer {KEY}"


def test_good_plan_with_json_schema(server: FakeLLM, ws: Workspace, pack: context.ContextPack,
                                    capfd: pytest.CaptureFixture[str]) -> None:
    server.push(answer(GOOD))
    drafted, steps = draft_plan(ws, INTENT, planner_for(server), pack)
    assert [(s.playbook, s.limit, s.vars, s.hosts) for s in steps] == [
        ("gather_facts", "k3s-vm-still-fawn", {"discovery_gather_timeout": 20}, ["k3s-vm-still-fawn"])]
    assert drafted.planner == "llm" and drafted.model == MODEL
    assert drafted.draft.questions[0].assumption == "the whole VM"
    assert (drafted.usage.prompt_tokens, drafted.usage.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert drafted.usage.cost_usd is None  # litellm knows no price for a local model: unknown, not zero
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    body = request.body
    assert body["model"] == "test-model"
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "plan_draft", "schema": draft_schema(pack.catalog), "strict": False}}
    assert "tools" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert INTENT in body["messages"][1]["content"] and "<<<DATA inventory" in body["messages"][1]["content"]
    assert_sent_no_secret(server)
    # litellm prints hints to stdout unless told not to; --format json depends on it staying quiet.
    assert capfd.readouterr().out == ""
    # Its logging ran in the request's thread: no pool thread stays beside the forks of the check run after it.
    import threading

    assert not [t.name for t in threading.enumerate() if t.name.startswith("litellm")]


def test_tool_calling_mode(server: FakeLLM, ws: Workspace, pack: context.ContextPack) -> None:
    server.push(tool_call(GOOD))
    _, steps = draft_plan(ws, INTENT, planner_for(server, "tools"), pack)
    assert [s.playbook for s in steps] == ["gather_facts"]
    body = server.requests[0].body
    assert "response_format" not in body
    [tool] = body["tools"]
    assert tool["type"] == "function" and tool["function"]["name"] == "propose_plan"
    assert tool["function"]["parameters"] == draft_schema(pack.catalog)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "propose_plan"}}


def test_json_object_mode_for_llama_cpp(server: FakeLLM, ws: Workspace, pack: context.ContextPack) -> None:
    server.push(answer("```json\n" + json.dumps(GOOD, indent=2) + "\n```"))
    _, steps = draft_plan(ws, INTENT, planner_for(server, "json_object"), pack)
    assert [s.playbook for s in steps] == ["gather_facts"]
    body = server.requests[0].body
    assert body["response_format"] == {"type": "json_object", "schema": draft_schema(pack.catalog)}
    assert '"plan_draft"' not in server.requests[0].raw  # the json_schema form llama.cpp rejects
    assert "The JSON schema of the answer" in body["messages"][0]["content"]


def test_malformed_json_then_good_is_retried(server: FakeLLM, ws: Workspace, pack: context.ContextPack) -> None:
    server.push(answer('{"steps": [{"playbook": "gather_facts", '), answer(GOOD))
    drafted, steps = draft_plan(ws, INTENT, planner_for(server), pack)
    assert [s.playbook for s in steps] == ["gather_facts"]
    assert len(server.requests) == 2
    retry = server.requests[1].body["messages"]
    assert retry[-2]["role"] == "assistant" and retry[-2]["content"].startswith('{"steps"')
    assert "not usable: not JSON" in retry[-1]["content"]
    assert drafted.usage.prompt_tokens == 2 * PROMPT_TOKENS


def test_malformed_every_time_fails_clearly(server: FakeLLM, ws: Workspace, pack: context.ContextPack) -> None:
    server.always(answer("Sure! I'd run gather_facts on the slow VM."))
    with pytest.raises(InvalidModelOutput, match="did not return a valid draft") as caught:
        draft_plan(ws, INTENT, planner_for(server, retries=1), pack)
    assert "not JSON" in caught.value.details[0]
    assert len(server.requests) == 2


def test_unknown_playbook_is_repaired(server: FakeLLM, ws: Workspace, pack: context.ContextPack) -> None:
    server.push(answer(UNKNOWN_PLAYBOOK), answer(GOOD))
    drafted, steps = draft_plan(ws, INTENT, planner_for(server), pack)
    assert [s.playbook for s in steps] == ["gather_facts"]
    first, second = (r.body["messages"] for r in server.requests)
    assert second[:2] == first
    assert json.loads(second[2]["content"])["steps"][0]["playbook"] == "tune_vm_performance"
    assert "no playbook 'tune_vm_performance' in the catalog" in second[3]["content"]
    assert drafted.usage.attempts == 2 and drafted.usage.prompt_tokens == 2 * PROMPT_TOKENS
    assert_sent_no_secret(server)


def test_invalid_variables_twice_fail_with_the_errors(server: FakeLLM, ws: Workspace,
                                                      pack: context.ContextPack) -> None:
    server.push(answer(BAD_VARS), answer(BAD_VARS))
    with pytest.raises(DraftRejected, match="even after one repair round") as caught:
        draft_plan(ws, INTENT, planner_for(server), pack)
    assert any("vars.gpu_min_free_mib: unknown variable for gather_facts" in d for d in caught.value.details)
    assert len(server.requests) == 2
    assert "gpu_min_free_mib" in server.requests[1].body["messages"][-1]["content"]


def test_slow_answer_times_out_within_bounds(server: FakeLLM, ws: Workspace, pack: context.ContextPack,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm_planner, "BACKOFF_S", 0.1)
    server.always(slow(30, GOOD))
    started = time.monotonic()
    with pytest.raises(litellm_client.LlmTimeout,
                       match=r"no answer from openai/test-model at http://127\.0\.0\.1:\d+/v1 within 1 s") as caught:
        draft_plan(ws, INTENT, planner_for(server, timeout_s=1, retries=1), pack)
    elapsed = time.monotonic() - started
    assert 2 <= elapsed < 6, elapsed  # two tries of 1 s and a short backoff; litellm itself retried nothing
    assert len(server.requests) == 2
    assert "gave up after 2 request(s)" in caught.value.details
    assert "timeout_s" in caught.value.hint


def test_a_trickling_answer_is_cut_off_at_the_whole_request_timeout(
        server: FakeLLM, ws: Workspace, pack: context.ContextPack) -> None:
    # Each byte comes well inside the 1 s timeout, so a per-read timeout alone would wait minutes.
    server.always(trickle(0.2, GOOD))
    started = time.monotonic()
    with pytest.raises(litellm_client.LlmTimeout, match="within 1 s"):
        draft_plan(ws, INTENT, planner_for(server, timeout_s=1, retries=0), pack)
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed
    assert len(server.requests) == 1


def test_rate_limited_twice_then_good(server: FakeLLM, ws: Workspace, pack: context.ContextPack,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm_planner, "RETRY_AFTER_CAP_S", 1.0)
    server.push(rate_limited(0.5), rate_limited(3600), answer(GOOD))
    started = time.monotonic()
    _, steps = draft_plan(ws, INTENT, planner_for(server), pack)
    elapsed = time.monotonic() - started
    assert [s.playbook for s in steps] == ["gather_facts"]
    times = [r.at for r in server.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.45  # Retry-After honoured
    assert 0.95 <= times[2] - times[1] < 2  # and capped: an hour became a second
    assert elapsed < 5


def test_rate_limited_always_is_reported(server: FakeLLM, ws: Workspace, pack: context.ContextPack,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm_planner, "RETRY_AFTER_CAP_S", 0.1)
    server.always(rate_limited(2))
    with pytest.raises(litellm_client.LlmRateLimited) as caught:
        draft_plan(ws, INTENT, planner_for(server, retries=2), pack)
    err = caught.value
    assert err.message == "the model's server is rate-limiting (429) requests to openai/test-model; " \
                          "it asks to retry after 2 s"
    assert err.hint and err.exit_code == 3
    assert len(server.requests) == 3  # our tries only: litellm and the OpenAI client retried nothing


def test_server_error_then_good(server: FakeLLM, ws: Workspace, pack: context.ContextPack,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm_planner, "BACKOFF_S", 0.05)
    server.push(http_error(500, "model is loading"), answer(GOOD))
    _, steps = draft_plan(ws, INTENT, planner_for(server), pack)
    assert [s.playbook for s in steps] == ["gather_facts"] and len(server.requests) == 2


@pytest.mark.parametrize(("behaviour", "error", "message"), [
    (http_error(401, "invalid api key"), litellm_client.LlmAuthError, r"refused the credentials \(401\)"),
    (http_error(404, "model 'test-model' not found"), litellm_client.LlmRequestRejected, "does not know the model"),
    (http_error(400, "'json_schema' response format is not supported"), litellm_client.LlmRequestRejected,
     "rejected the request.*json_schema"),
])
def test_errors_a_retry_cannot_fix(server: FakeLLM, ws: Workspace, pack: context.ContextPack,
                                   behaviour: Any, error: type, message: str) -> None:
    server.always(behaviour)
    with pytest.raises(error, match=message) as caught:
        draft_plan(ws, INTENT, planner_for(server), pack)
    assert caught.value.hint
    assert len(server.requests) == 1


def test_unreachable_server(ws: Workspace, pack: context.ContextPack) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config(api_base=f"http://127.0.0.1:{port}/v1", api_key_env=KEY_ENV, retries=0, timeout_s=5)
    with pytest.raises(litellm_client.LlmUnreachable, match=rf"cannot reach http://127\.0\.0\.1:{port}/v1"):
        draft_plan(ws, INTENT, LlmPlanner.from_config(config, MODEL), pack)


def test_cli_import_loads_no_litellm() -> None:
    probe = "import sys, planner.cli, planner.planning.choose, planner.config; print(sorted(m for m in sys.modules " \
            "if m.split('.')[0] in ('litellm', 'openai')))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
