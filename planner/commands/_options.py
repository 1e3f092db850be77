"""Options shared by several commands, declared once."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

#: What a click option declaration returns: a decorator for a command function.
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def format_option(*choices: str) -> Decorator:
    """``--format`` with the given choices; the first is the default."""
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default=choices[0], show_default=True,
        help=f"Output format: {', '.join(repr(c) for c in choices if c != 'json')} for people, 'json' (on stdout) "
             "for scripts." if "json" in choices else "Output format.",
    )


def inventory_option(default: str = "$HOMELAB_INVENTORY, else inventory/") -> Decorator:
    """``--inventory/-i DIR``; ``default`` says, in the help, which inventory is meant without it.

    The rule itself (the option, then ``$HOMELAB_INVENTORY``, then the project's ``inventory/``) is
    :func:`planner.workspace.chosen_inventory`; apply and revise default to the plan's own instead.
    """
    return click.option("--inventory", "-i", metavar="DIR", help=f"Inventory directory (default: {default}).")


def print_json(data: Any) -> None:
    """Machine-readable output goes to stdout, and only there."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def console(stderr: bool = False):
    """A rich console (imported here, not at start-up); colour only on a TTY."""
    from rich.console import Console

    # Piped output keeps whole table rows on one line instead of rich's 80-column default.
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 160)
