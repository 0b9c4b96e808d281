"""The shapes of the catalog: parameter kinds, parameters and models.

This module is the single source of truth for parameters. The reconciler resolves specs with it
(`check`), and the bundled fake validates request bodies with the very same function, so the two
can never disagree about what a valid request is. The facts come from the five API pages in
`shared/seeds/`; `tests/catalog/test_catalog_matches_seed_pages.py` holds them against the pages.

Pure: no I/O, no third-party imports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

# Bump when a rule changes in a way that could change a resolved request: caches key on it.
CATALOG_VERSION: Final = 1


class Kind(enum.Enum):
    """The wire type of a parameter."""

    STRING = "string"  # any text
    INTEGER = "integer"  # whole number; "5" and 5.0 are accepted and become 5
    NUMBER = "number"  # real number; integral values are kept as integers so 1 and 1.0 agree
    BOOLEAN = "boolean"  # true or false, nothing else
    URI = "uri"  # an http(s) URL (where `local` is set, a spec may give a local file instead)


class Media(enum.Enum):
    """What a local file given for a URI parameter must be (checked by its magic bytes)."""

    IMAGE = "image"  # PNG, JPEG or WebP
    AUDIO = "audio"  # MP3 or WAV


def show(value: Any) -> str:
    """A value as a user would write it in YAML or JSON, for messages."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return "null"
    return str(value)


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault()


# A NamedTuple rather than a frozen dataclass: a plan loads the catalog, and Python 3.11 takes a
# millisecond to make a frozen dataclass (it compiles each generated method) but a sixth of that here.
class Param(NamedTuple):
    """One request parameter and the rule it obeys."""

    name: str
    kind: Kind
    description: str
    default: Any = NO_DEFAULT  # NO_DEFAULT: the caller must give it; None: JSON null
    required: bool = False  # the page marks it required (it must be on the wire)
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    transport_only: bool = False  # changes how the result is delivered, never the video
    local: Media | None = None  # a spec may give a local file of this kind; it is uploaded first

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def json_bounds(self) -> dict[str, Any]:
        """The rule's limits as JSON Schema keywords (for the spec schema and the fake's OpenAPI document)."""
        keywords = {"minimum": self.minimum, "maximum": self.maximum, "maxLength": self.max_length}
        return {word: value for word, value in keywords.items() if value is not None}

    def rule(self) -> str:
        """The rule in words, for error messages and schema descriptions."""
        if self.choices is not None:
            return "one of " + ", ".join(show(c) for c in self.choices)
        if self.minimum is not None and self.maximum is not None:
            return f"{self.kind.value} from {show(self.minimum)} to {show(self.maximum)}"
        if self.kind is Kind.URI:
            return "an http(s) URL"
        if self.kind is Kind.BOOLEAN:
            return "true or false"
        if self.max_length is not None:
            return f"text of at most {self.max_length} characters"
        return f"{'an' if self.kind is Kind.INTEGER else 'a'} {self.kind.value}"


@dataclass(frozen=True)
class Model:
    """One model slug with its parameters and its public latency and cost profile."""

    slug: str
    title: str
    task: str  # "text-to-video" or "image-to-video"
    params: tuple[Param, ...]
    avg_latency_s: float  # public model directory average, used for estimates and the fake's timing
    avg_cost_usd: float  # public model directory average, used for estimates and the fake's billing
    seed_param: str = "seed"
    by_name: dict[str, Param] = field(init=False, repr=False, compare=False)
    transport_only: frozenset[str] = field(init=False, repr=False, compare=False)  # names never in a key

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})
        object.__setattr__(self, "transport_only", frozenset(p.name for p in self.params if p.transport_only))

    @property
    def reproducible_by_default(self) -> bool:
        """False when an omitted seed means a random one (the output then differs per run)."""
        seed = self.by_name.get(self.seed_param)
        return seed is not None and seed.default is not None

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params if p.has_default}
