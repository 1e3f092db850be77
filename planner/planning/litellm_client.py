"""The one module that talks to litellm.

litellm is imported on the first call, never at start-up: the import takes
seconds, and ``homelab --help`` or an offline plan must not pay for it.
Before the import this module makes litellm stay offline on its own account:
``LITELLM_LOCAL_MODEL_COST_MAP=True`` (otherwise the import downloads a price
list from the internet, and retries when that fails) and
``LITELLM_OFFLINE_MODE=true`` (no fetched tokenizers, header lists or
notices). If something imported litellm earlier without the first of these,
the download has already happened; that is a bug in this program, and
:func:`_litellm` refuses to go on rather than hide it. Nothing else in the
package may import litellm.

After the import: ``suppress_debug_info`` (litellm prints hints to stdout,
which would corrupt ``--format json``), no telemetry, and no callbacks (a
logging integration configured through the environment would ship prompts
somewhere else), so litellm's logging after a request runs in that request's
thread rather than in a pool whose thread would stay alive beside the forks
of the check run that follows. Time is bounded here, not by litellm: one request per call,
``timeout`` on it, and no retries inside litellm or the OpenAI client
(``num_retries`` also needs ``tenacity``, which litellm does not declare).
That ``timeout`` bounds each read, not the request: a server that sends an
answer a byte at a time would hold the call for minutes. So the request runs
in a worker thread and the caller stops waiting at the same deadline.
The planner runs its own retry loop, which also covers invalid output.

litellm's exceptions become :class:`LlmError` subclasses with a message a
person can act on; ``retryable`` says whether trying again may help.
"""

from __future__ import annotations

import email.utils
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from planner.errors import ExitCode, HomelabError

ResponseFormat = Literal["json_schema", "json_object", "tools", "none"]
RESPONSE_FORMATS: tuple[str, ...] = ("json_schema", "json_object", "tools", "none")

#: The function offered in "tools" mode. It runs nothing: its arguments are the draft.
TOOL_NAME = "propose_plan"

_OFFLINE_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}
_CALLBACK_LISTS = ("callbacks", "input_callback", "success_callback", "failure_callback", "service_callback",
                   "_async_input_callback", "_async_success_callback", "_async_failure_callback")
_FORMAT_HINT = ("set response_format in .homelab/config.yml (or $HOMELAB_MODEL_RESPONSE_FORMAT) to one the server "
                "accepts: json_schema, json_object (llama.cpp), tools, or none")


class LlmError(HomelabError):
    """The model's server could not give an answer."""

    exit_code = ExitCode.ENVIRONMENT
    retryable = False

    def __init__(self, message: str, hint: str | None = None, *, details: list[str] | None = None,
                 retry_after: float | None = None):
        super().__init__(message, hint, details=details)
        self.retry_after = retry_after


class LlmRateLimited(LlmError):
    """HTTP 429: the server asks to slow down."""

    retryable = True


class LlmTimeout(LlmError):
    """No answer within the timeout."""

    retryable = True


class LlmServerError(LlmError):
    """The server failed (5xx); another try may succeed."""

    retryable = True


class LlmUnreachable(LlmError):
    """Nothing answers at the configured address."""


class LlmAuthError(LlmError):
    """The server refused the credentials."""


class LlmRequestRejected(LlmError):
    """The server refused the request itself: unknown model, unsupported parameter, too long."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class LlmReply:
    """The model's answer as text (a tool call's arguments in "tools" mode), and what it cost."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None


_loaded: Any = None


def _litellm() -> Any:
    """litellm, imported once, offline and quiet."""
    global _loaded
    if _loaded is not None:
        return _loaded
    if "litellm" in sys.modules and os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP", "").lower() != "true":
        raise RuntimeError("litellm was imported before planner.planning.litellm_client set "
                           "LITELLM_LOCAL_MODEL_COST_MAP=True, so it may already have fetched its price list from "
                           "the internet; import it only through planner.planning.litellm_client")
    os.environ.update(_OFFLINE_ENV)
    import litellm

    litellm.suppress_debug_info = True
    if hasattr(litellm, "telemetry"):
        litellm.telemetry = False
    for name in _CALLBACK_LISTS:
        if isinstance(getattr(litellm, name, None), list):
            setattr(litellm, name, [])
    # A finished request hands its success logging to litellm.utils.executor, a pool whose thread then stays
    # alive, idle, for the rest of the process; the check run that follows a draft forks ansible-playbook
    # (ansible-runner's pty), and a fork beside another thread may deadlock in the child. With no callbacks
    # (above) that logging is quick, so it runs in the request's own thread instead.
    utils = sys.modules.get("litellm.utils")
    if utils is not None:
        setattr(utils, "executor", _InlineExecutor())  # noqa: B010 - litellm types it as its own pool
    _loaded = litellm
    return litellm


class _InlineExecutor:
    """An executor that runs what it is given at once, in the caller's thread (for litellm's logging)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - a pool keeps a task's error in its future; so does this
            future.set_exception(err)
        return future


def request_options(response_format_mode: str, schema: dict[str, Any], tool: str = TOOL_NAME) -> dict[str, Any]:
    """The completion() parameters that ask for ``schema`` in the given form."""
    if response_format_mode == "json_schema":
        # strict=False: OpenAI's strict mode rejects schemas with optional keys and anyOf-typed values.
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "plan_draft", "schema": schema, "strict": False}}}
    if response_format_mode == "json_object":
        # llama.cpp's server turns this schema into a grammar; OpenAI ignores it (the prompt carries it too).
        return {"response_format": {"type": "json_object", "schema": schema}}
    if response_format_mode == "tools":
        return {"tools": [{"type": "function", "function": {
                    "name": tool, "parameters": schema,
                    "description": "Propose the plan draft. Calling it runs nothing; the person reviews the plan."}}],
                "tool_choice": {"type": "function", "function": {"name": tool}}}
    if response_format_mode == "none":
        return {}
    raise ValueError(f"unknown response format {response_format_mode!r}")


def complete(model: str, messages: list[dict[str, Any]], *, api_base: str | None, api_key: str | None,
             timeout_s: float, response_format_mode: str, schema: dict[str, Any], tool: str = TOOL_NAME,
             max_tokens: int | None = None) -> LlmReply:
    """One request to ``model``; raises an :class:`LlmError` subclass when no usable answer came back."""
    litellm = _litellm()
    kwargs: dict[str, Any] = dict(request_options(response_format_mode, schema, tool))
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    where = api_base or (f"the {model.split('/', 1)[0]} API" if "/" in model else "the provider's API")
    try:
        response = _within(timeout_s, lambda: litellm.completion(
            model=model, messages=messages, api_base=api_base, api_key=api_key,
            timeout=timeout_s, num_retries=0, max_retries=0, **kwargs))
    except _DeadlinePassed:
        raise _timed_out(model, where, timeout_s, "the answer was still arriving") from None
    except Exception as err:  # litellm raises its own classes, the OpenAI SDK's and plain ones
        raise _translate(litellm, err, model, where, timeout_s) from None
    return _reply(litellm, response, response_format_mode, tool)


class _DeadlinePassed(Exception):
    pass


#: Beyond the timeout, for the client's own timeout to fire first when it can (its error says more).
_DEADLINE_GRACE_S = 0.5


def _within(timeout_s: float, call: Callable[[], Any]) -> Any:
    """``call()``, or :class:`_DeadlinePassed` once ``timeout_s`` has gone by.

    The worker is a daemon thread left to finish on its own: the HTTP client
    offers no way to cancel a request from another thread, and the process
    must not wait for it at exit.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as err:  # handed to the caller, which re-raises it
            box["error"] = err

    worker = threading.Thread(target=run, name="llm-request", daemon=True)
    worker.start()
    worker.join(timeout_s + _DEADLINE_GRACE_S)
    if worker.is_alive():
        raise _DeadlinePassed
    if "error" in box:
        raise box["error"]
    return box["value"]


def _timed_out(model: str, where: str, timeout_s: float, said: str) -> LlmTimeout:
    return LlmTimeout(f"no answer from {model} at {where} within {timeout_s:g} s",
                      "a large local model may need longer: raise timeout_s in .homelab/config.yml "
                      "(or $HOMELAB_MODEL_TIMEOUT)", details=[said])


def _reply(litellm: Any, response: Any, mode: str, tool: str) -> LlmReply:
    choice = response.choices[0] if getattr(response, "choices", None) else None
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None) or ""
    if mode == "tools":
        for call in getattr(message, "tool_calls", None) or []:
            function = getattr(call, "function", None)
            if getattr(function, "name", None) == tool:
                text = getattr(function, "arguments", None) or ""
                break
    usage = getattr(response, "usage", None)
    try:
        cost = litellm.completion_cost(completion_response=response)
    except Exception:  # litellm knows no price for this model (a local one, say): cost unknown, not zero
        cost = None
    return LlmReply(text=text, prompt_tokens=getattr(usage, "prompt_tokens", None),
                    completion_tokens=getattr(usage, "completion_tokens", None),
                    cost_usd=float(cost) if cost is not None else None,
                    finish_reason=getattr(choice, "finish_reason", None))


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds a ``Retry-After`` (or ``retry-after-ms``) header asks for; None when absent or unreadable."""
    if not headers:
        return None
    get = headers.get
    try:
        millis = get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
    except (TypeError, ValueError):
        pass
    value = get("retry-after") or get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _server_text(err: Exception) -> str:
    """What the server said, without litellm's prefixes, on one line and short."""
    text = str(getattr(err, "message", "") or err)
    text = re.sub(r"^((litellm\.)?\w*(Error|Exception|Timeout)\s*(:|-)\s*)+", "", text.strip())
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _chain(err: BaseException):
    """``err`` and the exceptions it was raised from, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _translate(litellm: Any, err: Exception, model: str, where: str, timeout_s: float) -> LlmError:
    import openai

    exc = litellm.exceptions
    said = _server_text(err)
    causes = list(_chain(err))
    config_hint = "check model, api_base and api_key_env in .homelab/config.yml (or --model, $HOMELAB_MODEL)"
    if isinstance(err, exc.RateLimitError):
        response = getattr(err, "response", None)
        wait = retry_after_seconds(getattr(err, "headers", None))
        if wait is None:
            wait = retry_after_seconds(getattr(response, "headers", None))
        asked = f"; it asks to retry after {wait:g} s" if wait is not None else ""
        return LlmRateLimited(f"the model's server is rate-limiting (429) requests to {model}{asked}",
                              "wait and run the command again, or use a model or account with a higher limit",
                              details=[said], retry_after=wait)
    # A timeout is also an APIConnectionError in the OpenAI SDK: test it first. litellm reports a refused
    # connection as a 500 InternalServerError, so the cause chain decides, not the outer class.
    if any(isinstance(c, exc.Timeout | openai.APITimeoutError) for c in causes):
        return _timed_out(model, where, timeout_s, said)
    if any(isinstance(c, exc.APIConnectionError | openai.APIConnectionError) for c in causes):
        reason = _server_text(causes[-1])
        return LlmUnreachable(f"cannot reach {where} for {model}: {reason}",
                              "start the model's server, or fix api_base in .homelab/config.yml "
                              "(or $HOMELAB_MODEL_API_BASE)", details=[said])
    # The OpenAI client refuses to send anything without a key, and litellm reports that as a 500 from the
    # server; the bare OpenAIError at the bottom of the chain shows nothing was sent.
    client_side = [c for c in causes if type(c) is openai.OpenAIError]
    if client_side:
        text = _server_text(client_side[-1])
        if re.search(r"api.?key|credential", text, re.I):
            return LlmAuthError(f"no API key for {model}",
                                "export the key in an environment variable and name that variable with api_key_env "
                                "in .homelab/config.yml; a local server that checks no key still needs a "
                                "placeholder value", details=[text])
        return LlmError(f"the request to {model} was not sent: {text}", config_hint)
    if isinstance(err, exc.AuthenticationError):
        return LlmAuthError(f"the server refused the credentials (401) for {model}",
                            "put the API key in an environment variable and name that variable with api_key_env "
                            "in .homelab/config.yml", details=[said])
    if isinstance(err, exc.PermissionDeniedError):
        return LlmAuthError(f"the server denied access (403) to {model}",
                            "check that the API key may use this model", details=[said])
    if isinstance(err, exc.NotFoundError):
        return LlmRequestRejected(f"{where} does not know the model {model!r} (404)",
                                  f"{config_hint}; litellm names models as provider/model, e.g. openai/gpt-4o-mini "
                                  "or ollama/qwen2.5", details=[said])
    if isinstance(err, exc.ContextWindowExceededError):
        return LlmRequestRejected(f"the request is longer than {model} accepts",
                                  "use a model with a larger context window, or name fewer hosts in the request",
                                  details=[said])
    if isinstance(err, exc.BadRequestError | exc.UnprocessableEntityError):
        return LlmRequestRejected(f"{where} rejected the request to {model}: {said}",
                                  f"if it names response_format, tools or json_schema, {_FORMAT_HINT}; "
                                  f"otherwise {config_hint}")
    status = getattr(err, "status_code", None)
    if isinstance(status, int) and status >= 500:
        return LlmServerError(f"the model's server failed ({status}) answering {model}",
                              "try again later; for a local server, see its log", details=[said])
    return LlmError(f"the call to {model} at {where} failed: {said}", config_hint,
                    details=[f"{type(err).__name__}: {said}"])
