"""The grouped review: each task's outcome once with its hosts, readable at 30 hosts, nothing lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from planner.plans import planfile
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
from planner.render import html, markdown, terminal
from planner.render.grouping import (
    HOST_PLACEHOLDER,
    closest,
    compact,
    diff_text,
    for_hosts,
    groups,
    host_rows,
    on_hosts,
    summary,
)
from tests.conftest import FIXTURES, copy_project, run_homelab

FIXTURE = FIXTURES / "review_apply_baseline_9.json"
NINE = ["still-fawn", "pumped-piglet", "chief-horse", "fun-bedbug", "k3s-vm-still-fawn", "k3s-vm-pumped-piglet",
        "k3s-vm-chief-horse", "maas", "uptime-kuma"]


def _plan(hosts: list[str], tasks: list[TaskResult], summaries: dict[str, HostSummary]) -> Plan:
    review = StepReview(step=0, playbook="apply_baseline", check=True, status="successful", rc=0,
                        hosts=summaries, tasks=tasks)
    return Plan(id="0123abcd", created_at="2026-12-01T00:00:00+00:00", intent="apply_baseline", planner="manual",
                steps=[Step(playbook="apply_baseline", limit="all", risk="change", hosts=hosts)],
                review=Review(checked_at="2026-12-01T00:00:00+00:00", steps=[review]),
                inputs=Inputs(inventory="inventory", files={}, versions={},
                              snapshot=Snapshot(id="0" * 64, inventory="inventory", files={})))


def real_review(scale: int = 9) -> Plan:
    """The lab's real 9-host review of apply_baseline, grown to ``scale`` hosts the way ``lab up --scale``
    grows the lab: k3s-vm-gen-NN copies of the three k3s VMs, in blocks, their own names in their diffs."""
    doc = json.loads(FIXTURE.read_text())
    tasks = [TaskResult.model_validate(t) for t in doc["tasks"]]
    summaries = {h: HostSummary.model_validate(s) for h, s in doc["summaries"].items()}
    hosts = list(doc["hosts"])
    templates = [h for h in hosts if h.startswith("k3s-vm-")]
    extra = scale - len(hosts)
    for i in range(extra):
        name, template = f"k3s-vm-gen-{i + 1:02d}", templates[i * len(templates) // extra]
        hosts.append(name)
        summaries[name] = summaries[template]
        for t in [t for t in tasks if t.host == template]:
            diffs = [d.model_copy(update={k: re.sub(rf"\b{template}\b", name, v)
                                          for k in ("before", "after", "prepared") if (v := getattr(d, k))})
                     for d in t.diffs]
            tasks.append(t.model_copy(update={"host": name, "diffs": diffs}))
    return _plan(hosts, tasks, summaries)


def _text(plan: Plan, per_host: bool = False, width: int = 120) -> str:
    from rich.console import Console

    console = Console(record=True, width=width, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    terminal.render(plan, console, per_host=per_host)
    return console.export_text()


def _expand(text: str) -> str:
    """Brace runs written by ``compact`` spelled out, as a shell would."""
    def one(m: re.Match) -> str:
        first, last = m.group(2), m.group(3)
        return ", ".join(f"{m.group(1)}{n:0{len(first)}d}" for n in range(int(first), int(last) + 1))
    return re.sub(r"([\w.-]+)\{(\d+)\.\.(\d+)\}", one, text)


def test_thirty_hosts_fit_in_120_lines_and_every_host_is_named() -> None:
    plan = real_review(30)
    text = _text(plan)
    assert len(text.splitlines()) <= 120, text
    assert "apply_baseline: 7 to change · 1 unknown · 0 failed · on 30 hosts" in text
    spelled = _expand(text)
    for host in plan.steps[0].hosts:
        assert re.search(rf"(?<![\w-]){re.escape(host)}(?![\w-])", spelled), host
    # The plan document is not grouped: every host's every result is still there.
    again = Plan.model_validate_json(plan.model_dump_json())
    assert len(again.review.steps[0].tasks) == 30 * 8
    assert {t.host for t in again.review.steps[0].tasks} == set(plan.steps[0].hosts)


def test_the_nine_host_review_shows_each_shared_diff_once() -> None:
    plan = real_review()
    text = _text(plan)
    assert len(text.splitlines()) <= 120
    assert text.count("+NTP=0.debian.pool.ntp.org") == 1  # was nine times, once per host
    assert text.count("on all 9 hosts") == 7  # six changes and the unknown; motd differs per host
    assert "ansible-local-" not in text  # Ansible's temp directory differs per host; it is not shown


def test_groups_lose_nothing_every_variant_can_be_rebuilt() -> None:
    """Each later variant is printed as its difference from an earlier one; applying it gives the exact diff."""
    plan = real_review(30)
    step = plan.review.steps[0]
    found = groups(step, plan.steps[0].hosts)
    assert sum(len(g.hosts) for g in found) == len([t for t in step.tasks if t.status in ("changed", "unknown")])
    motd = [g for g in found if g.task.startswith("Write the message of the day")]
    assert len(motd) == 9 and [g.variant for g in motd] == list(range(1, 10))
    for i, g in enumerate(motd[1:], start=1):
        near = closest(motd[:i], g)
        assert near is not None
        base, text = near
        assert _apply(base.diffs, text) == "".join(g.diffs)
        for host in g.hosts:  # and putting the name back gives that host's own diff
            real = next(t for t in step.tasks if t.host == host and t.task == g.task)
            assert "".join(g.diffs).replace(HOST_PLACEHOLDER, host) == diff_text(real.diffs[0], "x")[0]


def _apply(base: tuple[str, ...], delta: str) -> str:
    """The variant from its base and the marker lines written by ``delta``."""
    lines = "".join(base).splitlines(keepends=True)
    out, pos = [], 0
    rows = delta.splitlines(keepends=True)
    i = 0
    while i < len(rows):
        m = re.match(r"~ (after line (\d+)|for lines? (\d+)(?:-(\d+))?):( \(nothing\))?(?: (.*))?$", rows[i], re.S)
        assert m, rows[i]
        start, end = ((int(m.group(2)), int(m.group(2))) if m.group(2) else
                      (int(m.group(3)) - 1, int(m.group(4) or m.group(3))))
        out += lines[pos:start]
        pos = end
        i += 1
        if m.group(6) is not None:
            out.append(m.group(6))
        elif not m.group(5):
            while i < len(rows) and not rows[i].startswith("~ "):
                out.append(rows[i])
                i += 1
    return "".join(out + lines[pos:])


def test_phrases_name_every_host_the_shortest_way() -> None:
    among = NINE
    assert on_hosts(NINE, among) == "on all 9 hosts"
    assert on_hosts(["maas"], among) == "on maas"
    assert on_hosts([h for h in NINE if h != "maas"], among) == "on all hosts but maas"
    assert on_hosts([h for h in NINE if h not in ("maas", "uptime-kuma")], among) == \
        "on all hosts but maas, uptime-kuma"
    assert on_hosts(["maas", "still-fawn"], among) == "on 2 hosts: still-fawn, maas"
    gen = [f"k3s-vm-gen-{i:02d}" for i in range(1, 22)]
    assert compact(["a", *gen[:7], "b", "n-1", "n-2"]) == "a, k3s-vm-gen-{01..07}, b, n-1, n-2"
    assert on_hosts(gen[7:14], NINE + gen) == "on 7 hosts: k3s-vm-gen-{08..14}"


def test_the_host_name_is_replaced_as_a_whole_word_only() -> None:
    diff = Diff(before_header="/etc/motd", after_header="/home/ops/.ansible/tmp/ansible-local-12ab/tmpxy_1/motd.j2",
                before="", after="maas (groups: infra)\nnot-maas maas.example maas-2\n")
    text, named = diff_text(diff, "maas")
    assert named and "+{host} (groups: infra)" in text and "+not-maas {host}.example maas-2" in text
    assert "+++ motd.j2" in text
    literal = Diff(before="", after="{host} maas\n")
    assert diff_text(literal, "maas") == (diff_text(literal, "nobody")[0], False)  # left as it is


def test_the_same_task_run_twice_on_a_host_stays_two_results() -> None:
    tasks = [TaskResult(host=h, task="Restart it", status="changed") for h in ("a", "b")] * 2
    plan = _plan(["a", "b"], tasks, {h: HostSummary(changed=2) for h in ("a", "b")})
    found = groups(plan.review.steps[0], ["a", "b"])
    assert [g.hosts for g in found] == [("a", "b"), ("a", "b")]
    assert summary(plan, plan.review.steps[0]).line() == "apply_baseline: 1 to change · 0 unknown · 0 failed · " \
                                                         "on 2 hosts"


def test_failed_and_unreachable_hosts_get_their_own_rows() -> None:
    sums = {h: HostSummary(changed=7, ok=16) for h in NINE}
    sums["maas"] = HostSummary(changed=7, ok=16, unreachable=True)
    sums["still-fawn"] = HostSummary(changed=6, ok=16, failed=1)
    sums["fun-bedbug"] = HostSummary(changed=6, ok=16, failed=1)
    rows = host_rows(_plan(NINE, [], sums))
    assert [r.hosts for r in rows] == [("still-fawn",), ("pumped-piglet", "chief-horse", "k3s-vm-still-fawn",
                                       "k3s-vm-pumped-piglet", "k3s-vm-chief-horse", "uptime-kuma"),
                                       ("fun-bedbug",), ("maas",)]


def test_markdown_and_html_group_the_same_way() -> None:
    plan = real_review(30)
    md = "".join(markdown.render(plan))
    assert md.count("NTP=0.debian.pool.ntp.org") == 1
    assert "**on all 30 hosts**" in md and "k3s-vm-gen-{01..07}" in md
    assert md.count("<details>") == md.count("</details>")
    page = html.render(plan)
    assert page.count('<details class="group"') == 5 + 9 + 1 + 1  # files, the motd's variants, restart, unknown
    assert page.count('<details class="host" id="host-') == 30  # each host's full review, a click away
    assert 'href="#host-k3s-vm-gen-21"' in page


def test_one_hosts_review_is_every_task_ungrouped() -> None:
    plan = for_hosts(real_review(30), ["k3s-vm-gen-09"])
    text = _text(plan, per_host=True)
    assert "k3s-vm-gen-09" in text and "k3s-vm-gen-08" not in text and "maas" not in text.replace("maas VM", "")
    assert text.count("  changed  k3s-vm-gen-09  ") == 7
    assert HOST_PLACEHOLDER not in text  # one host: its own diffs as they are
    md = "".join(markdown.render(plan, per_host=True))
    assert "### k3s-vm-gen-09" in md and "### maas" not in md


@pytest.fixture
def saved(tmp_path: Path) -> tuple[dict[str, str], Plan]:
    copy = tmp_path / "project"
    copy_project(copy)
    state = copy / ".homelab"
    plan = planfile.seal(real_review(12), state)
    planfile.save(plan, state)
    return {"HOMELAB_ROOT": str(copy), "HOMELAB_MODEL": ""}, plan


def test_show_host_prints_that_hosts_review_in_every_format(saved) -> None:
    env, plan = saved
    result = run_homelab("show", plan.id, "--host", "maas", env=env)
    assert result.rc == 0, result.stderr
    assert "maas" in result.stdout and "k3s-vm-gen-01" not in result.stdout
    doc = json.loads(run_homelab("show", plan.id, "--host", "maas", "--host", "k3s-vm-gen-02", "--format", "json",
                                 env=env).stdout)
    assert {t["host"] for t in doc["review"]["steps"][0]["tasks"]} == {"maas", "k3s-vm-gen-02"}
    md = run_homelab("show", plan.id, "--host", "maas", "--format", "markdown", env=env)
    assert "### maas" in md.stdout
    page = run_homelab("show", plan.id, "--host", "maas", "--format", "html", env=env)
    assert 'id="host-maas"' in page.stdout and 'id="host-still-fawn"' not in page.stdout


def test_show_an_unknown_host_names_the_plans_hosts(saved) -> None:
    env, plan = saved
    result = run_homelab("show", plan.id, "--host", "mass", env=env)
    assert result.rc == 2 and "Traceback" not in result.stderr
    assert f"Error: plan {plan.id} does not touch host 'mass' (did you mean 'maas'?)" in result.stderr
    assert "Hint:" in result.stderr and "k3s-vm-gen-03" in result.stderr
