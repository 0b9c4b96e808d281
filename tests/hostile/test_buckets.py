"""A bucket whose listing never ends (a broken or hostile "S3-compatible" service): plan stops with a sentence.

The service is a small host (hosts.EndlessBucket) answering every ListObjectsV2 with "more"; the
real CLI runs as a process under the memory limit, and what it asked is counted by the host itself.
A listing that pages forever is stopped at the cap, 2,000 pages (tests/store/test_endless_listing.py
proves the cap through the store with a small one, and the budget of objects shared by listings).
"""

from __future__ import annotations

import pytest

STORE = "s3://endless/team"
SPEC = "videos:\n  cat:\n    model: wan-2.2-t2v-fast\n    prompt: a cat\n    seed: 1\n"


@pytest.fixture
def a_spec(project) -> None:
    (project / "specs" / "a.yaml").write_text(SPEC, encoding="utf-8")


def test_plan_against_a_bucket_that_hands_back_the_same_token_stops_at_once(a_spec, endless, hostile) -> None:
    bucket = endless("same")
    run = hostile("plan", "--store", STORE)
    run.assert_clean_error(
        "the bucket at s3://endless/team gave the same continuation token twice", "is it an S3-compatible service?"
    )
    assert len(run.err.strip().splitlines()) == 1
    # Plan's first page, then the key's own listing: its first page and the page that repeated the token.
    assert len(bucket.seen) == 3


def test_plan_against_a_bucket_that_says_more_without_a_token_stops_at_once(a_spec, endless, hostile) -> None:
    bucket = endless("none")
    run = hostile("plan", "--store", STORE)
    run.assert_clean_error("the bucket at s3://endless/team said its listing of outputs/sha256/ goes on but gave no")
    assert len(bucket.seen) == 1  # never taken for the last page: the rest of the bucket is not "absent"


def test_plan_against_a_bucket_that_pages_forever_stops_at_the_page_cap(a_spec, endless, hostile) -> None:
    bucket = endless("fresh")
    run = hostile("plan", "--store", STORE, timeout=300)
    run.assert_clean_error(
        "the bucket at s3://endless/team kept answering more pages after 2,000 pages of up to 1,000 objects",
        "is it an S3-compatible service?",
    )
    assert len(run.err.strip().splitlines()) == 1
    # Plan's first page of the records, then the key's own listing, stopped at the cap.
    assert len(bucket.seen) == 1 + 2_000
