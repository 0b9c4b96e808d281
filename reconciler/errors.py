"""The one error tree of the reconciler. Every error a user can cause or meet is one of these.

    ReconcilerError                 str(error) is a full sentence a user can act on
    ├── SpecError                   one mistake in one spec file, with file:line:col and a hint
    ├── SpecErrors                  every SpecError of a run, reported together
    ├── UsageError                  a bad command line (unknown target, conflicting options)
    ├── StoreError                  the local store cannot be read or written
    │   ├── StoreBusyError          another process held the store's write lock for too long
    │   ├── StoreVersionError       the store was written by a newer (or unknown) version
    │   ├── BlobRejectedError       a blob was refused before becoming an object (too big, truncated)
    │   ├── AttemptStateError       an attempt cannot move to the requested state (e.g. it was taken over)
    │   └── OutputNameError         an output name would escape out/ or collide with a directory
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

    def __reduce__(self) -> tuple[type[SpecError], tuple[Location, str, str | None]]:
        # Spec errors are cached with the file that has them; rebuild them from their parts.
        return (SpecError, (self.where, self.message, self.hint))

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

    exit_code = 1  # never 2: `plan --detailed-exitcode` uses 2 for "changes"


class StoreError(ReconcilerError):
    """The local store is unreadable, unwritable, or from a newer version."""


class ApiError(ReconcilerError):
    """The API answered with an error or could not be reached; subclasses come with the client."""


class StoreBusyError(StoreError):
    """Another process kept the store's write lock longer than we are willing to wait."""


class StoreVersionError(StoreError):
    """The store's schema is newer than this version understands, or it is not a reconciler store."""


class BlobRejectedError(StoreError):
    """Bytes were refused before becoming an object: larger than allowed or not the expected size."""


class AttemptStateError(StoreError):
    """An attempt cannot make the requested move (unknown id, terminal state, taken over)."""


class OutputNameError(StoreError):
    """An output name is not a safe relative path under the out directory."""
