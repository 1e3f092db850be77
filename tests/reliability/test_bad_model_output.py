"""Bad model output: whatever a model's server answers, nothing runs, nothing is written, and the person
reads one clear error.

Each case runs the real CLI (``homelab plan "…"``) on a copy of the project, through litellm's real HTTP
path, against the scripted OpenAI-compatible server of tests/fakellm.py on 127.0.0.1: malformed JSON,
drafts the validation must refuse (an unknown playbook, undeclared or mistyped variables, Jinja, hosts
outside the inventory, a wider or riskier plan than the request asks for), and a server that times out,
rate-limits, fails or answers with an empty, a non-JSON or a huge body. For each: the documented exit
code, ``Error:`` and ``Hint:`` and no traceback, the project's files byte for byte as they were (no plan,
no session log, no runner artifact: zero steps run), and no command the model smuggled in executed.

The CLI runs in a child forked from this process, where litellm is imported already (tests/reliability/cli.py).
The plans are made with ``--no-check``: a draft that got through would be saved (and the case fail on the
tree digest and the exit code) without a check run reaching for the inventory's real addresses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from planner.errors import ExitCode
from tests.conftest import copy_project, tree_digest
from tests.fakellm import Behaviour, FakeLLM, answer, http_error, rate_limited, raw_body, slow, tool_call
from tests.reliability.cli import Measured, forked

KEY_ENV = "HOMELAB_TEST_LLM_KEY"
#: Where a templated value would leave its mark; the case checks it never appears.
MARKER = Path("/tmp/homelab-bad-model-output-jinja-ran")
HOST = "k3s-vm-still-fawn"
INTENT = f"check the disk space on {HOST}"


def _draft(playbook: str = "diagnose_host", limit: str = HOST, variables: dict | None = None,
           **extra: object) -> dict:
    return {"steps": [{"playbook": playbook, "limit": limit, "vars": variables or {},
                       "rationale": "look at the disks before changing anything"}],
            "manual": [], "questions": [], "refusal": None, "explanation": "A read-only look first.", **extra}


@dataclass(frozen=True)
class Case:
    """One kind of bad answer: what the server says (every request), what the CLI must exit with and say."""

    id: str
    behaviour: Behaviour
    code: ExitCode
    says: str
    intent: str = INTENT
    env: dict[str, str] = field(default_factory=dict)
    max_s: float = 30.0
    retries: int = 0  # further tries (.homelab/config.yml); one where the retry path is what is tested


JINJA = "{{ lookup('pipe', 'touch " + str(MARKER) + "') }}"
CASES = [
    Case("malformed JSON", answer('{"steps": [{"playbook": "diagnose_host", '), ExitCode.ENVIRONMENT,
         "did not return a valid draft (2 request(s)", retries=1),
    Case("prose instead of JSON", answer("Sure! I'd run diagnose_host on the VM."), ExitCode.ENVIRONMENT,
         "not JSON"),
    Case("JSON that is not a draft", answer({"plan": ["diagnose_host"]}), ExitCode.ENVIRONMENT, "not a draft"),
    Case("malformed tool call", tool_call('{"steps": [ }'), ExitCode.ENVIRONMENT, "did not return a valid draft",
         env={"HOMELAB_MODEL_RESPONSE_FORMAT": "tools"}),
    Case("unknown playbook", answer(_draft("wipe_and_reinstall")), ExitCode.USAGE,
         "no playbook 'wipe_and_reinstall' in the catalog"),
    Case("undeclared variable", answer(_draft(variables={"diagnose_run_as": "root"})), ExitCode.USAGE,
         "vars.diagnose_run_as: unknown variable"),
    Case("mistyped variable", answer(_draft(variables={"diagnose_top_n": "all of them"})), ExitCode.USAGE,
         "'diagnose_top_n' is of type str"),
    Case("Jinja in a value", answer(_draft(variables={"diagnose_journal_since": JINJA})), ExitCode.USAGE,
         "Jinja is not allowed in plan variables"),
    Case("Jinja in the limit", answer(_draft(limit=JINJA)), ExitCode.USAGE, "not a valid plan"),
    Case("host not in the inventory", answer(_draft(limit="nas-01")), ExitCode.USAGE, "nas-01"),
    Case("blast radius widened to every host", answer(_draft(limit="all")), ExitCode.USAGE,
         "which the request does not ask for"),
    Case("a change playbook for a read request", answer(_draft(
        "update_packages", variables={"package_updates_allow_reboot": True, "package_updates_serial": 100})),
        ExitCode.USAGE, "changes hosts, and the request asks only to look"),
    Case("steps for a destructive request dressed as routine", answer(_draft()), ExitCode.REFUSED, "destructive",
         intent=f"check the disk space on {HOST}, then wipe its old logs"),
    Case("timeout", slow(30, _draft()), ExitCode.ENVIRONMENT, "within 1 s", env={"HOMELAB_MODEL_TIMEOUT": "1"},
         max_s=15),
    Case("HTTP 429 with Retry-After", rate_limited(1), ExitCode.ENVIRONMENT, "asks to retry after 1 s", retries=1),
    Case("HTTP 500", http_error(500, "model crashed"), ExitCode.ENVIRONMENT, "500", retries=1),
    Case("empty body", raw_body(b""), ExitCode.ENVIRONMENT, "Error:"),
    Case("empty answer", answer(""), ExitCode.ENVIRONMENT, "the answer was empty"),
    Case("HTML page instead of JSON", raw_body(b"<html><body>502 Bad Gateway</body></html>",
                                               content_type="text/html"), ExitCode.ENVIRONMENT, "Error:"),
    Case("huge body (16 MB of text)", answer("x" * (16 * 1024 * 1024)), ExitCode.ENVIRONMENT, "not JSON"),
    Case("huge draft (20,000 steps)", answer({**_draft(), "steps": _draft()["steps"] * 20_000}),
         ExitCode.ENVIRONMENT, "20,000 steps; a draft has at most 50"),
]


@pytest.fixture(scope="module", autouse=True)
def litellm_loaded() -> None:
    """litellm imported here, as the CLI imports it (offline, quiet), once: each case's forked CLI starts with
    it loaded instead of paying seconds for the import."""
    from planner.planning import litellm_client

    litellm_client._litellm()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = copy_project(tmp_path_factory.mktemp("bad-model") / "project")
    (copy / ".homelab").mkdir(exist_ok=True)
    return copy


def configure(project: Path, server: FakeLLM, case: Case) -> None:
    # No retry unless the case tests one (a backoff, a Retry-After, a second malformed answer): a retry only
    # repeats what the first request showed, and costs a second.
    (project / ".homelab" / "config.yml").write_text(
        f"model: openai/test-model\napi_base: {server.api_base}\napi_key_env: {KEY_ENV}\n"
        f"response_format: json_schema\ntimeout_s: 20\nretries: {case.retries}\n")


@pytest.fixture(scope="module")
def outcomes() -> dict[str, bool]:
    """Case id -> refused as it should be; the summary figure is made from it."""
    return {}


def homelab(project: Path, case: Case) -> Measured:
    env = {"HOMELAB_ROOT": str(project), "HOMELAB_INVENTORY": str(project / "inventory"), "HOMELAB_MODEL": "",
           KEY_ENV: "canary-key-bad-model", "LITELLM_LOCAL_MODEL_COST_MAP": "True", **case.env}
    return forked("plan", case.intent, "--no-check", "--format", "json", env=env, timeout=120)


def _runnable_or_run(project: Path) -> list[str]:
    """Anything that says a step ran or may run: a saved plan, a runner artifact, a session log."""
    found = []
    for below in (".homelab/plans", ".homelab/runs", ".homelab/objects", "docs/sessions"):
        found += [str(p.relative_to(project)) for p in (project / below).rglob("*") if p.is_file()]
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_model_output_runs_nothing_and_says_why(case: Case, server: FakeLLM, project: Path,
                                                    outcomes: dict[str, bool]) -> None:
    MARKER.unlink(missing_ok=True)
    server.script.clear()
    server.always(case.behaviour)
    configure(project, server, case)
    before, files_before = tree_digest(project), set(_runnable_or_run(project))
    asked = len(server.requests)
    started = time.monotonic()
    try:
        result = homelab(project, case)
    finally:
        server.default = None
    elapsed = time.monotonic() - started
    outcomes[case.id] = False
    assert len(server.requests) > asked, "the model was never asked"
    assert "Traceback" not in result.stderr, result.stderr
    assert result.rc == case.code, (result.rc, result.stderr)
    assert "Error:" in result.stderr and "Hint:" in result.stderr, result.stderr
    assert case.says in result.stderr, result.stderr
    if case.code == ExitCode.REFUSED:
        # A refusal is printed as a plan document with no step, and saved as one: nothing it could run.
        doc = json.loads(result.stdout)
        assert doc["steps"] == [] and doc["refusal"], doc
        assert not MARKER.exists()
    else:
        assert result.stdout == "", result.stdout[:500]
        assert set(_runnable_or_run(project)) == files_before
        assert tree_digest(project) == before, "the project's files changed"
    assert not MARKER.exists(), "a value the model gave was templated"
    assert elapsed < case.max_s, elapsed
    outcomes[case.id] = True


def test_bad_model_output_figure(outcomes: dict[str, bool], figure: Callable[[str, str], None]) -> None:
    # Runs after the cases (pytest keeps the file's order): select it with them.
    refused = sum(outcomes.values())
    figure("bad model output", f"{len(outcomes)} cases, {refused} refused with Error/Hint and the documented "
                               "exit code, 0 steps run, 0 files written")
    assert refused == len(outcomes) == len(CASES), [k for k, ok in outcomes.items() if not ok]
