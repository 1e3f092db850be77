"""The ``homelab`` command line: parse, call the library, render.

Start-up time matters (``homelab --help`` must answer in well under 0.2 s), so
this module imports only click. Each command lives in ``planner.commands.<name>``
and is imported when it is invoked, so litellm, ansible_runner, ruamel.yaml and
rich load only where they are used.
"""

from __future__ import annotations

import importlib
import sys

import click

from planner.errors import ExitCode, HomelabError

# name -> (module, attribute, one-line help shown by `homelab --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "lab": ("planner.commands.lab", "lab", "Start, stop and reach the sandbox lab."),
    "catalog": ("planner.commands.catalog", "catalog", "List the vetted playbooks a plan may use."),
    "history": ("planner.commands.history", "history", "Read the session logs: plans, decisions, applies."),
    "inventory": ("planner.commands.inventory", "inventory", "Check the inventory people keep by hand."),
    "plan": ("planner.commands.plan", "plan", "Plan catalog playbooks and review them in check mode."),
    "apply": ("planner.commands.apply", "apply", "Apply a reviewed plan, exactly as reviewed."),
    "drift": ("planner.commands.drift", "drift", "Compare what is documented with what was discovered."),
    "docs": ("planner.commands.docs", "docs", "Regenerate the markdown docs from inventory, facts and catalog."),
    "facts": ("planner.commands.facts", "facts", "Read the hosts; write what they are into the inventory."),
    "revise": ("planner.commands.revise", "revise", "Revise a plan with an amendment in plain words."),
    "plans": ("planner.commands.plans", "plans", "List saved plans."),
    "policy": ("planner.commands.policy", "policy", "Check the approval policy, and whether it covers a plan."),
    "schedule": ("planner.commands.schedule", "schedule", "List scheduled applies; cancel one before it fires."),
    "show": ("planner.commands.plans", "show", "Show a saved plan and its review in any format."),
    "eval": ("planner.commands.eval", "eval_", "Score a planner against golden intents."),
    "rca": ("planner.commands.rca", "rca", "Write an incident review from a diagnosis and its fix; validate one."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when run (or asked for help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the static help lines so `--help` imports no command module.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="homelab-planner", prog_name="homelab")
def cli() -> None:
    """Plan, review and apply homelab changes with vetted Ansible playbooks.

    \b
    Examples:
      homelab lab up                 # start the sandbox lab
      homelab catalog                # what a plan may use
      homelab inventory validate     # check the hand-kept inventory
      homelab plan -p apply_baseline # review a change in check mode
      homelab apply                  # apply the latest plan, as reviewed
    """


def report_error(err: HomelabError) -> None:
    """Print an error as aligned ``Error:`` / ``Hint:`` lines on stderr."""
    click.secho(f"Error: {err.message}", fg="red", err=True)
    for detail in err.details:
        click.echo(f"  - {detail}", err=True)
    if err.hint:
        click.echo(f"Hint:  {err.hint}", err=True)
    sys.stderr.flush()
    for say in err.said_after:
        say()
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``homelab`` console script."""
    try:
        # standalone_mode=False lets typed errors reach us; click returns the
        # exit code of ctx.exit() (e.g. after --help) instead of raising.
        rv = cli.main(args=argv, prog_name="homelab", standalone_mode=False)
    except HomelabError as err:
        report_error(err)
        sys.exit(int(err.exit_code))
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.ClickException as err:
        # Click's own wording, in the tool's Error:/Hint: shape.
        ctx = getattr(err, "ctx", None)
        path = ctx.command_path if ctx is not None else "homelab"
        hint = f"see `{path} --help` for the options and examples"
        if isinstance(err, click.UsageError) and "No such command" in err.format_message():
            from planner.errors import did_you_mean

            wrong = err.format_message().split("'")[1] if "'" in err.format_message() else ""
            close = did_you_mean(wrong, list(COMMANDS)).strip(" ()")
            hint = (close[0].upper() + close[1:] + " " if close else "") + f"`{path} --help` lists the commands"
        report_error(HomelabError(err.format_message().rstrip("."), hint))
        sys.exit(int(ExitCode.USAGE) if err.exit_code == 2 else err.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    sys.exit(rv if isinstance(rv, int) else 0)
