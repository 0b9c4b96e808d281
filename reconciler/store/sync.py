"""Moving outputs between the local cache and the bucket, and keeping the bucket honest.

push           every local output (blob, then record) into the bucket, create-if-absent
pull           the outputs some keys need, from the bucket into the local cache (hash-checked)
verify_remote  re-hash every blob in the bucket, streaming; repair a bad one from a good local copy
gc_remote      delete records no root wants and blobs no record names (never a claim's key,
               never a blob younger than a day: a writer uploads its blob before its record)
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Set
from dataclasses import dataclass

from reconciler.store.claims import CLAIMS, digest_of_blob, key_of_claim, key_of_failure, parse_output_name
from reconciler.store.listing import listed_outputs
from reconciler.store.objects import hash_file
from reconciler.store.remote import RemoteStore

# A blob this recent may be one whose output record is about to be written: gc leaves it.
YOUNG_BLOB_S = 86_400.0


@dataclass(frozen=True)
class PushReport:
    pushed: int  # records created by this push
    present: int  # records the bucket already had


@dataclass(frozen=True)
class PullReport:
    fetched: tuple[str, ...]  # keys brought into the cache
    cached: int  # keys the cache already had
    missing: tuple[str, ...]  # keys the bucket does not hold either


def push(store: RemoteStore) -> PushReport:
    listed = listed_outputs(store.bucket)
    pushed = present = 0
    for output in store.all_outputs():
        if output.key in listed:
            present += 1
            continue
        if store.push_output(output):
            pushed += 1
        else:
            present += 1
    return PushReport(pushed, present)


def pull(store: RemoteStore, keys: Collection[str]) -> PullReport:
    local = store.local_outputs_for(keys)
    listed = listed_outputs(store.bucket)
    fetched = [key for key in keys if key not in local and key in listed]
    for key in fetched:
        store.fetch(listed[key])
    missing = tuple(key for key in keys if key not in local and key not in listed)
    return PullReport(tuple(fetched), len(local), missing)


@dataclass(frozen=True)
class RemoteProblem:
    digest: str
    action: str

    def __str__(self) -> str:
        return f"corrupt in the bucket: {self.digest}: {self.action}"


@dataclass(frozen=True)
class RemoteVerifyReport:
    blobs_checked: int
    bytes_checked: int
    problems: tuple[RemoteProblem, ...]


def verify_remote(store: RemoteStore) -> RemoteVerifyReport:
    """Stream every blob of the bucket through sha256 (never whole in memory) and compare it to its name."""
    checked = size = 0
    problems: list[RemoteProblem] = []
    for item in store.bucket.list("objects/sha256/"):
        digest = digest_of_blob(item.name)
        if digest is None:
            continue
        hasher = hashlib.sha256()
        store.bucket.download(item.name, hasher.update)
        checked += 1
        size += item.size
        if f"sha256:{hasher.hexdigest()}" == digest:
            continue
        local = store.blob_path(digest)
        if store.has_blob(digest) and hash_file(local)[0] == digest:
            with local.open("rb") as source:
                store.bucket.put(item.name, source)
            problems.append(RemoteProblem(digest, "re-uploaded from the verified local copy"))
        else:
            problems.append(RemoteProblem(digest, "no good copy here; push from a machine that has one"))
    return RemoteVerifyReport(checked, size, tuple(problems))


@dataclass(frozen=True)
class RemoteGcReport:
    dry_run: bool
    records: tuple[str, ...]  # output record names deleted (or to delete)
    blobs: tuple[str, ...]  # blob names deleted (or to delete)
    bytes_freed: int


def gc_remote(store: RemoteStore, roots: Set[str], *, dry_run: bool, now: float) -> RemoteGcReport:
    in_flight = {key for item in store.bucket.list(CLAIMS) if (key := key_of_claim(item.name)) is not None}
    keep: set[str] = set()
    records: list[str] = []
    for item in store.bucket.list("outputs/"):
        listed = parse_output_name(item.name)
        if listed is None:
            # A failure record of a key no spec names any more: nothing will ever plan it again.
            failed = key_of_failure(item.name)
            if failed is not None and failed not in roots and failed not in in_flight:
                records.append(item.name)
            continue
        if listed.key in roots or listed.key in in_flight:
            keep.add(listed.digest)
        else:
            records.append(item.name)
    blobs: list[tuple[str, int]] = []
    for item in store.bucket.list("objects/sha256/"):
        digest = digest_of_blob(item.name)
        if digest is not None and digest not in keep and now - item.modified > YOUNG_BLOB_S:
            blobs.append((item.name, item.size))
    if not dry_run:
        for name in records:  # records first: a blob is never deleted while a record still names it
            store.bucket.delete(name)
        for name, _ in blobs:
            store.bucket.delete(name)
    return RemoteGcReport(dry_run, tuple(records), tuple(name for name, _ in blobs), sum(size for _, size in blobs))
