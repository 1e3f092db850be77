"""``homelab revise ID "amendment"``: a new plan from an old one and the person's words."""

from __future__ import annotations

import re

import click

from planner.commands._options import console, inventory_option
from planner.commands._plans import (
    check_output,
    check_request_length,
    review_format_options,
)
from planner.errors import HomelabError

# Words that turn named hosts into hosts to leave out ("delay the k3s nodes", "skip maas", "not on still-fawn").
_EXCLUDING = re.compile(r"\b(delay|postpone|defer|skip|exclude|without|leave out|leave|drop|hold off|hold back|"
                        r"not on|except|but not|later)\b", re.I)


@click.command()
@click.argument("plan_ref", metavar="ID|latest")
@click.argument("amendment")
@click.option("--model", "-m", metavar="MODEL", help="The LLM that revises the plan (default: as for plan).")
@inventory_option("the plan's")
@click.option("--no-check", is_flag=True, help="Validate and save without the check run.")
@review_format_options
def revise(plan_ref: str, amendment: str, model: str | None, inventory: str | None, no_check: bool, fmt: str,
           output: str | None) -> None:
    """Revise a plan with an amendment in plain words; the new plan links to the old one.

    With a model configured, the LLM drafts the revised plan from the original
    request and the amendment. Without one, the amendment is read
    deterministically. Where its words give a new value for a variable the
    plan's steps take from words (their catalog entries' offline extractors),
    the revised plan keeps every step and target and changes only that value,
    with dates resolved ("next weekend" becomes the Saturday and Sunday it
    means). Otherwise amendments that leave hosts out plan the same steps
    without those hosts and add a checklist item to come back to them.

    \b
    Exit codes: 0 revised, 1 hosts failed in the check run, 2 bad input or
    an amendment the offline planner cannot read, 4 refused.

    \b
    Examples:
      homelab revise latest "delay the k3s nodes until next weekend"
      homelab revise 7f3a "skip maas" --format json
      homelab revise latest "trial first"        # answers the plan's tier question
      homelab revise latest "production"         # the k3s entry in place of the trial
    """
    from planner.commands.docs import keeping_docs_current
    from planner.commands.plan import _finish
    from planner.paths import project_root, require_dirs, state_dir
    from planner.plans import planfile
    from planner.plans.progress import Interrupt
    from planner.workspace import Workspace

    state = state_dir(project_root())
    # Before anything is saved or logged (see `homelab plan`): a bad --output, a blocked .homelab/.
    check_output(output)
    check_request_length(amendment, "amendment")
    require_dirs(planfile.plans_dir(state), state / "runs")
    parent = planfile.load(state, plan_ref)
    ws = Workspace.find(inventory or str(project_root() / parent.inputs.inventory))
    interrupt = Interrupt()
    err = console(stderr=True)
    with keeping_docs_current(ws, err) as recorder:  # the revision is logged; the docs made from the log follow
        new = _revised(ws, parent, amendment, model, no_check, interrupt)
        err.print(f"Plan {new.id} revises plan {parent.id}.")
        recorder.log_plan(new, "revise")
        _finish(recorder, new, fmt, output)


def _revised(ws, parent, amendment: str, model: str | None, no_check: bool, interrupt):
    """The new plan: drafted by the LLM with a model, else the parent without the hosts the amendment names."""
    from planner.commands.plan import _title
    from planner.inventory.hosts import load_inventory
    from planner.planning import context
    from planner.planning.choose import choose
    from planner.plans import planfile
    from planner.plans.build import exclude_hosts
    from planner.plans.planfile import ManualItem
    from planner.plans.progress import Progress

    hosts = parent.hosts
    chosen = choose(ws.root, model)
    if chosen.name != "offline":
        from planner.planning.intent import plan_intent

        intent = f"{parent.intent}\nAmendment to the plan above: {amendment}"
        progress = Progress([], f"Revising plan {parent.id} with the LLM planner")
        with interrupt.armed(), progress.shown():
            return plan_intent(ws, intent, chosen, context.build(ws.root, ws.inventory, intent),
                               check=not no_check, on_result=progress.on_result, cancel=interrupt, parent=parent.id,
                               on_event=progress.on_event)
    inv = load_inventory(ws.inventory)
    revised = _tier_settled(ws, parent, amendment, no_check, interrupt)
    if revised is not None:
        return revised
    revised = _with_new_values(ws, parent, amendment, inv, no_check, interrupt)
    if revised is not None:
        return revised
    named = [h for h in context.mentioned_hosts(amendment, list(inv.hosts), inv.group_hosts()) if h in hosts]
    if not hosts:
        raise HomelabError(f"plan {parent.id} targets no host, so there are none to leave out",
                           "plan the request again instead, or configure a model for other amendments")
    if not named or not _EXCLUDING.search(amendment):
        from planner.planning.revision import fillable

        settable = fillable(context.catalog_entries(ws.root), parent.steps)
        values = f" or give a value for {', '.join(settable)}" if settable else ""
        raise HomelabError("the offline planner can only revise a plan by leaving hosts out or by setting a "
                           "variable its steps take from words",
                           f'name the hosts to leave out ("skip maas", "delay the k3s nodes"){values}; plan '
                           f"{parent.id} targets {', '.join(hosts)}. Configure a model for other amendments.")
    later = ManualItem(title=f"Come back to {', '.join(named)}",
                       reason=f"left out of plan {parent.id} on request: {amendment}", rule="revision")
    progress = Progress([], _title(f"Checking plan {parent.id} without {', '.join(named)}",
                                   f"plan {parent.id} without {', '.join(named)}", no_check))
    with interrupt.armed(), progress.shown():
        new = exclude_hosts(ws, parent, ",".join(named), check=not no_check, on_result=progress.on_result,
                            on_event=progress.on_event, cancel=interrupt)
    new = planfile.seal(new.model_copy(update={"manual": [*new.manual, later],
                                                "intent": f"{parent.intent} (revised: {amendment})"}), ws.state)
    planfile.save(new, ws.state)
    return new


def _tier_settled(ws, parent, amendment: str, no_check: bool, interrupt):
    """The parent at the tier the amendment settles ("trial first", "production"); None if it settles none."""
    from datetime import UTC, datetime

    from planner.commands.plan import _title
    from planner.planning import context
    from planner.planning.revision import tier_answer
    from planner.plans.build import make_plan
    from planner.plans.progress import Progress

    answer = tier_answer(context.catalog_entries(ws.root), parent.steps, parent.questions, parent.intent, amendment,
                         datetime.now(UTC).date())
    if answer is None:
        return None
    progress = Progress([], _title(f"Checking plan {parent.id} at tier {answer.tier}",
                                   f"plan {parent.id} at tier {answer.tier}", no_check))
    with interrupt.armed(), progress.shown():
        return make_plan(ws, answer.requests, intent=f"{parent.intent} (revised: {amendment})",
                         planner=parent.planner, parent=parent.id, excluded=list(parent.excluded),
                         manual=list(parent.manual), questions=answer.questions, check=not no_check,
                         on_result=progress.on_result, on_event=progress.on_event, cancel=interrupt)


def _with_new_values(ws, parent, amendment: str, inv, no_check: bool, interrupt):
    """The parent with the variables the amendment sets changed, every step and target kept; None if it sets none."""
    from datetime import UTC, datetime

    from planner.commands.plan import _title
    from planner.planning import context
    from planner.planning.revision import amended_vars
    from planner.plans.build import change_vars
    from planner.plans.progress import Progress

    changes = amended_vars(context.catalog_entries(ws.root), parent.steps, amendment, list(inv.hosts),
                           inv.group_hosts(), datetime.now(UTC).date())
    if not any(changes):
        return None
    said = ", ".join(f"{k}={v}" for c in changes for k, v in c.items())
    progress = Progress([], _title(f"Checking plan {parent.id} with {said}", f"plan {parent.id} with {said}",
                                   no_check))
    with interrupt.armed(), progress.shown():
        return change_vars(ws, parent, changes, f"{parent.intent} (revised: {amendment})", check=not no_check,
                           on_result=progress.on_result, on_event=progress.on_event, cancel=interrupt)
