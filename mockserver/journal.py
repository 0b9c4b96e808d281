"""The journal: every public API request the fake received, oldest first.

Tests read it to prove what a client did on the wire: how many submits reached the server, which
of them created a job, which fault each one met. Control requests (`/_mock/...`) are not
journaled, so reading the journal never changes it.
"""

from __future__ import annotations

import itertools
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
    """A bounded log in arrival order; the oldest entries go first once `limit` is reached.

    A request takes a ticket when it arrives and is recorded when it is answered, so a slow
    request (a synchronous /v1 call) still reads as older than the polls answered meanwhile.
    """

    def __init__(self, *, limit: int) -> None:
        self._entries: deque[tuple[int, Entry]] = deque(maxlen=limit)
        self._tickets = itertools.count()
        self.dropped = 0

    def clear(self) -> None:
        self._entries.clear()
        self.dropped = 0

    def resize(self, limit: int) -> None:
        if limit != self._entries.maxlen:
            self._entries = deque(self._entries, maxlen=limit)

    def ticket(self) -> int:
        return next(self._tickets)

    def record(self, ticket: int, entry: Entry) -> None:
        if self._entries.maxlen is not None and len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        self._entries.append((ticket, entry))

    def entries(self) -> list[Entry]:
        # Nearly always sorted already, which Python's sort handles in one pass.
        return [entry for _, entry in sorted(self._entries, key=lambda pair: pair[0])]
