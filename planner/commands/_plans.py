"""Rendering a plan in the format asked for; shared by plan, show and apply."""

from __future__ import annotations

from pathlib import Path

import click

from planner.commands._options import console, print_json

FORMATS = ("text", "json", "markdown", "html")


def review_format_options(func):
    """``--format`` and ``--output`` for commands that print a plan."""
    func = click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
                        help="Write the rendering to this file instead of stdout (markdown: FILE, FILE-2.md, … "
                             "when split).")(func)
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                        help="text for people, json for scripts, markdown for a pull-request comment, html for a "
                             "browser.")(func)


def check_output(output: str | None) -> None:
    """Refuse an ``--output`` that cannot be written (exit 2).

    Commands that save a plan or log a session call this before doing either, so a mistyped path
    leaves nothing behind; ``emit`` calls it again in case the directory went away meanwhile.
    """
    if output is None:
        return
    import os

    from planner.errors import HomelabError

    parent = Path(output).resolve().parent
    if not parent.is_dir():
        raise HomelabError(f"cannot write {output}: its directory does not exist",
                           f"create it first (mkdir -p {Path(output).parent}) or choose another --output")
    if not os.access(parent, os.W_OK):
        raise HomelabError(f"cannot write {output}: its directory is not writable",
                           "choose another --output")


#: Longest request or amendment read. A request is a few sentences; details belong in the inventory and the
#: docs, which the planner reads anyway. Without a bound a pasted log would go to the model and the logs.
MAX_REQUEST_CHARS = 2000


def check_request_length(text: str, what: str = "request") -> None:
    """Refuse a request (or amendment) longer than :data:`MAX_REQUEST_CHARS` (exit 2)."""
    if len(text) > MAX_REQUEST_CHARS:
        from planner.errors import HomelabError

        raise HomelabError(f"the {what} is {len(text):,} characters; at most {MAX_REQUEST_CHARS:,} are read",
                           "say it in a few sentences; put details in the inventory or the docs, "
                           "where the planner reads them")


def emit(plan, fmt: str, output: str | None, per_host: bool = False) -> list[Path]:
    """Render ``plan``; returns the files written (none when printed).

    The review is grouped by identical outcome; ``per_host`` renders every task of every host one by
    one instead (``homelab show --host``). JSON is never grouped.
    """
    check_output(output)
    if fmt == "json":
        text_parts = [plan.model_dump_json(indent=2) + "\n"]
    elif fmt == "markdown":
        from planner.render import markdown

        text_parts = markdown.render(plan, per_host=per_host)
    elif fmt == "html":
        from planner.render import html

        text_parts = [html.render(plan)]
    else:
        if output:
            from rich.console import Console

            with open(output, "w") as fh:
                from planner.render import terminal

                terminal.render(plan, Console(file=fh, width=160, no_color=True), per_host=per_host)
            return [Path(output)]
        from planner.render import terminal

        terminal.render(plan, console(), per_host=per_host)
        return []
    if output is None:
        if fmt == "json":
            print_json_text(text_parts[0])
        else:
            click.echo("\n<!-- homelab: next part -->\n".join(text_parts), nl=False)
        return []
    base = Path(output)
    written = []
    for i, part in enumerate(text_parts):
        path = base if i == 0 else base.with_name(f"{base.stem}-{i + 1}{base.suffix}")
        path.write_text(part)
        written.append(path)
    return written


def print_json_text(text: str) -> None:
    """JSON already serialised: to stdout as is."""
    click.echo(text, nl=False)


__all__ = ["FORMATS", "MAX_REQUEST_CHARS", "check_output", "check_request_length", "emit", "print_json",
           "review_format_options"]
