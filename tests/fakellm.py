"""A scripted OpenAI-compatible chat server on 127.0.0.1, for the LLM planner's tests.

Each test queues what the next requests get: a draft as message content or
as a tool call, arbitrary text (malformed JSON), a slow answer, or an HTTP
error with optional headers (429 with Retry-After, 500). Every request is
recorded (path, headers, parsed body) so a test can assert what was sent.
A request with nothing left in the script gets a 500 that says so, so an
unexpected extra request fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Tokens reported for every answer, so tests can check that usage is summed.
PROMPT_TOKENS = 100
COMPLETION_TOKENS = 20


@dataclass(frozen=True)
class Behaviour:
    """What one request gets."""

    status: int = 200
    content: str | None = None
    tool_arguments: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    error: str = ""
    trickle_s: float = 0.0  # seconds between the body's bytes, once the headers are out
    raw_body: bytes | None = None  # sent as it is instead of a completion (an empty or non-JSON body)


def answer(draft: dict[str, Any] | str) -> Behaviour:
    """The draft (or any text) as the assistant message's content."""
    return Behaviour(content=draft if isinstance(draft, str) else json.dumps(draft))


def tool_call(draft: dict[str, Any] | str) -> Behaviour:
    """The draft as the arguments of a ``propose_plan`` tool call."""
    return Behaviour(tool_arguments=draft if isinstance(draft, str) else json.dumps(draft))


def slow(seconds: float, draft: dict[str, Any] | str = "{}") -> Behaviour:
    """An answer that comes only after ``seconds``."""
    return Behaviour(content=draft if isinstance(draft, str) else json.dumps(draft), delay_s=seconds)


def trickle(seconds_per_byte: float, draft: dict[str, Any] | str = "{}") -> Behaviour:
    """Headers at once, then the body a byte at a time: every read succeeds, the whole answer never comes."""
    return Behaviour(content=draft if isinstance(draft, str) else json.dumps(draft), trickle_s=seconds_per_byte)


def raw_body(body: bytes, status: int = 200, content_type: str = "application/json") -> Behaviour:
    """``body`` exactly as given, with ``status``: an empty body, an HTML page from a proxy, a truncated JSON."""
    return Behaviour(status=status, raw_body=body, headers={"Content-Type": content_type})


def http_error(status: int, message: str = "scripted failure", headers: dict[str, str] | None = None) -> Behaviour:
    """An OpenAI-style error body with ``status``."""
    return Behaviour(status=status, error=message, headers=dict(headers or {}))


def rate_limited(retry_after: float | None = None) -> Behaviour:
    """HTTP 429, with a Retry-After header when given."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return http_error(429, "Rate limit reached for requests", headers)


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: str
    at: float


class FakeLLM:
    """The server; use as a context manager, ``push`` behaviours, read ``requests``."""

    def __init__(self) -> None:
        self.script: deque[Behaviour] = deque()
        self.default: Behaviour | None = None
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fakellm", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *behaviours: Behaviour) -> FakeLLM:
        """Queue what the next requests get, in order."""
        with self._lock:
            self.script.extend(behaviours)
        return self

    def always(self, behaviour: Behaviour) -> FakeLLM:
        """What every request gets once the queue is empty."""
        self.default = behaviour
        return self

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # wakes slow answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self) -> Behaviour:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return self.default or http_error(500, "the fake server's script is exhausted")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = {}
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                with fake._lock:
                    fake.requests.append(Recorded(self.path, dict(self.headers.items()), body, raw, time.time()))
                behaviour = fake._next()
                if behaviour.delay_s and fake._stopping.wait(behaviour.delay_s):
                    return
                if behaviour.raw_body is not None:
                    self._send_bytes(behaviour.status, behaviour.raw_body, behaviour.headers)
                    return
                if behaviour.status != 200:
                    kind = "rate_limit_exceeded" if behaviour.status == 429 else "server_error"
                    self._send(behaviour.status, {"error": {"message": behaviour.error, "type": kind,
                                                            "code": kind}}, behaviour.headers)
                    return
                self._send(200, fake._completion(body, behaviour), behaviour.headers, behaviour.trickle_s)

            def _send_bytes(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None,
                      trickle_s: float = 0.0) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    if not trickle_s:
                        self.wfile.write(data)
                        return
                    self.wfile.flush()
                    for i in range(len(data)):
                        if fake._stopping.wait(trickle_s):
                            return
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler

    @staticmethod
    def _completion(body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": behaviour.content}
        finish = "stop"
        if behaviour.tool_arguments is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "propose_plan", "arguments": behaviour.tool_arguments}}]}
            finish = "tool_calls"
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "test-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                      "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
        }
