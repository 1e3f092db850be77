"""``homelab plan``: validated steps, a check-mode review, a sealed plan file."""

from __future__ import annotations

import click

from planner.commands._options import console, inventory_option
from planner.commands._plans import (
    check_output,
    check_request_length,
    emit,
    review_format_options,
)
from planner.commands.policy import Gate, apply_covered, not_covered, plan_gate
from planner.errors import ExitCode, HomelabError


@click.command()
@click.argument("intent", required=False)
@click.option("--playbook", "-p", "playbooks", multiple=True, metavar="ID",
              help="A catalog playbook to run; repeat for several steps, in order.")
@click.option("--limit", "-l", default="all", show_default=True, metavar="PATTERN",
              help="Ansible host pattern the steps target.")
@click.option("--extra-vars", "-e", "extra", multiple=True, metavar="KEY=VALUE",
              help="A variable for the steps whose playbook declares it (JSON for lists: -e 'k=[\"a\"]').")
@click.option("--exclude", metavar="PATTERN",
              help="Revise: make a new plan from plan INTENT (an id) without the hosts PATTERN selects.")
@inventory_option()
@click.option("--no-check", is_flag=True, help="Validate and save without the check run (cannot be applied).")
@click.option("--model", "-m", metavar="MODEL", help="The LLM that drafts the plan (litellm name, e.g. "
              "openai/gpt-4o-mini, ollama/qwen2.5); default $HOMELAB_MODEL, then .homelab/config.yml; "
              "'offline' forces the offline planner.")
@click.option("--show-prompt", is_flag=True, help="Print exactly what would be sent to the planner, and send nothing.")
@click.option("--auto-approve-policy", "auto_approve", is_flag=True,
              help="Apply the plan right after its review when .homelab/policy.yml covers it (no prompt); "
                   "otherwise save it as usual and say why.")
@review_format_options
def plan(intent: str | None, playbooks: tuple[str, ...], limit: str, extra: tuple[str, ...], exclude: str | None,
         inventory: str | None, no_check: bool, model: str | None, show_prompt: bool, auto_approve: bool, fmt: str,
         output: str | None) -> None:
    """Plan from plain words, or from named catalog playbooks, and review in check mode.

    With INTENT alone a planner drafts the steps: an LLM through litellm
    when a model is configured, else the offline planner. Either way it may
    only choose catalog playbooks and fill their typed variables; the draft
    is validated like any plan. Read-only steps run for real right away
    (their findings are in the review); change steps run with --check --diff
    and wait for `homelab apply`. The plan is saved under .homelab/plans/,
    with a snapshot of every file its runs read (.homelab/objects/): the
    check and every apply run from that snapshot, never from the working
    tree. ANSIBLE_* variables you have set are recorded in the plan, not
    used (ANSIBLE_VAULT_PASSWORD_FILE excepted); an apply where they differ
    is refused.

    \b
    Exit codes: 0 planned, 1 hosts failed in the check run, 2 bad input or
    an invalid draft, 3 the model could not be reached, 4 the planner
    refused (the plan document is still printed and saved). When the
    approval policy applies the plan, apply's codes: 0 applied, 1 hosts
    failed, 4 refused, 130 interrupted; a plan it does not cover is saved
    (exit 0) and the reason is printed and logged.

    \b
    With --auto-approve-policy (or auto_apply: true in .homelab/policy.yml)
    a change plan the policy covers is applied right after its review, as
    `homelab apply` would, and the session log names the rule that approved
    it. `homelab policy check ID` says whether a saved plan is covered.

    \b
    Examples:
      homelab plan "check why k3s-vm-still-fawn seems slow"
      homelab plan "apply the baseline settings to every host" --no-check --format json
      homelab plan "upgrade the network to 2.5GbE" --show-prompt
      homelab plan "deploy ollama for local LLM testing" -e tier=k3s   # override the decision framework
      homelab plan --playbook apply_baseline
      homelab plan "tighten journald" -p apply_baseline -l k3s -e NAME=VALUE   # homelab catalog show lists NAMEs
      homelab plan --exclude k3s latest          # the same plan without the k3s hosts
      homelab plan -p gather_facts --format json
      homelab plan -p apply_baseline -l still-fawn --auto-approve-policy
    """
    from planner.commands.docs import keeping_docs_current
    from planner.paths import require_dirs
    from planner.plans import planfile
    from planner.workspace import Workspace

    ws = Workspace.find(inventory)
    # Before anything is saved or logged: a bad --output or a blocked .homelab/ would otherwise fail
    # only after the plan file and the session entry were written.
    check_output(output)
    gate = None if show_prompt else plan_gate(ws, auto_approve, no_check)
    if not show_prompt:
        require_dirs(planfile.plans_dir(ws.state), ws.state / "runs")
    err = console(stderr=True)
    if not show_prompt:
        from planner.plans import environment

        unused = environment.ignored(environment.recorded())
        if unused:  # recorded in the plan (an apply with other values is refused) but never passed to a run
            err.print(f"Recorded in the plan, not used by its runs: {', '.join(unused)}", markup=False)
    # Every plan is logged, and the docs made from the session log (and from facts a read step found)
    # are regenerated before the command ends.
    with keeping_docs_current(ws, err) as recorder:
        _plan(recorder, intent, playbooks, limit, extra, exclude, no_check, model, show_prompt, fmt, output, gate)


def _plan(recorder, intent: str | None, playbooks: tuple[str, ...], limit: str, extra: tuple[str, ...],
          exclude: str | None, no_check: bool, model: str | None, show_prompt: bool, fmt: str,
          output: str | None, gate: Gate | None) -> None:
    from planner.plans import planfile
    from planner.plans.build import StepRequest, exclude_hosts, make_plan
    from planner.plans.progress import Interrupt, Progress
    from planner.plans.stepcheck import parse_extra_vars

    ws = recorder.ws
    interrupt = Interrupt()
    tier, extra = _tier(extra)
    if exclude:
        if playbooks or extra or tier:
            raise HomelabError("--exclude revises an existing plan; it takes no --playbook or -e",
                               "homelab plan --exclude PATTERN PLAN_ID")
        parent = planfile.load(ws.state, intent or "latest")
        hosts = parent.hosts
        progress = Progress(hosts, _title(f"Checking plan {parent.id} without {exclude}",
                                          f"plan {parent.id} without {exclude}", no_check))
        with interrupt.armed(), progress.shown():
            new = exclude_hosts(ws, parent, exclude, check=not no_check, on_result=progress.on_result,
                                on_event=progress.on_event, cancel=interrupt)
        recorder.log_plan(new, "revise")
        _finish(recorder, new, fmt, output, gate)
        return
    if not playbooks:
        if not intent or not intent.strip():  # whitespace says nothing either
            raise HomelabError("nothing to plan", 'say what you want: homelab plan "check GPU availability on all '
                               'nodes", or name the steps: homelab plan --playbook ID')
        check_request_length(intent)
        if extra or limit != "all":
            raise HomelabError("--limit and -e go with --playbook (of -e, a request takes only tier=…); a planner "
                               "takes hosts and values from the words",
                               'name the hosts in the request ("… on the k3s nodes"), or use --playbook ID')
        _plan_from_words(recorder, intent, model, show_prompt, no_check, fmt, output, interrupt, tier, gate)
        return
    from planner.catalog.entries import load_catalog
    from planner.config import settings
    from planner.planning.fixed import given_or_fixed

    catalog = load_catalog(ws.root)
    given = parse_extra_vars(extra)
    requests = []
    claimed: set[str] = set()
    configured = settings(ws.root) if any(catalog.get(pb).fixed for pb in playbooks) else {}
    for pb in playbooks:
        entry = catalog.get(pb)
        mine = {k: v for k, v in given.items() if k in entry.options}
        claimed |= set(mine)
        # What the configuration fixes (the GitOps repository) comes from it unless -e gives it.
        requests.append(StepRequest(pb, limit, given_or_fixed(entry.fixed, mine, configured),
                                    rationale="named on the command line"))
    unclaimed = {k: v for k, v in given.items() if k not in claimed}
    if unclaimed:
        # Let validation of the first step name it, with its "did you mean".
        requests[0] = StepRequest(requests[0].playbook, limit, {**requests[0].vars, **unclaimed},
                                  requests[0].rationale)
    manual: list = []  # the deployments -e tier=manual turned into checklist items
    if tier is not None:
        from planner.planning.context import catalog_entries
        from planner.planning.intent import named_at_tier

        requests, manual = named_at_tier(catalog_entries(ws.root), requests, tier)
    text = (intent or "").strip() or " then ".join(playbooks) + ("" if limit == "all" else f" on {limit}")
    hosts_hint = [limit]
    progress = Progress([], _title(f"Reviewing in check mode ({', '.join(playbooks)} on {', '.join(hosts_hint)})",
                                   f"{', '.join(playbooks)} on {', '.join(hosts_hint)}", no_check))
    with interrupt.armed(), progress.shown():
        made = make_plan(ws, requests, intent=text, manual=manual, check=not no_check,
                         on_result=progress.on_result, on_event=progress.on_event, cancel=interrupt)
    recorder.log_plan(made, "plan")
    _finish(recorder, made, fmt, output, gate)


def _tier(extra: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """``-e tier=…`` taken out of the -e pairs: the decision framework's override, never passed to Ansible."""
    from planner.planning.framework import parse_tier

    said = [p.partition("=")[2] for p in extra if p.partition("=")[0].strip() == "tier"]
    if len(set(said)) > 1:
        raise HomelabError(f"-e tier is given {len(said)} times, differently", "give one tier: -e tier=k3s")
    rest = tuple(p for p in extra if p.partition("=")[0].strip() != "tier")
    return (parse_tier(said[0]) if said else None), rest


def _plan_from_words(recorder, intent: str, model: str | None, show_prompt: bool, no_check: bool, fmt: str,
                     output: str | None, interrupt, tier: str | None = None, gate: Gate | None = None) -> None:
    from planner.planning import context
    from planner.planning.choose import choose
    from planner.planning.intent import plan_intent
    from planner.plans.progress import Progress

    ws = recorder.ws
    err = console(stderr=True)
    pack = context.build(ws.root, ws.inventory, intent)
    chosen = choose(ws.root, model)
    if show_prompt:
        from planner.planning.prompt import render_prompt

        click.echo(render_prompt(chosen, pack))
        err.print(f"Nothing was sent. Context: {pack.size_chars} characters, about {pack.tokens_estimate} tokens "
                  f"(budget {pack.budget_tokens}); {pack.dropped_for_budget} memory item(s) left out for the budget.")
        return
    if chosen.name == "offline":
        err.print("[dim]Offline planner (no model configured): set --model, $HOMELAB_MODEL or `model:` in "
                  ".homelab/config.yml to plan with an LLM.[/dim]")
    progress = Progress([], f"Planning with the {chosen.name} planner")
    with interrupt.armed(), progress.shown():
        made = plan_intent(ws, intent, chosen, pack, check=not no_check, on_result=progress.on_result,
                           on_event=progress.on_event, cancel=interrupt, tier=tier)
    recorder.log_plan(made, "plan")
    if made.refusal is not None and not made.steps:
        emit(made, fmt, output)
        recorder.log_event("refusal", f"The {made.planner} planner refused: {made.refusal.reason}", made,
                           decision="refused by the planner")
        closest = ", ".join(made.refusal.closest) or "none"
        raise PlannerRefused(f"the planner refused: {made.refusal.reason}",
                             f"closest catalog entries: {closest}; `homelab catalog` lists what a plan can do")
    _finish(recorder, made, fmt, output, gate)


def _title(checking: str, what: str, no_check: bool) -> str:
    """The progress line: with --no-check nothing is reviewed or checked, so say what really happens."""
    return f"Validating {what} (no check run: --no-check)" if no_check else checking


class PlannerRefused(HomelabError):
    """The planner would not plan this request (destructive, outside the catalog, or too unclear)."""

    exit_code = ExitCode.REFUSED


def _finish(recorder, made, fmt: str, output: str | None, gate: Gate | None = None) -> None:
    decision = gate.decide(made) if gate is not None and any(s.risk == "change" for s in made.steps) else None
    if gate is not None and decision is not None and decision.covered:
        # Applied now through apply's own path: its checks, output and exit codes are apply's.
        apply_covered(recorder, made, decision, gate, fmt, output)
        return
    written = emit(made, fmt, output)
    err = console(stderr=True)
    for path in written:
        err.print(f"Wrote {path}")
    if not made.steps:
        err.print(f"Plan {made.id} saved: a checklist for you; nothing for the tool to run.")
    elif made.review.skipped:
        # --no-check: nothing ran, and apply refuses a plan without a review; say so instead of
        # "it ran during review" or "apply it with".
        err.print(f"Plan {made.id} saved without a check run (--no-check): nothing ran on any host, and it "
                  "cannot be applied. Plan again without --no-check to review it.")
    elif any(s.risk == "change" for s in made.steps):
        err.print(f"Plan {made.id} saved. Apply it with: homelab apply {made.id}")
    else:
        err.print(f"Plan {made.id} saved (read-only: it ran during review; nothing to apply).")
    if decision is not None and gate is not None:
        not_covered(recorder, made, decision, gate)
    failed = any(s.failed or s.unreachable for r in made.review.steps for s in r.hosts.values())
    if any(r.error for r in made.review.steps):
        raise HomelabError(f"the check run of plan {made.id} did not finish", "see the output above")
    if failed:
        raise SystemExit(int(ExitCode.HOSTS_FAILED))
