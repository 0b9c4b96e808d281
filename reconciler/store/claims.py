"""The objects of a remote store, as values: claim records and the names of everything in the bucket.

    <prefix>/objects/sha256/ab/cdef...                  blobs by content hash (If-None-Match: *)
    <prefix>/outputs/sha256/<key hex>.<digest hex>.<size>.json
                                                        one record per stored output, written after
                                                        its blob; its name alone answers plan
    <prefix>/outputs/sha256/<key hex>.failed.json       a key that failed for good: beside its outputs,
                                                        so the listings plan and claim make anyway
                                                        find it; --retry-failed deletes it
    <prefix>/claims/sha256/<key hex>.json               one claim per key in flight
    <prefix>/probe/<random>                             the conditional-write probe of each open

A claim is created with `If-None-Match: *` and every later change (request id, lease renewal,
takeover) is a compare-and-swap on its ETag. Each write carries a fresh `nonce`, so two writes of
otherwise equal content never share an ETag (S3's ETag is the MD5 of the bytes).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any

from reconciler.errors import StoreError
from reconciler.records import Attempt, AttemptState, FailureReason, Output, Owner

_HEX = 64


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def blob_name(digest: str) -> str:
    hexdigest = _hex(digest)
    return f"objects/sha256/{hexdigest[:2]}/{hexdigest[2:]}"


def digest_of_blob(name: str) -> str | None:
    parts = name.removeprefix("objects/sha256/").split("/")
    if len(parts) != 2 or len(parts[0]) != 2 or len(parts[0] + parts[1]) != _HEX:
        return None
    return f"sha256:{parts[0]}{parts[1]}"


OUTPUTS = "outputs/sha256/"
CLAIMS = "claims/sha256/"


def output_name(key: str, digest: str, size: int) -> str:
    return f"{OUTPUTS}{_hex(key)}.{_hex(digest)}.{size}.json"


def output_prefix(key: str) -> str:
    return f"{OUTPUTS}{_hex(key)}."


@dataclass(frozen=True)
class ListedOutput:
    """What an output record's name says: enough for plan, without reading the record."""

    key: str
    digest: str
    size: int
    name: str


def parse_output_name(name: str) -> ListedOutput | None:
    parts = name.removeprefix(OUTPUTS).split(".")
    if not name.startswith(OUTPUTS) or len(parts) != 4 or parts[3] != "json" or not parts[2].isdigit():
        return None
    if len(parts[0]) != _HEX or len(parts[1]) != _HEX:
        return None
    return ListedOutput(f"sha256:{parts[0]}", f"sha256:{parts[1]}", int(parts[2]), name)


def claim_name(key: str) -> str:
    return f"{CLAIMS}{_hex(key)}.json"


def key_of_claim(name: str) -> str | None:
    hexkey = name.removeprefix(CLAIMS).removesuffix(".json")
    return f"sha256:{hexkey}" if name.startswith(CLAIMS) and len(hexkey) == _HEX else None


def failure_name(key: str) -> str:
    return f"{OUTPUTS}{_hex(key)}.failed.json"


def key_of_failure(name: str) -> str | None:
    parts = name.removeprefix(OUTPUTS).split(".")
    if not name.startswith(OUTPUTS) or len(parts) != 3 or parts[1:] != ["failed", "json"] or len(parts[0]) != _HEX:
        return None
    return f"sha256:{parts[0]}"


@dataclass(frozen=True)
class Failure:
    """A key that failed for good on some machine: what plan everywhere needs to show it failed."""

    key: str
    namespace: str
    model: str
    reason: FailureReason
    error: str | None
    failures_in_a_row: int
    request_id: str | None
    owner: Owner
    failed_at: float

    def to_bytes(self) -> bytes:
        document = asdict(self) | {"reason": self.reason.value}
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Failure:
        try:
            document: dict[str, Any] = json.loads(data)
            document["owner"] = Owner(**document["owner"])
            document["reason"] = FailureReason(document["reason"])
            return cls(**document)
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(
                f"a failure record in the bucket is not one reconciler wrote ({exc}); leave it to a person"
            ) from exc

    @classmethod
    def of(cls, attempt: Attempt) -> Failure:
        """The record of a key's latest attempt (read with its run of failures)."""
        return cls(
            attempt.key, attempt.namespace, attempt.model, attempt.reason or FailureReason.TEMPORARY, attempt.error,
            attempt.failures_in_a_row, attempt.request_id, attempt.owner, attempt.updated_at,
        )  # fmt: skip

    def as_attempt(self) -> Attempt:
        """The failed attempt plan reads (id 0: it lives in the bucket, not in this machine's store)."""
        return Attempt(
            0, self.key, self.namespace, self.model, AttemptState.FAILED, "{}", self.request_id, self.owner,
            self.failed_at, None, None, self.failed_at, self.error, self.reason, None, False, True,
            self.failures_in_a_row,
        )  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """One key in flight: who holds it until when, the exact body, and the request id once known."""

    key: str
    namespace: str
    model: str
    request_json: str
    owner: Owner
    run: str  # this holder's token: an owner that restarts in the same pid is still a new holder
    claimed_at: float
    lease_until: float
    request_id: str | None = None
    submitted_at: float | None = None
    completed: bool = False
    request_ids: tuple[str, ...] = ()  # every request id this key ever had (a history search skips them)
    nonce: str = ""

    def to_bytes(self) -> bytes:
        document = asdict(self)
        document["nonce"] = secrets.token_hex(8)
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Claim:
        try:
            document: dict[str, Any] = json.loads(data)
            document["owner"] = Owner(**document["owner"])
            document["request_ids"] = tuple(document.get("request_ids", ()))
            return cls(**document)
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(
                f"a claim object in the bucket is not one reconciler wrote ({exc}); leave it to a person"
            ) from exc

    def as_attempt(self, *, owner_alive: bool) -> Attempt:
        """The open attempt plan reads (id 0: it lives in the bucket, not in this machine's store)."""
        state = AttemptState.CLAIMED if self.request_id is None else AttemptState.SUBMITTED
        if self.completed:
            state = AttemptState.COMPLETED
        updated = max(self.claimed_at, self.submitted_at or 0.0)
        return Attempt(
            0, self.key, self.namespace, self.model, state, self.request_json, self.request_id, self.owner,
            self.claimed_at, self.submitted_at, None, updated, None, None, None, False, owner_alive,
        )  # fmt: skip

    def expired(self, now: float, *, grace_s: float) -> bool:
        """Past its lease by more than the clock skew we allow between machines."""
        return now > self.lease_until + grace_s

    def renewed(self, now: float, lease_s: float) -> Claim:
        return replace(self, lease_until=now + lease_s)

    def taken_by(self, owner: Owner, run: str, now: float, lease_s: float) -> Claim:
        return replace(self, owner=owner, run=run, lease_until=now + lease_s)

    def with_request(self, request_id: str, now: float) -> Claim:
        ids = self.request_ids if request_id in self.request_ids else (*self.request_ids, request_id)
        return replace(self, request_id=request_id, submitted_at=now, request_ids=ids)


def record_bytes(output: Output) -> bytes:
    """The output record written next to its blob: the Output itself, as JSON."""
    return json.dumps(output._asdict(), sort_keys=True, separators=(",", ":")).encode()


def record_from_bytes(data: bytes) -> Output:
    try:
        return Output(**json.loads(data))
    except (ValueError, TypeError) as exc:
        raise StoreError(f"an output record in the bucket is not one reconciler wrote ({exc})") from exc
