"""The project's settings file, `reconciler.toml` in the working directory (optional).

    [reconciler]
    specs = ["specs"]        # default spec paths
    store = ".reconciler"    # the store directory
    out = "out"              # where apply lays out <name>.mp4
    allow_outside_files = false  # may specs name local images/audio outside the spec directories?

Precedence, highest first: the command line, the environment (RECONCILER_STORE), this file, the
built-in defaults. An unknown key or a wrong type is an error naming the file, never ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final, NamedTuple

from reconciler.errors import Location, SpecError, SpecErrors
from reconciler.spec.files import Refused, read_regular

FILE_NAME: Final = "reconciler.toml"
MAX_SETTINGS_BYTES: Final = 2**20


class Settings(NamedTuple):
    """The settings of reconciler.toml, or their defaults."""

    specs: tuple[str, ...] = ("specs",)
    store: str = ".reconciler"
    out: str = "out"
    allow_outside_files: bool = False


def _parse(text: str) -> dict[str, Any]:
    import tomllib  # most projects have no settings file: the read fails first and tomllib is never loaded

    return tomllib.loads(text)


def load_settings(directory: Path | None = None) -> Settings:
    path = (directory or Path.cwd()) / FILE_NAME
    shown = os.path.relpath(path) if directory is None else str(path)
    try:
        # Read like a spec file (it may come in the same pull request): regular, bounded, not too deep.
        document = _parse(read_regular(path, MAX_SETTINGS_BYTES).decode("utf-8"))
    except FileNotFoundError:
        return Settings()
    except Refused as exc:
        raise SpecErrors([SpecError(Location(shown), f"cannot read the settings file: it {exc.reason}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecErrors([SpecError(Location(shown), f"cannot read the settings file: {exc}")]) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError (a UnicodeDecodeError is caught above)
        raise SpecErrors([SpecError(Location(shown), f"TOML syntax error: {exc}")]) from None
    except RecursionError:
        raise SpecErrors([SpecError(Location(shown), "values are nested too deep for a settings file")]) from None
    table: Any = document.get("reconciler", {})
    problems = [
        SpecError(Location(shown), f"unknown top-level table [{key}]", "settings go under [reconciler]")
        for key in document
        if key != "reconciler"
    ]
    if not isinstance(table, dict):
        problems.append(SpecError(Location(shown), "[reconciler] must be a table"))
        table = {}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "specs" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            values[key] = tuple(value)
        elif (key in ("store", "out") and isinstance(value, str) and value) or (
            key == "allow_outside_files" and isinstance(value, bool)
        ):
            values[key] = value
        elif key == "allow_outside_files":
            problems.append(SpecError(Location(shown), f"reconciler.{key} must be true or false"))
        elif key in ("specs", "store", "out"):
            wanted = "a non-empty list of paths" if key == "specs" else "a path"
            problems.append(SpecError(Location(shown), f"reconciler.{key} must be {wanted}"))
        else:
            problems.append(
                SpecError(
                    Location(shown),
                    f"unknown setting reconciler.{key}",
                    "known: specs, store, out, allow_outside_files",
                )
            )
    if problems:
        raise SpecErrors(problems)
    return Settings(**values)
