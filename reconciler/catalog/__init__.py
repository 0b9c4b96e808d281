"""The five Wan models of the Segmind API: every parameter, its rule, and each model's profile.

The single source of truth for parameters: the reconciler resolves specs with `check`, and the
bundled fake validates request bodies with the very same function, so the two can never disagree
about what a valid request is. Pure: no I/O, no third-party imports.

    types   Kind, Param, Model, Problem: the shapes
    models  MODELS, BY_SLUG: the five models as the seed pages describe them
    rules   check: values coerced and checked against each parameter's rule
    identity  canonical JSON and the backend-independent digest of a request
"""

from __future__ import annotations

from reconciler.catalog.identity import canonical_json, identity_params, request_digest
from reconciler.catalog.models import BY_SLUG, MODELS, SLUGS, get
from reconciler.catalog.rules import (
    check,
    closest,
    describe_type,
    did_you_mean,
)
from reconciler.catalog.types import CATALOG_VERSION, NO_DEFAULT, Kind, Media, Model, Param, Problem, show

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
