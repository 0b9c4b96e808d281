"""Videos the account already paid for are adopted, not bought again.

Before a create is submitted (under its claim, so nobody else submits the key meanwhile), the
account's request history is asked for a COMPLETED request of the same model whose body resolves,
through the catalog, to the same key: defaults filled in and values coerced, so a request made by
the official client or a teammate's script counts. The history is read once per model per run
(every page of the last 30 days, the most the service answers), shared by every generation of
that model; a key that already had a request id (an expired result, a failed download) never
adopts that request again.

The adopted request is recorded as this attempt's request id and as COMPLETED, and the engine's
usual path fetches it: the result if the API still has it, else the history row's video link. A
video that no longer downloads marks the attempt EXPIRED, and the next round submits afresh.
Adoption never blocks a purchase it cannot replace: a history that cannot be read is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping

from reconciler import catalog, keys
from reconciler.api.answers import HistoryRow
from reconciler.api.client import SegmindApi
from reconciler.engine.history import MAX_WINDOW_S, _body, _parse_time
from reconciler.engine.pacer import Pacer
from reconciler.errors import ApiAuthError, ApiError


def row_key(namespace: str, row: HistoryRow) -> str | None:
    """The key a history row's request resolves to, None when it does not resolve cleanly."""
    model = catalog.BY_SLUG.get(row.model)
    body = _body(row.request_body)
    if model is None or not isinstance(body, dict):
        return None
    params, problems = catalog.check(model, body, fill_defaults=True)
    if problems:
        return None
    return keys.request_key(namespace, row.model, params)


def index(namespace: str, rows: Iterable[HistoryRow]) -> dict[str, list[HistoryRow]]:
    """COMPLETED rows by the key they resolve to, newest first."""
    found: dict[str, list[HistoryRow]] = {}
    for row in rows:
        if row.status.upper() != "COMPLETED" or not row.request_id:
            continue
        key = row_key(namespace, row)
        if key is not None:
            found.setdefault(key, []).append(row)
    for rows_of_key in found.values():
        rows_of_key.sort(key=lambda row: -(_parse_time(row.created_at) or 0.0))
    return found


class Adoptions:
    """The history of each model, read at most once per run, by whoever asks first."""

    def __init__(self, *, api: SegmindApi, pacer: Pacer, namespace: str) -> None:
        self._api = api
        self._pacer = pacer
        self._namespace = namespace
        self._by_model: dict[str, asyncio.Task[dict[str, list[HistoryRow]]]] = {}
        self.queries = 0  # history reads started (one per model per run)

    async def _read(self, model: str) -> dict[str, list[HistoryRow]]:
        now = self._pacer.clock.now()
        self.queries += 1
        rows = await self._pacer.call(lambda: self._api.history(model=model, since=now - MAX_WINDOW_S, until=now))
        return index(self._namespace, rows)

    async def find(self, model: str, key: str, *, known: Collection[str]) -> HistoryRow | None:
        """The newest COMPLETED request of `key` not in `known`; None when there is none or no history to read."""
        task = self._by_model.get(model)
        if task is None:  # a failed read is not retried this run: one query per model, whatever happens
            task = self._by_model[model] = asyncio.ensure_future(self._read(model))
        try:
            found = await asyncio.shield(task)
        except ApiAuthError:
            raise
        except ApiError:
            return None  # adoption saves money when it can; it never stands between a spec and its video
        for row in found.get(key, ()):
            if row.request_id not in known:
                return row
        return None


def describe(row: HistoryRow) -> str:
    when = f" of {row.created_at}" if row.created_at else ""
    return f"adopted request {row.request_id}{when} from the account's history (nothing paid)"


async def lookup(
    api: SegmindApi, *, namespace: str, wanted: Mapping[str, Collection[str]], now: float
) -> dict[str, str]:
    """For plan --refresh: the keys of `wanted` (model -> keys) the history can answer, and the request of each.

    One history read per model, as apply does; an unreachable history raises (plan says so).
    """
    found: dict[str, str] = {}
    for model, model_keys in wanted.items():
        rows = index(namespace, await api.history(model=model, since=now - MAX_WINDOW_S, until=now))
        for key in model_keys:
            if rows.get(key):
                found[key] = rows[key][0].request_id
    return found
