"""Spec files as documents: bytes in, plain data plus a way to point at any key or value out.

    bytes --limits, UTF-8--> text --by suffix: yamldoc (rapidyaml) | tomldoc (tomllib)--> Document
    Document.at(keys) --entry names: a line scan | anything else: positions (PyYAML's composer)--> file:line

This module holds the shared document value and the dispatch by suffix; each format's parse, and
the positions of its keys, live in their own module. Neither parser reports positions of values,
so entry names are found by a cheap line scan (every entry needs its line) and anything else only
when a file has a mistake to point at. Pure: reads no files itself. The limits a hostile file is
refused by are in `limits`, and the suffixes of spec files in `discovery` (both re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import Location, SpecError
from reconciler.spec.discovery import SUFFIXES, TOML_SUFFIXES, YAML_SUFFIXES
from reconciler.spec.limits import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES, too_deep, too_large
from reconciler.spec.positions import PathKey, compose, compose_locate, entry_lines
from reconciler.spec.tomldoc import parse_toml, toml_entry_lines, toml_locate
from reconciler.spec.yamldoc import parse_yaml

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "SUFFIXES",
    "TOML_SUFFIXES",
    "YAML_SUFFIXES",
    "Document",
    "PathKey",
    "parse",
    "too_deep",
    "too_large",
]


@dataclass(frozen=True)
class Document:
    """One parsed spec file: its top-level mapping and the positions of its entries."""

    path: str
    data: dict[str, Any]
    text: str = field(repr=False)
    entry_lines: dict[str, tuple[int, int]] = field(repr=False)
    # The composed PyYAML tree, built at most once and only when a mistake must be pointed at.
    _composed: list[Any] = field(default_factory=list, repr=False, compare=False)

    def composed(self) -> Any:
        if not self._composed:
            self._composed.append(compose(self.text))
        return self._composed[0]

    def at(self, keys: PathKey, *, key: bool = False) -> Location:
        """Where the value at `keys` (or, with `key`, its key) is written; best effort, never raises."""
        if key and len(keys) == 2 and keys[0] == "videos":
            # Every entry asks for its name's line: answered from the scan, in YAML and TOML alike.
            found = self.entry_lines.get(keys[1])  # type: ignore[arg-type]
            if found is not None:
                return Location(self.path, *found)
        line, col = _locate(self, keys, key=key)
        return Location(self.path, line, col)


def parse(path: str, data: bytes) -> Document:
    """Parse a spec file's bytes; raises SpecError for anything that is not a usable spec file."""
    if len(data) > MAX_FILE_BYTES:
        raise too_large(path, len(data))
    text = _decode(path, data)
    top: Any
    if path.endswith(TOML_SUFFIXES):
        top = parse_toml(path, text)
        lines = toml_entry_lines(text)
    else:
        top = parse_yaml(path, data, text)
        lines = entry_lines(text)
    if top is None:
        raise SpecError(Location(path, 1, 1), "file is empty", "add a `videos:` mapping of name to entry, or delete it")
    if not isinstance(top, dict):
        kind = "a list" if isinstance(top, list) else "a single value"
        raise SpecError(
            Location(path, 1, 1),
            f"top level is {kind}, not a mapping",
            "a spec file is a mapping with `videos:` (and optionally `defaults:`)",
        )
    return Document(path=path, data=top, text=text, entry_lines=lines)


def _decode(path: str, data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SpecError(Location(path), "file is binary, not a text spec file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(Location(path, line, col), "file is not valid UTF-8 text", "save it as UTF-8") from None
    return text.removeprefix("\ufeff")


def _locate(doc: Document, keys: PathKey, *, key: bool) -> tuple[int, int]:
    if doc.path.endswith(TOML_SUFFIXES):
        return toml_locate(doc.text, keys)
    entry = keys[1] if len(keys) >= 2 and keys[0] == "videos" and isinstance(keys[1], str) else None
    if entry is not None and len(keys) == 2 and key and entry in doc.entry_lines:
        return doc.entry_lines[entry]  # the common case (every entry has one): no composing
    found = compose_locate(doc.composed(), keys, key=key)
    if found is not None:
        return found
    if entry is not None and entry in doc.entry_lines:
        return doc.entry_lines[entry]
    return (1, 1)
