"""Whether this process is one `reconciler` command from start to end, or a host running commands in it.

The console script (and `python -m reconciler`) enter through `cli.run`, which says so: the
process lives as long as its one command, so what the command keeps (its modules, a plan's
100,000 values) may be frozen out of the cycle collector's sight (`gc.freeze`), and later passes
need not walk it again. A test or a program that calls `cli.main` in-process keeps its collector as
it was: a frozen cycle is never freed, and its finalizers never run.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

_owned = False


def own() -> None:
    """This process runs one command and ends (called by the console script's entry)."""
    global _owned  # noqa: PLW0603  # one fact about the whole process, said once at its start
    _owned = True
    sys.unraisablehook = _unraisable


def _unraisable(unraisable: Any) -> None:
    """A Ctrl-C that lands in a finalizer (an event loop freed as apply ends) is no traceback.

    Python cannot raise it there, so it prints it as "Exception ignored in ..." with a traceback and
    goes on; the command has already been told to stop by the Ctrl-C before it, and says so itself.
    Anything else unraisable is printed as Python would.
    """
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def set_aside() -> None:
    """Freeze what is alive out of the collector's sight, if this process is the command's own."""
    if _owned:
        gc.freeze()
