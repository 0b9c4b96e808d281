"""How a FileResult is kept in the parse cache: plain values for `marshal`, and back.

    FileResult --encode--> bytes of tuples, strings, numbers --decode--> FileResult

A file's finished entries come back as SpecEntries whose parameters stay encoded until read
(`EncodedParams`): planning reads only `params_json` and the keys derived from it.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.errors import Location, SpecError
from reconciler.records import maker
from reconciler.spec.values import FileEntry, FileResult, PartialEntry, SpecEntry, SpecWarning


def _where(where: Location) -> tuple[str, int, int]:
    return (where.path, where.line, where.col)


def encode(result: FileResult) -> bytes:
    """A FileResult as marshal bytes of plain tuples; ValueError when a value cannot be kept."""
    # One object for equal tag lists: marshal writes it once, and decoding makes one tuple, not one per entry.
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    entries = tuple(_plain(entry, shared.setdefault(entry.tags, entry.tags)) for entry in result.partials)
    errors = tuple((_where(e.where), e.message, e.hint) for e in result.errors)
    warnings = tuple((_where(w.where), w.message) for w in result.warnings)
    return marshal.dumps((entries, errors, warnings))


def decode(record: bytes) -> FileResult:
    entries, errors, warnings = marshal.loads(record)
    return FileResult(
        partials=tuple(map(_entry, entries)),
        errors=tuple(SpecError(Location(*where), message, hint) for where, message, hint in errors),
        warnings=tuple(SpecWarning(Location(*where), message) for where, message in warnings),
    )


_FINISHED, _PARTIAL = 0, 1
_spec_entry, _location = maker(SpecEntry), maker(Location)


def _plain(entry: FileEntry, tags: tuple[str, ...]) -> tuple[Any, ...]:
    if isinstance(entry, SpecEntry):
        assert not entry.images  # a file's own entries name no local file
        params = entry.params.encoded if isinstance(entry.params, EncodedParams) else marshal.dumps(dict(entry.params))
        return (_FINISHED, entry.name, entry.model, params, entry.params_json, tags, _where(entry.where),
                dict(entry.keys))  # fmt: skip
    refs = tuple((param, written, _where(spot)) for param, written, spot in entry.image_refs)
    return (_PARTIAL, entry.name, entry.model, entry.params, tags, _where(entry.where), refs)


def _entry(fields: tuple[Any, ...]) -> FileEntry:
    if fields[0] == _FINISHED:
        _, name, model, params, params_json, tags, where, keys = fields
        # Each made from one tuple in its field order: a warm plan of 100,000 specs makes 100,000 of each.
        return _spec_entry((name, model, EncodedParams(params), params_json, tags, _location(where), (), keys))
    _, name, model, params, tags, where, refs = fields
    image_refs = tuple((param, written, Location(*spot)) for param, written, spot in refs)
    return PartialEntry(name, model, params, tags, Location(*where), image_refs)


class EncodedParams(Mapping[str, Any]):
    """A cached entry's parameters, kept as marshal bytes until first read.

    The key is made of `params_json`, so planning never reads the parameters themselves: a warm
    plan of 100,000 specs decodes none of them (and keeps 100,000 small byte strings instead of
    100,000 dictionaries). Apply, the report and the lock read them as any mapping.
    """

    __slots__ = ("_decoded", "encoded")

    def __init__(self, encoded: bytes) -> None:
        self.encoded = encoded
        self._decoded: dict[str, Any] | None = None

    def _params(self) -> dict[str, Any]:
        if self._decoded is None:
            self._decoded = marshal.loads(self.encoded)
        return self._decoded

    def __getitem__(self, name: str) -> Any:
        return self._params()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params())

    def __len__(self) -> int:
        return len(self._params())

    def __eq__(self, other: object) -> bool:
        return self._params() == (dict(other) if isinstance(other, Mapping) else other)

    __hash__ = None  # type: ignore[assignment]  # a mapping, like dict

    def __repr__(self) -> str:
        return repr(self._params())
