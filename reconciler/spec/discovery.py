"""Discovery: which files under the given paths are spec files, in a stable order.

Directories are walked recursively; hidden (`.x`) and private (`_x`) directories and editor
temp, backup and lock files are skipped. A path that does not exist is a mistake of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from reconciler.errors import Location, SpecError

YAML_SUFFIXES: Final = (".yaml", ".yml")
TOML_SUFFIXES: Final = (".toml",)
SUFFIXES: Final = YAML_SUFFIXES + TOML_SUFFIXES


def display_path(path: Path) -> str:
    """A path as the user will recognise it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[SpecError]]:
    """Spec files under the given paths, recursively, in a stable order; editor and hidden files skipped."""
    found: dict[Path, None] = {}
    errors: list[SpecError] = []
    for given in paths:
        root = Path(given)
        if root.is_file():
            found[root] = None
        elif root.is_dir():
            for item in sorted(_walk(root)):
                found[item] = None
        elif root.exists():  # a FIFO or a device given by name: reading refuses it, saying what it is
            found[root] = None
        else:
            errors.append(SpecError(Location(str(given)), "no such file or directory"))
    return list(found), errors


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in filenames:
            if is_spec_file_name(name):
                yield Path(dirpath) / name


def is_spec_file_name(name: str) -> bool:
    """A YAML or TOML file that is not an editor's temp, backup or lock file."""
    if name.startswith((".", "#", "~")) or name.endswith(("~", ".swp", ".swx", ".tmp", ".bak")):
        return False
    return name.endswith(SUFFIXES)
