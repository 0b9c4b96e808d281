"""A plan's questions about thousands of keys at once (answered by reading the tables whole) get the
same answers as questions about a few (answered by index): outputs, latest attempts, orphans."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import pytest

from reconciler.stamps import AMBIGUOUS_NS
from reconciler.store import Store

MANY = 1_500  # more than the store answers key by key


def key(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"key-{n}".encode()).hexdigest()


def claim(store: Store, k: str):
    return store.claim(k, namespace="fake", model="wan2.7-t2v", request_body={"prompt": "p"})


def test_observing_thousands_of_keys_finds_exactly_the_stored_and_claimed_ones(
    store: Store, record: Callable[..., str]
) -> None:
    stored = {key(n): record(key(n), b"video %d" % n) for n in range(0, 12)}
    claimed = {key(n): claim(store, key(n)) for n in (20, 21, 22)}
    asked = [key(n) for n in range(1, MANY)]  # key(0) is stored but not asked about
    observed = store.observe(asked)
    assert observed.stored == {k: d for k, d in stored.items() if k != key(0)}
    assert observed.attempts == claimed


@pytest.fixture
def sizes(record: Callable[..., str]) -> dict[str, int]:
    """Twelve stored outputs, key(0) to key(11), each of its own size: key -> bytes."""
    stored = {}
    for n in range(12):
        data = b"video %d" % n + b"x" * n
        record(key(n), data)
        stored[key(n)] = len(data)
    return stored


def test_orphans_among_thousands_of_named_keys_are_counted_sized_and_listed_in_key_order(
    store: Store, sizes: dict[str, int]
) -> None:
    named = [key(n) for n in range(6, 6 + MANY)]
    stray = sorted(k for k in sizes if k not in named)
    orphans = store.orphans({"fake": named}, limit=3)
    assert (orphans.count, orphans.size) == (len(stray), sum(sizes[k] for k in stray))
    assert [o.key for o in orphans.listed] == stray[:3]
    assert [o.key for o in store.orphans({"fake": named}, limit=None).listed] == stray


ROOTS = {
    "none": [],
    "a few, one stored nowhere": [key(5), key(7), key(999_999)],
    "many (the table read whole)": [key(n) for n in range(6, 6 + MANY)],
    "many, few of them stored": [key(n) for n in range(100, 100 + MANY)],
}


@pytest.mark.parametrize("limit", [None, 0, 3])
@pytest.mark.parametrize("roots", list(ROOTS))
@pytest.mark.parametrize("asked", ["a few", "many"])
def test_one_survey_finds_what_a_plain_model_of_the_store_says_is_stored_and_orphaned(
    store: Store, sizes: dict[str, int], roots: str, limit: int | None, asked: str
) -> None:
    named = ROOTS[roots]
    # Keys asked about need not be roots: key(0), key(1) and key(3) are stored and named by none.
    keys = [key(0), key(1), key(3), key(8)] if asked == "a few" else [key(n) for n in range(MANY)]
    observed = store.observe(keys, roots={"fake": named}, orphan_limit=limit)
    stray = sorted(k for k in sizes if k not in set(named))
    assert set(observed.stored) == {k for k in keys if k in sizes}
    assert (observed.orphans.count, observed.orphans.size) == (len(stray), sum(sizes[k] for k in stray))
    listed = stray if limit is None else stray[:limit]
    assert [(o.key, o.size, o.model) for o in observed.orphans.listed] == [(k, sizes[k], "wan2.7-t2v") for k in listed]


def test_thousands_of_stored_outputs_are_seen_by_their_files_and_a_deleted_blob_is_lost(
    store: Store, record: Callable[..., str]
) -> None:
    many = 2_100  # enough that the store lists its blob directories rather than looking at each file
    digests = {key(n): record(key(n), b"video %d" % n) for n in range(many)}
    gone = key(7)
    hexdigest = digests[gone].removeprefix("sha256:")
    (store.root / "objects" / "sha256" / hexdigest[:2] / hexdigest[2:]).unlink()  # as a user deleting it by hand
    observed = store.observe(list(digests))
    assert set(observed.stored) == set(digests) - {gone}
    assert set(observed.lost) == {gone}


def test_a_blob_deleted_from_a_settled_store_whose_answer_was_kept_is_lost(
    store: Store, record: Callable[..., str]
) -> None:
    digests = {key(n): record(key(n), b"video %d" % n) for n in range(1_200)}
    time.sleep(AMBIGUOUS_NS / 1e9 + 0.2)  # until the blob directories have settled (the real clock)
    assert set(store.observe(list(digests)).stored) == set(digests)  # the answer is kept...
    assert (store.root / "cache" / "blobs.json").is_file()
    hexdigest = digests[key(5)].removeprefix("sha256:")
    (store.root / "objects" / "sha256" / hexdigest[:2] / hexdigest[2:]).unlink()
    observed = store.observe(list(digests))  # ...and not believed once a directory changed
    assert set(observed.stored) == set(digests) - {key(5)}
    assert set(observed.lost) == {key(5)}
