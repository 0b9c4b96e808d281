"""The five Wan models of the Segmind API: every parameter, its rule, and each model's profile.

The single source of truth for parameters: the reconciler resolves specs with `check`, and the
bundled fake validates request bodies with the very same function, so the two can never disagree
about what a valid request is. Pure: no I/O, no third-party imports.

    types   Kind, Param, Model: the shapes
    models  MODELS, BY_SLUG: the five models as the seed pages describe them
    rules   check: values coerced and checked against each parameter's rule, into Problems
    identity  canonical JSON and the backend-independent digest of a request

The names below load on first use: a warm plan, which prices models but checks no parameter,
never loads the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.exports import exports

if TYPE_CHECKING:
    from reconciler.catalog.identity import canonical_json, identity_params, request_digest
    from reconciler.catalog.models import BY_SLUG, MODELS, SLUGS, get
    from reconciler.catalog.rules import Problem, check, closest, describe_type, did_you_mean
    from reconciler.catalog.types import CATALOG_VERSION, NO_DEFAULT, Kind, Media, Model, Param, show

_HOMES = {
    "reconciler.catalog.identity": ("canonical_json", "identity_params", "request_digest"),
    "reconciler.catalog.models": ("BY_SLUG", "MODELS", "SLUGS", "get"),
    "reconciler.catalog.rules": ("Problem", "check", "closest", "describe_type", "did_you_mean"),
    "reconciler.catalog.types": ("CATALOG_VERSION", "NO_DEFAULT", "Kind", "Media", "Model", "Param", "show"),
}

__all__ = [
    "BY_SLUG",
    "CATALOG_VERSION",
    "MODELS",
    "NO_DEFAULT",
    "SLUGS",
    "Kind",
    "Media",
    "Model",
    "Param",
    "Problem",
    "canonical_json",
    "check",
    "closest",
    "describe_type",
    "did_you_mean",
    "get",
    "identity_params",
    "request_digest",
    "show",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above, and so know each one's type
    __getattr__ = exports(__name__, _HOMES)
