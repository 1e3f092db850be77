"""Live progress: a line per task where stderr is not a terminal, a view that never grows on one."""

from __future__ import annotations

import io

from rich.console import Console

from planner.plans.planfile import TaskResult
from planner.plans.progress import Progress

HOSTS = [f"node-{i:02d}" for i in range(30)]


def _start(name: str, uuid: str) -> dict:
    return {"event": "playbook_on_task_start", "event_data": {"task": name, "task_uuid": uuid}}


def _run(progress: Progress) -> None:
    """Three tasks on 30 hosts, as ansible-runner reports them: one fails on two hosts, one is unreachable."""
    with progress.shown():
        progress.on_event({"event": "playbook_on_start", "event_data": {}})
        progress.on_event(_start("Gathering Facts", "u1"))
        for h in HOSTS:
            status = "unreachable" if h == "node-29" else "ok"
            progress.on_result(TaskResult(host=h, task="Gathering Facts", status=status,
                                          msg="ssh: connect refused" if status == "unreachable" else None))
        progress.on_event(_start("Write the motd", "u2"))
        for h in HOSTS[:29]:
            status = "failed" if h in ("node-03", "node-17") else "changed"
            progress.on_result(TaskResult(host=h, task="Write the motd", status=status,
                                          msg="[/red] disk full" if status == "failed" else None))
        progress.on_event(_start("Write the motd", "u3"))  # a second task of the same name is a task of its own
        progress.on_event(_start("Restart journald", "u4"))
        for h in HOSTS[:27]:
            progress.on_result(TaskResult(host=h, task="Restart journald", status="skipped"))
        progress.on_event({"event": "playbook_on_stats", "event_data": {}})


def test_a_pipe_gets_one_line_per_task_with_counts_and_failed_hosts() -> None:
    out = io.StringIO()
    _run(Progress([], "Applying plan 1234", console=Console(file=out, force_terminal=False, width=200)))
    lines = out.getvalue().splitlines()
    assert lines[0] == "Applying plan 1234…"
    # Failures are printed as they happen, before the line of the task they belong to.
    assert lines[1:] == [
        "unreachable node-29: Gathering Facts — ssh: connect refused",
        "task 1: Gathering Facts — 29 ok, 1 unreachable; unreachable on node-29",
        "failed node-03: Write the motd — [/red] disk full",
        "failed node-17: Write the motd — [/red] disk full",
        "task 2: Write the motd — 27 changed, 2 failed; failed on node-03, node-17",
        "task 4: Restart journald — 27 skipped",
    ]


def test_results_without_events_still_make_a_line_per_task() -> None:
    out = io.StringIO()
    progress = Progress(HOSTS, "Checking", console=Console(file=out, force_terminal=False, width=200))
    with progress.shown():
        for task in ("One", "Two"):
            for h in HOSTS[:3]:
                progress.on_result(TaskResult(host=h, task=task, status="ok"))
    assert out.getvalue().splitlines()[1:] == ["task 1: One — 3 ok", "task 2: Two — 3 ok"]


def test_the_live_view_stays_three_lines_at_thirty_hosts() -> None:
    out = io.StringIO()
    progress = Progress(HOSTS, "Applying plan 1234", console=Console(file=out, force_terminal=True, width=120))
    _run(progress)
    view = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    progress.on_event(_start("Load the sysctl files", "u5"))
    progress.on_result(TaskResult(host="node-00", task="Load the sysctl files", status="unknown"))
    view.print(progress._view())
    text = view.export_text().splitlines()
    assert text == ["Applying plan 1234",
                    "task 5 · 30 hosts · 87 results · 27 changed · 1 unknown · 2 failed · 1 unreachable",
                    "now: Load the sysctl files (1/30 hosts)"]
    assert "task 1:" not in out.getvalue()  # a terminal gets the live view, not the per-task lines
