"""Specs as they are being edited: every file at its last version that loaded cleanly.

`watch` reloads on every save, and a save is often half a thought (a typo, a half-written file).
`LiveSpecs.reload()` loads each file on its own: a file with a mistake reports its errors and keeps
contributing its last good version, so one bad save never stops or changes the other videos; when
the file is fixed its new version takes over. A file that is deleted takes its videos with it.
A name defined twice across files keeps its first definition and reports the second. Pure but for
reading the spec files (and their images), like `spec.load`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import SpecError
from reconciler.spec.discovery import discover, display_path
from reconciler.spec.files import roots_of
from reconciler.spec.loading import check_unique, load_file
from reconciler.spec.media import finish_entries
from reconciler.spec.values import Derive, ParseCache, SpecEntry, SpecSet, SpecWarning


@dataclass(frozen=True)
class Reloaded:
    specs: SpecSet  # the videos wanted now: good files as they are, broken ones as they last were
    errors: tuple[SpecError, ...]  # every mistake in the files as they are on disk now
    stale: tuple[str, ...]  # files held at their last good version because of those mistakes


@dataclass(frozen=True)
class _Good:
    """A file's last version that loaded cleanly: its finished entries and warnings."""

    entries: tuple[SpecEntry, ...]
    warnings: tuple[SpecWarning, ...]


class LiveSpecs:
    """The spec files under `paths`, reloaded on demand; remembers each file's last good version."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        cache: ParseCache | None = None,
        allow_outside_files: bool = False,
        derive: Derive | None = None,
    ) -> None:
        self.paths = list(paths)
        self._cache = cache
        self._derive = derive
        self._roots = None if allow_outside_files else roots_of(self.paths)
        self._good: dict[str, _Good] = {}

    def reload(self) -> Reloaded:
        files, errors = discover(self.paths)
        entries: list[SpecEntry] = []
        warnings: list[SpecWarning] = []
        shown_files: list[str] = []
        stale: list[str] = []
        good: dict[str, _Good] = {}
        for path in files:
            shown = display_path(path)
            result = load_file(path, shown, self._cache, self._derive)
            problems = list(result.errors)
            # Each file is finished on its own (its images hashed once), so a missing image is its mistake.
            finished = finish_entries(list(result.partials), problems, roots=self._roots) if not problems else []
            if problems:
                errors.extend(problems)
                previous = self._good.get(shown)
                if previous is None:
                    continue
                stale.append(shown)
            else:
                previous = _Good(tuple(finished), result.warnings)
            good[shown] = previous
            shown_files.append(shown)
            entries.extend(previous.entries)
            warnings.extend(previous.warnings)
        self._good = good  # a deleted file's last version goes with it
        duplicates: list[SpecError] = []
        check_unique(entries, duplicates)
        errors.extend(duplicates)
        return Reloaded(
            SpecSet(entries=tuple(_first_of_each_name(entries)), files=tuple(shown_files), warnings=tuple(warnings)),
            tuple(_unique(errors)),
            tuple(stale),
        )


def _first_of_each_name(entries: list[SpecEntry]) -> list[SpecEntry]:
    seen: set[str] = set()
    kept = []
    for entry in entries:
        if entry.name not in seen:
            seen.add(entry.name)
            kept.append(entry)
    return kept


def _unique(errors: list[SpecError]) -> list[SpecError]:
    seen: set[str] = set()
    out = []
    for error in sorted(errors, key=SpecError.sort_key):
        if str(error) not in seen:
            seen.add(str(error))
            out.append(error)
    return out
