"""``homelab --help`` stays fast: no heavy library is imported at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("litellm", "openai", "ansible_runner", "ruamel", "rich", "pydantic", "ansible", "jinja2")

PROBE = """
import sys
from planner import cli
try:
    cli.main({argv!r})
except SystemExit as exit:
    code = exit.code
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["lab", "--help"], ["catalog", "--help"], ["inventory", "--help"],
                                  ["plan", "--help"], ["apply", "--help"], ["show", "--help"], ["plans", "--help"],
                                  ["schedule", "--help"], ["schedule", "cancel", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
                          capture_output=True, text=True, check=False)
    assert "Usage:" in proc.stdout
    heavy = proc.stderr.strip().splitlines()[-1]
    assert heavy == "HEAVY=", f"--help imported {heavy}"


def test_usage_errors_say_error_and_hint_with_exit_2() -> None:
    from tests.conftest import run_homelab

    wrong = run_homelab("histroy")
    assert wrong.rc == 2
    assert wrong.stderr.splitlines() == ["Error: No such command 'histroy'",
                                         "Hint:  Did you mean 'history'? `homelab --help` lists the commands"]
    option = run_homelab("plan", "--bogus")
    assert option.rc == 2 and option.stderr.startswith("Error: No such option '--bogus'")
    assert "Hint:  see `homelab plan --help`" in option.stderr
