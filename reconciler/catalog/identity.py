"""The canonical form of a request, shared by the reconciler's keys and the fake's job digests.

Canonical JSON: keys sorted, no spaces, UTF-8 (non-ASCII kept as is), integral numbers as
integers. `request_digest` names a request independently of any backend; the reconciler's content
key (`reconciler.keys`) adds the backend namespace on top of the same canonical form, and the fake
embeds the digest in every video it makes so a test can prove no result was mixed up.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.catalog.types import Model


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text; NaN and infinities are refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def identity_params(model: Model, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that decide the video: transport-only fields (base64) dropped."""
    by_name = model.by_name
    return {k: v for k, v in params.items() if not (k in by_name and by_name[k].transport_only)}


def request_digest(model: Model, params: dict[str, Any]) -> str:
    """Hex sha256 of the canonical {"model", "params"} of a fully resolved request."""
    body = canonical_json({"model": model.slug, "params": identity_params(model, params)})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
