"""Review renderings: markdown split for pull-request comments, one self-contained HTML page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from planner.plans.planfile import (
    Diff,
    HostSummary,
    Inputs,
    Plan,
    Review,
    Snapshot,
    Step,
    StepReview,
    TaskResult,
)
from planner.render import html, markdown, unified


def big_plan(hosts: int = 120, tasks: int = 6) -> Plan:
    """A plan over many hosts with realistic diffs, unknowns and failures."""
    names = [f"node-{i:03d}" for i in range(hosts)]
    results = []
    for i, h in enumerate(names):
        for t in range(tasks):
            before = "".join(f"line {n}\n" for n in range(40))
            after = before.replace("line 7\n", f"line 7 set to {i * 37}\n")  # a value of its own per host
            results.append(TaskResult(host=h, task=f"Configure thing {t}", action="ansible.builtin.template",
                                      role="baseline", status="changed",
                                      diffs=[Diff(before_header=f"/etc/thing{t}.conf",
                                                  after_header=f"/etc/thing{t}.conf", before=before, after=after)]))
        results.append(TaskResult(host=h, task="Run a script", status="unknown",
                                  unknown_reason="a command without creates/removes: check mode cannot tell"))
    results.append(TaskResult(host=names[0], task="Reach it", status="unreachable", msg="ssh: connection refused"))
    review = StepReview(step=0, playbook="apply_baseline", check=True, status="successful", rc=0,
                        hosts={h: HostSummary(changed=tasks, unknown=1) for h in names}, tasks=results)
    return Plan(id="abcd1234", created_at="2026-11-25T00:00:00+00:00", intent="baseline <everything> & more",
                planner="manual", steps=[Step(playbook="apply_baseline", limit="all", risk="change", hosts=names)],
                review=Review(checked_at="2026-11-25T00:00:00+00:00", steps=[review]),
                inputs=Inputs(inventory="inventory", files={}, versions={},
                              snapshot=Snapshot(id="0" * 64, inventory="inventory", files={})))


def test_unified_diff_has_headers_and_changes() -> None:
    text = unified(Diff(before_header="/etc/motd", after_header="/etc/motd", before="a\nb\n", after="a\nc\n"))
    assert text.splitlines()[:2] == ["--- /etc/motd", "+++ /etc/motd"]
    assert "-b" in text.splitlines() and "+c" in text.splitlines()


def test_markdown_splits_under_the_comment_limit_without_losing_hosts() -> None:
    plan = big_plan()
    parts = markdown.render(plan)
    assert len(parts) > 1
    assert all(len(p) < 65_000 for p in parts)
    joined = "".join(parts)
    for host in plan.steps[0].hosts:  # each host's diff differs (it names the host): a group each
        assert f"**on {host}**" in joined
    assert joined.count("<details>") == joined.count("</details>")
    assert parts[-1].rstrip().endswith(f"_Part {len(parts)} of {len(parts)}._")
    per_host = "".join(markdown.render(plan, per_host=True))
    for host in plan.steps[0].hosts:
        assert f"### {host}\n" in per_host


def test_markdown_fences_survive_backticks_in_diffs() -> None:
    plan = big_plan(hosts=1, tasks=1)
    plan.review.steps[0].tasks[0].diffs[0].after += "```\n"
    text = "".join(markdown.render(plan))
    assert "````diff" in text


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag in ("script", "link", "img") or attrs.get("src"):
            self.external.append(tag)


def test_html_is_self_contained_and_escaped() -> None:
    plan = big_plan(hosts=30)
    page = html.render(plan)
    parser = _Collector()
    parser.feed(page)
    assert parser.external == []
    assert {f"host-node-{i:03d}" for i in range(30)} <= set(parser.ids)
    assert "baseline &lt;everything&gt; &amp; more" in page
    assert "<everything>" not in page


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no headless Chromium: make setup installs Debian's chromium package (run it as root)")


def test_html_renders_in_a_real_browser(tmp_path) -> None:
    plan = big_plan(hosts=60)
    page = tmp_path / "review.html"
    page.write_text(html.render(plan))
    proc = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'id="host-node-059"' in dom
    # The totals line as the browser built it: 60 hosts with 6 changed tasks and 1 unknown each.
    totals = re.search(r'<p id="totals">(.*?)</p>', dom, re.DOTALL)
    assert totals, dom[:2000]
    text = re.sub(r"<[^>]+>", "", totals.group(1))
    assert text.split(" · ")[:2] == ["360 changed", "60 unknown"], text
    shot = tmp_path / "review.png"
    subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,900", page.as_uri()], capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 10_000


def test_plan_document_round_trips_as_json() -> None:
    plan = big_plan(hosts=3)
    again = Plan.model_validate(json.loads(plan.model_dump_json()))
    assert again == plan


def test_terminal_shows_markup_like_text_literally() -> None:
    from rich.console import Console

    from planner.plans.planfile import ManualItem
    from planner.render import terminal

    plan = big_plan(hosts=2, tasks=1)
    hostile = "[/red] oops [link=http://127.0.0.1/]click[/link]"
    plan = plan.model_copy(update={"intent": hostile, "manual": [ManualItem(title="[bold]x", reason="[/]")]})
    plan.review.steps[0].tasks[-1].msg = hostile  # a host's own words in a failure
    console = Console(record=True, width=200, color_system=None)
    terminal.render(plan, console)  # raised MarkupError before the text was escaped
    text = console.export_text()
    assert text.count(hostile) == 2
    assert "[ ] [bold]x — [/]" in text


def test_a_progress_title_quoting_a_regex_limit_is_not_markup() -> None:
    from rich.text import Text

    from planner.plans.progress import Progress

    title = "Reviewing in check mode (gather_facts on ~k3s-vm-[/a-z]+)"
    assert Text.from_markup(Progress([], title).title).plain == title  # raised MarkupError unescaped
