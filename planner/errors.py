"""Typed errors that carry a hint and an exit code.

The library raises these; only the CLI turns them into ``Error:`` / ``Hint:``
lines. Exit codes are part of the public interface (README, "Exit codes") and
never change meaning.
"""

from __future__ import annotations

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


class HomelabError(Exception):
    """Base class: a message for the person, a hint on what to do next."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None, *, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []


class ValidationError(HomelabError):
    """One or more problems in a file the person maintains; ``details`` lists each."""


class CatalogError(ValidationError):
    """A catalog meta file or playbook is missing or invalid."""


class InventoryError(ValidationError):
    """The inventory does not parse or documents something inconsistent."""


class LabError(HomelabError):
    """The sandbox lab cannot be started, stopped or reached."""

    exit_code = ExitCode.ENVIRONMENT
