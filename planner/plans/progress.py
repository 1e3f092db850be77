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
_STATUSES = ("ok", "changed", "unknown", "skipped", "failed", "unreachable")
#: Events that start a task (handlers are tasks too, run when notified).
_TASK_START = ("playbook_on_task_start", "playbook_on_handler_task_start")


class Progress:
    """Hosts × tasks done, updated as results arrive; failures printed as they happen.

    On a terminal: a live view of three lines whatever the number of hosts (totals, the current
    task); failures scroll above it. Elsewhere (CI logs, pipes): one line per task when it finishes,
    with its counts by status and the hosts that failed. Fed by ``on_result`` (every TaskResult) and
    ``on_event`` (ansible-runner's raw events, for the current task's name as soon as it starts).
    """

    def __init__(self, hosts: list[str], title: str, console=None):
        from rich.console import Console
        from rich.markup import escape

        self.console = console or Console(stderr=True, highlight=False)
        self.hosts: dict[str, None] = dict.fromkeys(hosts)
        self.totals = dict.fromkeys(_STATUSES, 0)
        self.tasks = 0  # tasks started so far
        self.task: str | None = None  # the current task's name
        self._uuid: str | None = None
        self._counts = dict.fromkeys(_STATUSES, 0)
        self._failed: list[tuple[str, str]] = []  # (host, failed | unreachable) in the current task
        self.title = escape(title)  # it quotes the person's --limit; '[/a-z]' in a regex is not markup
        self.live: Live | None = None

    def _view(self):
        from rich.markup import escape
        from rich.text import Text

        t = self.totals
        done = sum(t.values())
        line = (f"task {self.tasks} · {len(self.hosts)} hosts · {done} results · [yellow]{t['changed']} changed"
                f"[/yellow] · [magenta]{t['unknown']} unknown[/magenta] · [red]{t['failed']} failed"
                f"[/red]" + (f" · [red]{t['unreachable']} unreachable[/red]" if t["unreachable"] else ""))
        current = (f"now: {escape(self.task)} ({sum(self._counts.values())}/{len(self.hosts)} hosts)"
                   if self.task else "starting…")
        return Text.from_markup(f"{self.title}\n{line}\n[dim]{current}[/dim]")

    def _start(self, name: str, uuid: str | None) -> None:
        self._finish()
        self.tasks += 1
        self.task, self._uuid = name, uuid

    def _finish(self) -> None:
        """On a non-terminal, the line for the task that just ended (nothing when no result came)."""
        if self.task is not None and not self.console.is_terminal and any(self._counts.values()):
            self.console.print(task_line(self.tasks, self.task, self._counts, self._failed),
                               markup=False, highlight=False)
        self.task, self._uuid = None, None
        self._counts = dict.fromkeys(_STATUSES, 0)
        self._failed = []

    def on_event(self, event: dict) -> None:
        """Note the task that starts (its name shows before any host reports), or the run's end."""
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind in _TASK_START:
            uuid = data.get("task_uuid")
            if uuid is None or uuid != self._uuid:
                self._start(str(data.get("task") or data.get("name") or "(unnamed task)"), uuid)
        elif kind == "playbook_on_stats":
            self._finish()
        self._refresh()

    def on_result(self, result: TaskResult) -> None:
        """Count one result; print failures and unreachable hosts at once."""
        if result.task != self.task and self._uuid is None:
            self._start(result.task, None)  # no events seen (or a result outside one): its name starts a task
        self.hosts.setdefault(result.host, None)
        self.totals[result.status] += 1
        self._counts[result.status] += 1
        if result.status in ("failed", "unreachable"):
            from rich.markup import escape  # a host's message is text, never markup

            self._failed.append((result.host, result.status))
            self.console.print(f"[red]{result.status}[/red] {escape(result.host)}: {escape(result.task)}"
                               + (f" — {escape(result.msg)}" if result.msg else ""))
        self._refresh()

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._view())

    @contextmanager
    def shown(self) -> Iterator[Progress]:
        """Show the live view while the block runs (a line per task when stderr is not a terminal)."""
        if self.console.is_terminal:
            from rich.live import Live

            with Live(self._view(), console=self.console, refresh_per_second=8) as live:
                self.live = live
                try:
                    yield self
                finally:
                    self.live = None
        else:
            self.console.print(f"{self.title}…")
            try:
                yield self
            finally:
                self._finish()


def task_line(number: int, name: str, counts: dict[str, int], failed: list[tuple[str, str]]) -> str:
    """'task 3: Set the time zone — 8 changed, 1 failed; failed on maas' (counts by status, zeros left out)."""
    shown = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    line = f"task {number}: {name} — {shown or 'no results'}"
    for status in ("failed", "unreachable"):
        hosts = list(dict.fromkeys(h for h, s in failed if s == status))
        if hosts:
            line += f"; {status} on {', '.join(hosts)}"
    return line


class Interrupt:
    """Ctrl-C sets a flag that ansible-runner polls (its cancel callback) instead of killing us mid-write.

    SIGTERM (``kill``, a service manager, a CI job's timeout) does the same: left to its default it would end
    this process at once, with the plan recorded as still applying and ansible-playbook, in a session of its
    own, running on unwatched.
    """

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    @contextmanager
    def armed(self) -> Iterator[Interrupt]:
        """Catch SIGINT and SIGTERM for the duration of the block."""
        def handler(signum, frame):  # noqa: ARG001 - signal handler signature
            if self.requested:  # a second signal: the person means it
                raise KeyboardInterrupt
            self.requested = True
            what = "Interrupting" if signum == signal.SIGINT else "Terminated"
            print(f"\n{what}: cancelling the run cleanly (Ctrl-C again to force)…", file=sys.stderr)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
