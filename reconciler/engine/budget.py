"""The spending cap of a run (`--max-cost`): estimated cost reserved before each paid submit. Pure.

A submit reserves its model's estimated cost first; the reservation is refunded when nothing was
paid after all (the submit was refused, or positively never made a job). The first submit that
would take the total past the cap is not made, and the run stops submitting.
"""

from __future__ import annotations

from dataclasses import dataclass

_EPSILON = 1e-9  # so a cap of exactly the sum of the estimates lets the last one through


@dataclass
class Budget:
    limit_usd: float | None = None
    reserved_usd: float = 0.0

    def reserve(self, usd: float) -> bool:
        """Take `usd` from the budget; False (and nothing taken) when it would pass the limit."""
        # Written so that a cap of nan refuses (every comparison with nan is false): fail closed.
        if self.limit_usd is not None and not self.reserved_usd + usd <= self.limit_usd + _EPSILON:
            return False
        self.reserved_usd += usd
        return True

    def refund(self, usd: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - usd)

    def describe(self) -> str:
        return f"--max-cost ${self.limit_usd:.2f} reached (est. ${self.reserved_usd:.2f} submitted)"
