"""The one mapping from HTTP status to the error tree, pinned."""

from __future__ import annotations

import pytest

from reconciler.errors import (
    ApiAuthError,
    ApiBadRequest,
    ApiInsufficientCredits,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    error_for_status,
)

MAPPING = [
    (400, ApiBadRequest, False, False),
    (401, ApiAuthError, False, True),
    (403, ApiAuthError, False, True),
    (404, ApiNotFound, False, False),
    (406, ApiInsufficientCredits, False, False),
    (429, ApiRateLimited, True, False),
    (500, ApiServerError, True, False),
    (502, ApiServerError, True, False),
    (504, ApiServerError, True, False),
    (503, ApiServerError, True, False),
    (418, ApiBadRequest, False, False),
]


@pytest.mark.parametrize(("status", "kind", "temporary", "fatal"), MAPPING)
def test_each_status_maps_to_one_error_class(status: int, kind: type, temporary: bool, fatal: bool) -> None:
    error = error_for_status(status, "the server's words", what="submit to wan2.1-t2v", retry_after=3)
    assert type(error) is kind
    assert (error.temporary, error.fatal, error.status) == (temporary, fatal, status)
    assert str(error).startswith(f"submit to wan2.1-t2v: HTTP {status} ")
    assert str(error).endswith(": the server's words")


def test_rate_limited_keeps_retry_after() -> None:
    error = error_for_status(429, None, what="status", retry_after=2.5)
    assert isinstance(error, ApiRateLimited)
    assert error.retry_after == 2.5
