"""Per-key rate limiting: a token bucket refilled by the server clock.

The bucket reads the same clock as the jobs, so in virtual time a test decides exactly when a
limited key may call again; `Retry-After` is the whole number of seconds until the next token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mockserver.config import RateLimit


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by API key, shaped by the live `RateLimit` configuration."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def reset(self) -> None:
        self._buckets.clear()

    def take(self, key: str, *, limit: RateLimit, now: float) -> int | None:
        """Spend one token; None when allowed, else the seconds to wait before retrying."""
        if limit.per_minute is None:
            return None
        rate = limit.per_minute / 60.0
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
        bucket.tokens = min(float(limit.burst), bucket.tokens + max(0.0, now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))
