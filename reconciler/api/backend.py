"""Which API a run talks to: the real Segmind API, or the bundled fake served in process (`--mock`).

    with connect(Backend(mock=True)) as endpoint:
        async with endpoint.client() as api: ...

A `Backend` is checked when it is built (a missing or malformed key, a bad URL: one sentence
each), so the command line finds a bad setting before it plans or claims anything. `Endpoint`
carries everything that differs between the two: the URLs, the key, the namespace the videos are
kept under (so a fake's video never satisfies a spec against the real API) and how fast jobs are
expected to run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from reconciler import keys
from reconciler.api.client import DEFAULT_BASE_URL, SegmindApi
from reconciler.api.embedded import MOCK_KEY, MOCK_TIME_SCALE, embedded_fake
from reconciler.api.origins import api_root, check_key
from reconciler.errors import UsageError


@dataclass(frozen=True)
class Backend:
    """The backend options of the command line."""

    mock: bool = False
    api_key: str | None = None
    base_url: str | None = None
    history_url: str | None = None
    upload_url: str | None = None
    latency_scale: float | None = None  # None: learned on the backend (the fake's own scale with --mock)

    def __post_init__(self) -> None:
        # Checked once, where it is built: a Backend that exists is one a request would not fail on.
        self._check()

    def _check(self) -> None:
        """Refuse settings a request would fail on, before the engine claims anything (one sentence each)."""
        if self.mock:
            return
        if not self.api_key:
            raise UsageError("no API key: set SEGMIND_API_KEY (or run against the bundled fake with --mock)")
        check_key(self.api_key, setting="SEGMIND_API_KEY / --api-key")
        for value, setting in (
            (self.base_url, "SEGMIND_BASE_URL / --base-url"),
            (self.history_url, "SEGMIND_HISTORY_URL / --history-url"),
            (self.upload_url, "SEGMIND_UPLOAD_URL / --upload-url"),
        ):
            if value:  # empty means the default, as in connect()
                api_root(value, setting=setting)


@dataclass(frozen=True)
class Endpoint:
    api_key: str
    base_url: str
    history_url: str | None
    upload_url: str | None
    namespace: str
    latency_scale: float | None  # how fast jobs are known to run against the catalog; None: to be learned

    def client(self) -> SegmindApi:
        return SegmindApi(
            api_key=self.api_key, base_url=self.base_url, history_url=self.history_url, upload_url=self.upload_url
        )


@contextmanager
def connect(backend: Backend) -> Iterator[Endpoint]:
    """The endpoint of `backend`; for --mock, a fake served from this process until the block ends."""
    if backend.mock:
        with embedded_fake() as url:
            yield Endpoint(MOCK_KEY, url, url, url, keys.MOCK, backend.latency_scale or MOCK_TIME_SCALE)
        return
    yield Endpoint(
        api_key=backend.api_key or "",
        base_url=backend.base_url or DEFAULT_BASE_URL,
        history_url=backend.history_url,
        upload_url=backend.upload_url,
        namespace=keys.SEGMIND,
        latency_scale=backend.latency_scale,
    )
