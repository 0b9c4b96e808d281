"""Credit balances per API key: reserve at submit, refund when the job fails.

A balance is start + top-ups - every reservation + every refund that is due by now. A failed
job's refund becomes due at its finish time, so the balance, like the job's state, is a pure
function of the clock. Because the reservation is taken in the same synchronous step that checks
the balance, no number of concurrent submits can drive a balance below zero.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from mockserver.jobs import Job, JobState


@dataclass
class _Account:
    top_ups: float = 0.0
    reserved: float = 0.0
    refunds: list[tuple[float, float]] = field(default_factory=list)  # (due at, amount)


class Ledger:
    """Balances of the configured keys; starting credits are read from the live configuration."""

    def __init__(self) -> None:
        self._accounts: defaultdict[str, _Account] = defaultdict(_Account)

    def reset(self) -> None:
        self._accounts.clear()

    def balance(self, key: str, *, start: float, now: float) -> float:
        account = self._accounts.get(key)
        if account is None:
            return start
        due = sum(amount for at, amount in account.refunds if at <= now)
        # Rounded to micro-dollars so float noise never makes a balance of 0 look negative.
        return round(start + account.top_ups - account.reserved + due, 6)

    def charge(self, job: Job) -> None:
        account = self._accounts[job.api_key]
        account.reserved += job.cost_usd
        if job.outcome is JobState.FAILED:
            account.refunds.append((job.finished_at, job.cost_usd))

    def top_up(self, key: str, amount: float) -> None:
        self._accounts[key].top_ups += amount
