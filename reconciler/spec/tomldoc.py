"""TOML spec files to Python values, with the standard library, and where their keys are written.

tomllib gives values without positions, so a line scanner maps dotted key paths to lines: every
entry's name (each needs its line) and, when a mistake must be pointed at, the nearest written key.
A file nested past MAX_DEPTH is refused after tomllib reads it (its recursion is bounded by the
interpreter's limit, and a RecursionError is caught); the depth is checked on the value, and a
token scan finds the bracket to point at only then, since it costs as much as a quarter of the
parse. Dotted keys (a.b.c = 1) nest without brackets. Pure.
"""

from __future__ import annotations

import re
from typing import Any, Final

from reconciler.errors import Location, SpecError
from reconciler.spec.limits import MAX_DEPTH, too_deep
from reconciler.spec.positions import PathKey, line_col

_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_toml(path: str, text: str) -> dict[str, Any] | None:
    """The value of a TOML file (None when empty); raises SpecError for a mistake."""
    import tomllib  # imported by the first TOML file to parse (a warm run parses none)

    try:
        value = tomllib.loads(text)
    except RecursionError:  # brackets nested hundreds deep: the scan says where
        raise too_deep(path, *(_too_deep_at(text) or (1, 1))) from None
    except tomllib.TOMLDecodeError as exc:
        deep = _too_deep_at(text)  # a file both too deep and broken is told it is too deep
        if deep is not None:
            raise too_deep(path, *deep) from None
        message = str(exc)
        found = _TOML_AT.search(message)
        line, col = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
        message = _TOML_AT.sub("", message).strip()
        raise SpecError(Location(path, line, col), f"TOML syntax error: {message}") from None
    if _nested_deeper(value, MAX_DEPTH):
        deep = _too_deep_at(text)
        if deep is not None:
            raise too_deep(path, *deep)
        # Dotted keys nest without brackets: a.b.c.d = 1
        lines = text.splitlines() or [""]
        deepest = max(range(len(lines)), key=lambda n: lines[n].split("=")[0].count("."))
        raise too_deep(path, deepest + 1, 1)
    return value or None


_TOML_TOKENS = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]', re.S
)


def _too_deep_at(text: str) -> tuple[int, int] | None:
    """Where arrays or inline tables first nest past MAX_DEPTH (tomllib recurses into them)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None  # the common case: too few brackets to be too deep, no scan
    depth = 0
    for token in _TOML_TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line_col(text, token.start())
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


def _nested_deeper(value: Any, limit: int) -> bool:
    """Whether lists and mappings nest more than `limit` deep (iterative: the value may be deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


_TOML_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_TOML_KEY = re.compile(r"""^(\s*)("[^"]*"|'[^']*'|[A-Za-z0-9_.\-/"' ]+?)\s*=""")


def _dotted(text: str) -> list[str]:
    parts: list[str] = []
    for found in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([^.\s"\']+)', text):
        parts.append(next(g for g in found.groups() if g is not None))
    return parts


def _positions(text: str, *, entries_only: bool = False) -> dict[PathKey, tuple[int, int]]:
    """Dotted key path -> (line, col) for table headers and `key = value` lines.

    With `entries_only` (every file, for its entries' lines) a key line is looked at only where it
    could name an entry (at the top or right under [videos]) or open a multi-line string: the
    paths `("videos", name)` come out the same, at a fraction of the cost.
    """
    out: dict[PathKey, tuple[int, int]] = {}
    table: tuple[str, ...] = ()
    in_multiline = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if raw.count('"""') % 2 == 1 or raw.count("'''") % 2 == 1:
                in_multiline = False
            continue
        header = _TOML_HEADER.match(raw) if raw.lstrip().startswith("[") else None
        if header:
            table = tuple(_dotted(header.group(1)))
            out.setdefault(table, (number, raw.index("[") + 1))
            continue
        if entries_only and table not in _ENTRY_TABLES and '"""' not in raw and "'''" not in raw:
            continue
        pair = _TOML_KEY.match(raw)
        if pair:
            path = table + tuple(_dotted(pair.group(2)))
            out.setdefault(path, (number, len(pair.group(1)) + 1))
            rest = raw[pair.end() :]
            if rest.count('"""') == 1 or rest.count("'''") == 1:
                in_multiline = True
    return out


_ENTRY_TABLES: Final = ((), ("videos",))  # where a key line can name an entry: videos.name = or name =


def toml_entry_lines(text: str) -> dict[str, tuple[int, int]]:
    """Entry name -> (line, col) of its `[videos.name]` header or `videos.name... =` line."""
    return {
        path[1]: where
        for path, where in _positions(text, entries_only=True).items()
        if len(path) == 2 and path[0] == "videos" and isinstance(path[1], str)
    }


def toml_locate(text: str, keys: PathKey) -> tuple[int, int]:
    """Where the value at `keys` is written, or the nearest written key above it; (1, 1) if none."""
    positions = _positions(text)
    path = tuple(str(k) for k in keys if not isinstance(k, int))
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return (1, 1)
