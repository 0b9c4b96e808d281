"""The limits every spec file is held to, and the sentences that refuse a file past them.

A spec file may come from anyone (a pull request, a shared folder), so the document modules refuse
what could hurt before it can: a file too large to read, values nested deeper than the parsers'
recursion can bear, aliases that expand to billions of nodes. Each limit is far above what a real
spec needs, and each refusal names the file (and its line where there is one) with a fix.
"""

from __future__ import annotations

from typing import Final

from reconciler.errors import Location, SpecError

MAX_FILE_BYTES: Final = 10 * 1024 * 1024
MAX_DEPTH: Final = 64  # a spec needs 5 levels (videos, entry, matrix, parameter, values)
MAX_ALIAS_NODES: Final = 100_000  # nodes that aliases may add to a file, counted before expanding them


def too_large(path: str, size: int) -> SpecError:
    return SpecError(
        Location(path),
        f"file is {size / 1e6:.1f} MB; spec files are limited to {MAX_FILE_BYTES // 2**20} MB",
        "split it into several files",
    )


def too_deep(path: str, line: int, col: int) -> SpecError:
    return SpecError(
        Location(path, line, col),
        f"values are nested more than {MAX_DEPTH} levels deep",
        "a spec needs a handful of levels; flatten it",
    )


def too_many_alias_nodes(path: str, line: int, col: int, added: int) -> SpecError:
    return SpecError(
        Location(path, line, col),
        f"aliases would add {_count(added)} nodes to this file; at most {MAX_ALIAS_NODES:,} are allowed",
        "write the values out, or use fewer nested anchors",
    )


def _count(number: int) -> str:
    return f"{number:,}" if number < 10**15 else f"about 10^{len(str(number)) - 1}"
