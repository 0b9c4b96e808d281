"""A package's names, each imported from its own module when first used (a module `__getattr__`, PEP 562).

A package that imported all its modules to re-export their names would make every user pay for all
of them: the plan needs the spec values, not the parsers; reading a --store option needs one small
module of the store, not SQLite. A package says instead where each of its names lives,

    __getattr__ = exports(__name__, {"reconciler.spec.values": ("SpecEntry", "SpecSet"), ...})

and imports them under `if TYPE_CHECKING:` for type checkers. Each name's module is imported the
first time the name is read, and the name is then kept in the package: later reads are plain.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def exports(package: str, homes: Mapping[str, tuple[str, ...]]) -> Callable[[str], object]:
    """The `__getattr__` of `package`, which offers each name of `homes` (module -> its names)."""
    home_of = {name: module for module, names in homes.items() for name in names}
    found = vars(sys.modules[package])

    def __getattr__(name: str) -> object:
        home = home_of.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        found[name] = value  # found once: later lookups are plain attribute reads
        return value

    return __getattr__
