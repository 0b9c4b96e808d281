"""The one error tree of the reconciler. Every error a user can cause or meet is one of these.

    ReconcilerError                 str(error) is a full sentence a user can act on
    ├── SpecError                   one mistake in one spec file, with file:line:col and a hint
    ├── SpecErrors                  every SpecError of a run, reported together
    ├── UsageError                  a bad command line (unknown target, conflicting options)
    ├── StoreError                  the local store cannot be read or written
    └── ApiError                    the Segmind API answered with an error, or could not be reached

The CLI turns these into messages and exit codes in one place; nothing below the CLI exits.
Foreign exceptions (yaml, tomllib, OSError) are translated where they are met, chained with `from`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ReconcilerError(Exception):
    """Root of every error this tool reports to a user."""

    exit_code = 1


@dataclass(frozen=True)
class Location:
    """A place in a spec file; line and col are 1-based, 0 when unknown."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        if self.col <= 0:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.col}"


class SpecError(ReconcilerError):
    """One mistake in one spec file."""

    def __init__(self, where: Location, message: str, hint: str | None = None) -> None:
        self.where = where
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.where.path, self.where.line, self.where.col, self.message)


class SpecErrors(ReconcilerError):
    """Every spec mistake found in one run, in file and line order."""

    def __init__(self, errors: Sequence[SpecError]) -> None:
        self.errors = sorted(errors, key=SpecError.sort_key)
        count = len(self.errors)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in spec files")


class UsageError(ReconcilerError):
    """The command line asks for something that cannot be done."""

    exit_code = 2


class StoreError(ReconcilerError):
    """The local store is unreadable, unwritable, or from a newer version."""


class ApiError(ReconcilerError):
    """The API answered with an error or could not be reached; subclasses come with the client."""
