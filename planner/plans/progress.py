"""Live progress on stderr while playbooks run, and Ctrl-C turned into a clean cancel."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from planner.plans.planfile import TaskResult

if TYPE_CHECKING:
    from rich.live import Live

_STYLE = {"changed": "yellow", "unknown": "magenta", "failed": "red", "unreachable": "red", "ok": "green"}


class Progress:
    """Hosts × task counts, updated as results arrive; failures printed as they happen."""

    def __init__(self, hosts: list[str], title: str):
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.counts = {h: {"ok": 0, "changed": 0, "unknown": 0, "failed": 0, "skipped": 0} for h in hosts}
        self.unreachable: set[str] = set()
        from rich.markup import escape

        self.title = escape(title)  # it quotes the person's --limit; '[/a-z]' in a regex is not markup
        self.live: Live | None = None

    def _table(self):
        from rich.table import Table

        table = Table(title=self.title, title_justify="left")
        for col in ("host", "ok", "changed", "unknown", "skipped", "failed", ""):
            table.add_column(col, justify="left" if col in ("host", "") else "right")
        for host, c in self.counts.items():
            table.add_row(host, str(c["ok"]), str(c["changed"]), str(c["unknown"]), str(c["skipped"]),
                          str(c["failed"]), "[red]unreachable[/red]" if host in self.unreachable else "")
        return table

    def on_result(self, result: TaskResult) -> None:
        """Count one result; print failures and unreachable hosts at once."""
        counts = self.counts.setdefault(result.host, {"ok": 0, "changed": 0, "unknown": 0, "failed": 0, "skipped": 0})
        if result.status == "unreachable":
            self.unreachable.add(result.host)
        else:
            counts[result.status] += 1
        if result.status in ("failed", "unreachable"):
            from rich.markup import escape  # a host's message is text, never markup

            self.console.print(f"[red]{result.status}[/red] {escape(result.host)}: {escape(result.task)}"
                               + (f" — {escape(result.msg)}" if result.msg else ""))
        if self.live is not None:
            self.live.update(self._table())

    @contextmanager
    def shown(self) -> Iterator[Progress]:
        """Show the live table while the block runs (a plain summary when stderr is not a terminal)."""
        if self.console.is_terminal:
            from rich.live import Live

            with Live(self._table(), console=self.console, refresh_per_second=8) as live:
                self.live = live
                try:
                    yield self
                finally:
                    self.live = None
        else:
            self.console.print(f"{self.title}…")
            yield self


class Interrupt:
    """Ctrl-C sets a flag that ansible-runner polls (its cancel callback) instead of killing us mid-write."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    @contextmanager
    def armed(self) -> Iterator[Interrupt]:
        """Catch SIGINT for the duration of the block."""
        def handler(signum, frame):  # noqa: ARG001 - signal handler signature
            if self.requested:  # a second Ctrl-C: the person means it
                raise KeyboardInterrupt
            self.requested = True
            print("\nInterrupting: cancelling the run cleanly (Ctrl-C again to force)…", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)
