"""Exceptions that carry an exit code, so the CLI maps every failure to the documented codes.

Exit codes: 0 all good, 1 checks failed, 2 bad input or usage, 3 infrastructure error.
Errors are values at the edges (RunResult, outcomes); these exceptions are for bad input and
infrastructure that cannot be reached.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRA = 3


class XchError(Exception):
    """Base class: a message meant for the user, and the exit code the CLI should return."""

    exit_code = EXIT_INFRA

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(XchError):
    """Bad input: an inventory, a manifest, an option. The message names file, item and field.

    `problems` holds the single problems when the error lists several (harness.core.problems), so
    callers can show them one by one without parsing the message.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, problems: tuple = ()) -> None:
        super().__init__(message)
        self.problems = problems


class InfraError(XchError):
    """The harness could not reach or drive something it needs (target, lab, database)."""

    exit_code = EXIT_INFRA


class TransportError(InfraError):
    """A connection to a target failed or broke; the command may or may not have run."""


class HostKeyError(TransportError):
    """A host key was unknown (and trust-on-first-use not allowed) or has changed."""


class LabError(XchError):
    """The local lab could not be built, started or stopped (not root, no binfmt_misc, port taken...)."""

    exit_code = EXIT_INFRA
