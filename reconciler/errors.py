"""The one error tree of the reconciler. Every error a user can cause or meet is one of these.

    ReconcilerError                 str(error) is a full sentence a user can act on
    ├── SpecError                   one mistake in one spec file, with file:line:col and a hint
    ├── SpecErrors                  every SpecError of a run, reported together
    ├── UsageError                  a bad command line (unknown target, conflicting options)
    ├── ReportError                 the report folder cannot be written
    ├── StoreError                  the local store cannot be read or written
    │   ├── StoreBusyError          another process held the store's write lock for too long
    │   ├── StoreDamagedError       state.sqlite is damaged: `verify --rebuild` restores it from the receipts
    │   ├── StoreVersionError       the store was written by a newer (or unknown) version
    │   ├── BlobRejectedError       a blob was refused before becoming an object (too big, truncated)
    │   ├── AttemptStateError       an attempt cannot move to the requested state (e.g. it was taken over)
    │   ├── KeyFailedError          another run or machine failed the key for good after this run planned it
    │   └── OutputNameError         an output name would escape out/ or collide with a directory
    └── ApiError                    the Segmind API answered with an error, or could not be reached
        ├── ApiBadRequest           400 (and other unexpected 4xx): permanent
        ├── ApiAuthError            401/403: fatal, the run stops
        ├── ApiNotFound             404: unknown model, or unknown/expired request id
        ├── ApiInsufficientCredits  406: stop submitting, keep polling
        ├── ApiRateLimited          429: temporary, honour retry_after
        ├── ApiServerError          5xx: temporary
        ├── ApiUnreachable          connection lost, timeout, garbled body: temporary; maybe_sent
        └── ApiUnsafeUrl            a URL not fetched or followed (not https, user@, off-origin redirect): permanent

The CLI turns these into messages and exit codes in one place; nothing below the CLI exits.
Foreign exceptions (yaml, tomllib, OSError) are translated where they are met, chained with `from`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class ReconcilerError(Exception):
    """Root of every error this tool reports to a user."""

    exit_code = 1


class Location(NamedTuple):
    """A place in a spec file; line and col are 1-based, 0 when unknown.

    Immutable; a NamedTuple because every spec carries one (a plan of 100,000 specs makes 100,000).
    """

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


class ReportError(ReconcilerError):
    """The report folder cannot be created or written (`reconciler report`, `watch --report`)."""


class StoreError(ReconcilerError):
    """The local store is unreadable, unwritable, or from a newer version."""


class ApiError(ReconcilerError):
    """The API answered with an error, or could not be reached.

    `temporary`: the same request may succeed later (retry with backoff). `fatal`: nothing else in
    this run can succeed (a bad key). The message always carries the HTTP status and the server's own
    words, never the API key.
    """

    temporary = False
    fatal = False

    def __init__(self, message: str, *, status: int | None = None, server_message: str | None = None) -> None:
        self.status = status
        self.server_message = server_message
        super().__init__(message)


class ApiBadRequest(ApiError):
    """400: the parameters were refused; sending them again cannot help."""


class ApiAuthError(ApiError):
    """401 or 403: the key is missing, wrong or not allowed; the run stops."""

    fatal = True


class ApiNotFound(ApiError):
    """404: an unknown model, or a request id the API does not know (or no longer keeps)."""


class ApiInsufficientCredits(ApiError):
    """406: the account cannot pay for this submit; stop submitting, keep polling what is in flight."""


class ApiRateLimited(ApiError):
    """429: too many requests; wait `retry_after` seconds and slow down."""

    temporary = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, server_message=server_message)
        self.retry_after = retry_after


class ApiServerError(ApiError):
    """500, 502, 504 or another 5xx: the service failed this time."""

    temporary = True


class ApiUnreachable(ApiError):
    """No usable answer: connection refused or lost, timeout, a truncated or garbled body.

    `maybe_sent` is true when the request may have reached the service before the failure, which
    for a paid submit means its outcome is unknown (in doubt), never that it can simply be resent.
    """

    temporary = True

    def __init__(self, message: str, *, maybe_sent: bool) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class ApiUnsafeUrl(ApiError):
    """A URL from the API that is not fetched or followed: an output that is not https (or has a
    user:password@, or another scheme), a redirect off the API's own hosts.

    Nothing was sent to it. Permanent: asking again gets the same URL. A paid job stays recorded
    (a later run, or the request history's link, may give one that can be fetched); a redirected
    submit may have reached the API, so it is settled through the request history like any other.
    """


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ApiBadRequest,
    401: ApiAuthError,
    403: ApiAuthError,
    404: ApiNotFound,
    406: ApiInsufficientCredits,
    429: ApiRateLimited,
}
_MEANING = {
    400: "bad request",
    401: "unauthorized: the API key is missing or invalid",
    403: "forbidden: the key may not do this",
    404: "not found",
    406: "insufficient credits",
    429: "rate limited",
    500: "server error",
    502: "bad gateway",
    504: "gateway timeout",
}


def error_for_status(
    status: int, server_message: str | None, *, what: str, retry_after: float | None = None
) -> ApiError:
    """The one mapping from an HTTP error status to the error tree (pinned by a test)."""
    meaning = _MEANING.get(status, "server error" if status >= 500 else "unexpected answer")
    said = f": {server_message}" if server_message else ""
    message = f"{what}: HTTP {status} {meaning}{said}"
    if status == 429:
        return ApiRateLimited(message, status=status, server_message=server_message, retry_after=retry_after)
    kind = _BY_STATUS.get(status) or (ApiServerError if status >= 500 else ApiBadRequest)
    return kind(message, status=status, server_message=server_message)


class StoreBusyError(StoreError):
    """Another process kept the store's write lock longer than we are willing to wait."""


class StoreDamagedError(StoreError):
    """state.sqlite is damaged (corrupt, truncated, emptied); `verify --rebuild` restores it from the receipts."""


class StoreVersionError(StoreError):
    """The store's schema is newer than this version understands, or it is not a reconciler store."""


class BlobRejectedError(StoreError):
    """Bytes were refused before becoming an object: larger than allowed or not the expected size."""


class AttemptStateError(StoreError):
    """An attempt cannot make the requested move (unknown id, terminal state, taken over)."""


class KeyFailedError(StoreError):
    """A claim refused: another run or machine failed the key for good after this run planned it
    (only --retry-failed buys it again)."""


class OutputNameError(StoreError):
    """An output name is not a safe relative path under the out directory."""
