"""How counts and durations read wherever the reconciler speaks to people. Pure.

plural(3, "file")     "3 files"     plural(1, "paid job")  "1 paid job"
duration(250)         "4 min"       an estimate, in the unit a person would say (s, min, h)
elapsed(100)          "1m40s"       a measured time, to the second, as a run's progress counts it
"""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def elapsed(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
