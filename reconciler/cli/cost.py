"""`--max-cost USD`: a spending cap is a finite number of dollars, zero or more.

click's FloatRange lets `nan` through (every comparison with it is false, so the cap would never
bite) and `inf` (a cap that caps nothing): both would remove the cap the user asked for.
"""

from __future__ import annotations

import math

import click


class CostCap(click.ParamType[float]):
    name = "usd"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float) and math.isfinite(value) and value >= 0:
            return value
        try:
            usd = float(str(value).strip().removeprefix("$"))
        except ValueError:
            self.fail(f"{value!r} is not an amount of dollars; give a number such as 5 or 2.50", param, ctx)
        if not math.isfinite(usd) or usd < 0:
            self.fail(f"{value!r} is not a cap: give a finite number of dollars, 0 or more", param, ctx)
        return usd


COST_CAP = CostCap()
