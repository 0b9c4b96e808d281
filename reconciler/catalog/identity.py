"""The canonical form of a request, shared by the reconciler's keys and the fake's job digests.

Canonical JSON: keys sorted, no spaces, UTF-8 (non-ASCII kept as is), integral numbers as
integers. `request_digest` names a request independently of any backend; the reconciler's content
key (`reconciler.keys`) adds the backend namespace on top of the same canonical form, and the fake
embeds the digest in every video it makes so a test can prove no result was mixed up.
"""

from __future__ import annotations

import hashlib
import json
from json import encoder as json_encoder
from typing import Any, Final

try:
    from _json import make_encoder as _make_encoder
except ImportError:  # pragma: no cover - CPython always has it
    _make_encoder = None  # type: ignore[assignment, misc]

from reconciler.catalog.types import Model


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text; NaN and infinities are refused."""
    if _encode is None:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return "".join(_encode(value, 0))


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Every entry is serialised once per load (10,000 entries: 10,000 calls), and json.dumps builds a
# new C encoder on each call, which costs twice the encoding; this is the encoder json.dumps builds
# for the options above, made once. Without the cycle check: parsed YAML, TOML and JSON hold no
# cycles. (None where the json module has no C accelerator: json.dumps then.)
_encode: Final = (
    None
    if _make_encoder is None
    else _make_encoder(None, _not_serializable, json_encoder.encode_basestring, None, ":", ",", True, False, False)
)


def identity_params(model: Model, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that decide the video: transport-only fields (base64) dropped."""
    dropped = model.transport_only
    if not dropped:
        return dict(params)
    return {k: v for k, v in params.items() if k not in dropped}


def request_digest(model: Model, params: dict[str, Any]) -> str:
    """Hex sha256 of the canonical {"model", "params"} of a fully resolved request."""
    body = canonical_json({"model": model.slug, "params": identity_params(model, params)})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
