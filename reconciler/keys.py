"""Identity of a video: the content key of a resolved request.

    key = "sha256:" + hex(sha256(canonical JSON of {"api": namespace, "model": slug, "params": params}))

`params` holds every parameter with its default filled in and coerced to the catalog's type, with
transport-only fields left out; a local image is `local:sha256:<hex of its bytes>`. The spec's name
and file are not part of it: renaming never regenerates, and two specs with one request share one
generation. The namespace keeps backends apart, so a video made by the bundled fake can never
satisfy a spec reconciled against the real API. Pure.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any, Final

from reconciler import catalog
from reconciler.spec import SpecEntry

SEGMIND: Final = "segmind"  # the real API
MOCK: Final = "mock"  # the bundled fake (`--mock`)


def canonical_request(namespace: str, model: str, params_json: str) -> str:
    """The canonical JSON of {"api", "model", "params"}, built around already canonical params.

    The three keys are in sorted order, so this equals canonical_json of the whole mapping (a
    property test holds them equal) without re-serialising the parameters of every entry.
    """
    return f'{_head(namespace, model)[:-1]},"params":{params_json}}}'


@functools.cache  # a handful of (namespace, model) pairs, asked for once per entry
def _head(namespace: str, model: str) -> str:
    return catalog.canonical_json({"api": namespace, "model": model})


def request_key(namespace: str, model: str, params: Mapping[str, Any]) -> str:
    """The key of a request given as a full, resolved parameter mapping (a history row's body)."""
    slug = catalog.BY_SLUG[model]
    return params_key(namespace, model, catalog.canonical_json(catalog.identity_params(slug, dict(params))))


def entry_key(namespace: str, entry: SpecEntry) -> str:
    known = entry.keys.get(namespace)
    return known if known is not None else params_key(namespace, entry.model, entry.params_json)


class EveryNamespace:
    """A request's key in both namespaces: derived at load and kept in the parse cache (spec.Derive).

    Plan keys every spec in both namespaces (orphans are what neither names), so a warm plan reads
    them instead of hashing twice per spec. Bump `version` if the key's form ever changes. (A plain
    class: it has no fields, and a dataclass costs a millisecond of every command's start-up.)
    """

    version: Final = f"keys/1/{SEGMIND}/{MOCK}"

    def __call__(self, model: str, params_json: str) -> dict[str, str]:
        return {ns: params_key(ns, model, params_json) for ns in (SEGMIND, MOCK)}


EVERY_NAMESPACE: Final = EveryNamespace()


def params_key(namespace: str, model: str, params_json: str) -> str:
    """The key of a request whose identity parameters are already canonical JSON, as resolving a spec leaves them."""
    return "sha256:" + hashlib.sha256(canonical_request(namespace, model, params_json).encode("utf-8")).hexdigest()
