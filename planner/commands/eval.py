"""``homelab eval``: score a planner against golden intents."""

from __future__ import annotations

from pathlib import Path

import click

from planner.commands._options import console, format_option, inventory_option, print_json


@click.command(name="eval")
@click.argument("file", metavar="FILE")
@click.option("--model", "-m", metavar="MODEL", help="The LLM to score (litellm name); default $HOMELAB_MODEL, "
              "then .homelab/config.yml; 'offline' scores the offline planner.")
@inventory_option()
@click.option("--min-pass-rate", type=click.FloatRange(0.0, 1.0), metavar="RATE",
              help="Exit 1 when fewer cases pass than this fraction (0.85 = 85%), for CI.")
@format_option("table", "json")
def eval_(file: str, model: str | None, inventory: str | None, min_pass_rate: float | None, fmt: str) -> None:
    """Score a planner against golden intents: playbooks, targets, variables, refusals.

    Each case's intent is drafted and validated as `homelab plan` would do
    it, with the same context pack, but no check run happens, nothing is
    saved and nothing runs on any host. The table shows per case what was
    expected and what the planner drafted, its latency and, for an LLM, the
    tokens and cost; below it the pass rate overall and per dimension. The
    file format is described at the top of tests/evals/intents.yml.

    \b
    Exit codes: 0 scored (whatever the pass rate), 1 the pass rate is below
    --min-pass-rate, 2 bad input (the file, the inventory), 3 the model
    cannot be reached (the same failure three cases in a row, or every case
    failed that way; a single timeout or 429 fails only its case).

    \b
    Examples:
      homelab eval tests/evals/intents.yml
      homelab eval tests/evals/intents.yml --model ollama/qwen2.5 --format json
      homelab eval tests/evals/intents.yml --min-pass-rate 0.85
    """
    from planner.planning.choose import choose
    from planner.planning.evaluation import PassRateTooLow, evaluate, load_cases, render
    from planner.workspace import Workspace

    ws = Workspace.find(inventory)
    cases = load_cases(Path(file))
    planner = choose(ws.root, model)
    err = console(stderr=True)
    err.print(f"Scoring {len(cases)} case(s) with the {planner.name} planner; nothing is checked or run on hosts.")

    def on_case(number: int, total: int, case) -> None:
        if err.is_terminal:
            err.print(f"[dim]  {number}/{total} {case.id}[/dim]")

    report = evaluate(ws, cases, planner, source=file, on_case=on_case)
    if fmt == "json":
        print_json(report.as_dict())
    else:
        render(report, console())
    if min_pass_rate is not None and report.pass_rate < min_pass_rate:
        failed = ", ".join(r.case.id for r in report.failures())
        raise PassRateTooLow(f"pass rate {report.pass_rate:.1%} is below --min-pass-rate {min_pass_rate:.1%}",
                             f"failing cases: {failed}; run without --format json to see what each drafted")
