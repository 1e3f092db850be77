"""The reliability and security suite: each test states its figure through the ``figure`` fixture.

The figures are printed together at the end of the run (a "reliability figures" section of pytest's
summary, whatever the outcome), and also written as JSON lines to ``$HOMELAB_FIGURES_FILE`` when it is set,
so the README's table can be refreshed from a run rather than typed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

_FIGURES = pytest.StashKey[list[tuple[str, str, str]]]()


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``figure(what, value)``: record one measured figure of this test, e.g.
    ``figure("stale plans", "212 mutations, 212 refused naming the input")``."""
    def record(what: str, value: str) -> None:
        request.config.stash.setdefault(_FIGURES, []).append((request.node.nodeid, what, value))
        out = os.environ.get("HOMELAB_FIGURES_FILE")
        if out:
            with open(out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"test": request.node.nodeid, "what": what, "value": value}) + "\n")

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, [])
    if figures:
        terminalreporter.section("reliability figures")
        for _test, what, value in figures:
            terminalreporter.write_line(f"{what}: {value}")
