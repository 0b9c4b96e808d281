"""A listing that never ends is stopped: every bucket listing is bounded in pages, and circles are caught.

The service is a small real host (tests/hostile/hosts.py EndlessBucket, uvicorn on loopback) answering every
ListObjectsV2 with "more"; the page cap is a parameter of the bucket, small here to keep tests fast.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from reconciler.errors import StoreError
from reconciler.store import Store
from reconciler.store.listing import RemoteView
from reconciler.store.s3 import Bucket


def key(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"key-{n}".encode()).hexdigest()


def test_a_listing_that_always_says_more_stops_after_its_page_cap_with_the_bucket_named(endless) -> None:
    bucket = endless("fresh")
    listing = Bucket("endless", "team", max_pages=40).list("outputs/")
    listed: list[str] = []
    with pytest.raises(StoreError) as error:
        listed.extend(item.name for item in listing)
    assert str(error.value) == (
        "the bucket at s3://endless/team kept answering more pages after 40 pages of up to 1,000 objects"
        " while listing outputs/; is it an S3-compatible service?"
    )
    assert len(bucket.seen) == 40
    assert len(listed) == 40  # one object a page, and nothing read past the cap


def test_a_listing_that_hands_back_a_token_again_stops_at_the_repeat(endless) -> None:
    bucket = endless("same")
    with pytest.raises(StoreError, match="gave the same continuation token twice while listing claims/"):
        list(Bucket("endless", "team", max_pages=40).list("claims/"))
    assert len(bucket.seen) == 2


def test_a_page_that_says_more_without_a_token_is_an_error_not_the_last_page(endless) -> None:
    endless("none")
    with pytest.raises(StoreError, match="goes on but gave no continuation token"):
        Bucket("endless", "team").list_page("outputs/")


def test_a_page_of_more_objects_than_asked_for_stops_the_listing_so_its_memory_stays_bounded(endless) -> None:
    bucket = endless("fresh", per_page=1_001)
    with pytest.raises(StoreError, match="answered 1,001 objects in one page of its listing of objects/, asked for"):
        list(Bucket("endless", "team").list("objects/"))
    assert len(bucket.seen) == 1


def test_plans_sixteen_listings_of_a_big_bucket_are_each_bounded(endless, tmp_path: Path) -> None:
    bucket = endless("fresh")
    view = RemoteView(Store.open_readonly(tmp_path / ".reconciler"), lambda: Bucket("endless", "team", max_pages=5))
    with pytest.raises(StoreError, match="kept answering more pages after 5 pages"):
        view.observe([key(n) for n in range(40)])  # more keys missing than are looked up one by one
    # The first page, then 16 listings by the key's first hex digit, each stopped at 5 pages (a
    # listing a busy machine had not started yet when the first one stopped is not started at all).
    pages = Counter(parse_qs(urlsplit(seen.url).query)["prefix"][0] for seen in bucket.seen[1:])
    assert len(pages) >= 1
    assert set(pages.values()) == {5}
    assert set(pages) <= {f"team/outputs/sha256/{digit}" for digit in "0123456789abcdef"}


def test_a_token_longer_than_any_s3_gives_stops_the_listing(endless) -> None:
    bucket = endless("long")
    with pytest.raises(StoreError, match="gave a continuation token of 20,000 characters while listing outputs/"):
        list(Bucket("endless", "team").list("outputs/"))
    assert len(bucket.seen) == 1


def test_plans_sixteen_listings_side_by_side_share_one_budget_of_objects(endless, tmp_path: Path) -> None:
    bucket = endless("fresh", per_page=10)
    view = RemoteView(Store.open_readonly(tmp_path / ".reconciler"), lambda: Bucket("endless", "team", max_objects=100))
    with pytest.raises(StoreError, match="listed more than 100 objects"):
        view.observe([key(n) for n in range(40)])
    # The first page (10 objects), then the 16 listings together: their budget is spent after about
    # ten pages more, give or take one page in flight for each of the readers side by side.
    assert len(bucket.seen) <= 1 + 10 + 16
