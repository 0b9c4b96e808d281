"""The journal: every public API request the fake received, oldest first.

Tests read it to prove what a client did on the wire: how many submits reached the server, which
of them created a job, which fault each one met. Control requests (`/_mock/...`) are not
journaled, so reading the journal never changes it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    """One request and what became of it."""

    at: float  # server clock when the request arrived
    method: str
    path: str
    status: int  # the status line sent; for a dropped connection, the one sent before the cut
    created_job: bool  # true exactly when this request created a job
    request_id: str | None  # the job it created or asked about
    body: Any  # the parsed JSON body, or None
    fault: dict[str, str | None] | None  # {"kind": ..., "phase": ...} or None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    """A bounded, append-only log; the oldest entries go first once `limit` is reached."""

    def __init__(self, *, limit: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=limit)
        self.dropped = 0

    def clear(self) -> None:
        self._entries.clear()
        self.dropped = 0

    def resize(self, limit: int) -> None:
        if limit != self._entries.maxlen:
            self._entries = deque(self._entries, maxlen=limit)

    def record(self, entry: Entry) -> None:
        if self._entries.maxlen is not None and len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        self._entries.append(entry)

    def entries(self) -> list[Entry]:
        return list(self._entries)
