"""Typed errors that carry a hint and an exit code.

The library raises these; only the CLI turns them into ``Error:`` / ``Hint:``
lines. Exit codes are part of the public interface (README, "Exit codes") and
never change meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum


class ExitCode(IntEnum):
    """Stable process exit codes."""

    OK = 0
    #: Some hosts failed or were unreachable during a run.
    HOSTS_FAILED = 1
    #: Bad input: usage, validation of a file, a variable, a pattern.
    USAGE = 2
    #: The environment cannot do what was asked (missing tool, no root, kernel refuses).
    ENVIRONMENT = 3
    #: A plan was refused (stale inputs, edited plan, lock held).
    REFUSED = 4
    #: Interrupted by the person (Ctrl-C).
    INTERRUPTED = 130


def did_you_mean(name: str, candidates, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string when none is close."""
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


class HomelabError(Exception):
    """Base class: a message for the person, a hint on what to do next."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None, *, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []
        # What the command still has to say once the error itself is said (a refusal comes first: a warning
        # about what its ending could not do follows it).
        self.said_after: list[Callable[[], None]] = []


class HostsFailedError(HomelabError):
    """Some hosts could not be read or changed; the others were."""

    exit_code = ExitCode.HOSTS_FAILED


class ValidationError(HomelabError):
    """One or more problems in a file the person maintains; ``details`` lists each."""


class CatalogError(ValidationError):
    """A catalog meta file or playbook is missing or invalid."""


class InventoryError(ValidationError):
    """The inventory does not parse or documents something inconsistent."""


class LabError(HomelabError):
    """The sandbox lab cannot be started, stopped or reached."""

    exit_code = ExitCode.ENVIRONMENT
