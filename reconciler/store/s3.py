"""The S3 edge: the only module that imports boto3, and where botocore errors become StoreErrors.

boto3 is the client because it is the one every S3-compatible service tests against, it sends
`If-None-Match: *` and `If-Match: <ETag>` on PutObject (and If-Match on DeleteObject), streams a
file object up and a body down in chunks, and reads credentials, region, profiles and
`AWS_ENDPOINT_URL` the standard AWS way. It is synchronous, like the store interface the engine
calls (and SQLite): a video needs a handful of small requests, and the engine makes a remote store's
claim and record writes in a worker thread (`writes_over_network`), so the event loop keeps polling
and downloading meanwhile; big uploads and downloads stream through fixed-size chunks.

Conditional writes return `None` when the condition failed (412, or 409 on a concurrent write):
a lost race is an answer here, not an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import boto3
import botocore.config
import botocore.exceptions
import botocore.session
import botocore.utils

from reconciler.errors import StoreError

CHUNK = 1 << 20
# S3 answers a listing in pages of up to 1,000 objects, each naming the token of the next. A server
# that always says "more" (broken, or hostile) would keep every command that lists the bucket going
# and its memory growing, so listings are bounded the way the request history's read is
# (api/client.py), twice over:
# - one listing stops after MAX_LISTING_PAGES pages (empty pages count too), and at a token it was
#   given before (its listing goes round in a circle) or one longer than MAX_TOKEN_CHARS;
# - one listing, or listings side by side that share a Budget (plan's 16 by prefix), read at most
#   MAX_LISTED_OBJECTS objects together, about 0.3 KB of memory each.
# Two million objects are a store of two million videos' blobs or records (about $600,000 at the
# cheapest model), in about 600 MB; a bigger store is not what this tool is made for yet.
PAGE_OBJECTS: Final = 1_000
MAX_LISTED_OBJECTS: Final = 2_000_000
MAX_LISTING_PAGES: Final = MAX_LISTED_OBJECTS // PAGE_OBJECTS
MAX_TOKEN_CHARS: Final = 10_000  # S3's are a few hundred characters
_LOST_RACE = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class Listed:
    """One object of a listing: its name under the prefix, its size and its ETag."""

    name: str
    size: int
    etag: str
    modified: float  # seconds since the epoch, by the server's clock


class Budget:
    """How many more objects some listings may read, together (thread-safe: plan's run side by side)."""

    def __init__(self, objects: int) -> None:
        self.objects = objects
        self._left = objects
        self._lock = threading.Lock()

    def spend(self, count: int) -> bool:
        """Take `count` objects from the budget; False once it is overdrawn."""
        with self._lock:
            self._left -= count
            return self._left >= 0


class Bucket:
    """One bucket and prefix, reached through one boto3 client (thread-safe, shared by the lease thread)."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        client: Any | None = None,
        max_pages: int = MAX_LISTING_PAGES,
        max_objects: int = MAX_LISTED_OBJECTS,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.max_pages = max_pages  # per listing (see MAX_LISTING_PAGES)
        self.max_objects = max_objects  # per listing, or per Budget shared by listings (see MAX_LISTED_OBJECTS)
        self.requests = 0  # every request sent, for the benchmarks' requests-per-video figure
        self._counting = threading.Lock()  # readers list and read from several threads at once
        if client is None:
            core = botocore.session.get_session()
            # Listing times are left as text (read by _seconds): botocore's own parsing of them was
            # three quarters of the time a listing of 10,000 output records took on the client.
            core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
            session = boto3.session.Session(botocore_session=core)
            # As many connections as listing.READERS has requests in flight (more would be dropped, with a warning).
            config = botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=16)
            try:
                client = session.client("s3", region_name=session.region_name or "us-east-1", config=config)
            except botocore.exceptions.BotoCoreError as exc:
                raise StoreError(f"cannot set up the S3 client for s3://{bucket}: {exc}") from exc
        self._client = client

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _call(self, what: str, request: Callable[[], Any]) -> Any:
        with self._counting:
            self.requests += 1
        try:
            return request()
        except botocore.exceptions.NoCredentialsError as exc:
            raise StoreError(
                f"no AWS credentials for {self.url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            ) from exc
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            code = str(error.get("Code", status))
            if code in _LOST_RACE or code in _MISSING:
                raise
            message = error.get("Message") or code
            raise StoreError(f"the S3 store {self.url} refused to {what}: {status} {code}: {message}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"cannot reach the S3 store {self.url} to {what}: {exc}") from exc

    @staticmethod
    def _code(exc: botocore.exceptions.ClientError) -> str:
        error = exc.response.get("Error", {})
        return str(error.get("Code", exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")))

    def _open(self, name: str) -> tuple[Any, str] | None:
        """(streaming body, ETag) of an object, None when it does not exist."""
        key = self._name(name)
        try:
            answer = self._call(f"read {name}", lambda: self._client.get_object(Bucket=self.bucket, Key=key))
        except botocore.exceptions.ClientError as exc:
            if self._code(exc) in _MISSING:
                return None
            raise StoreError(f"the S3 store {self.url} refused to read {name}: {self._code(exc)}") from exc
        return answer["Body"], str(answer["ETag"])

    def get(self, name: str) -> tuple[bytes, str] | None:
        """(bytes, ETag) of a small object, None when it does not exist."""
        opened = self._open(name)
        if opened is None:
            return None
        body, etag = opened
        try:
            return body.read(), etag
        finally:
            body.close()

    def exists(self, name: str) -> bool:
        try:
            self._call(f"look at {name}", lambda: self._client.head_object(Bucket=self.bucket, Key=self._name(name)))
        except botocore.exceptions.ClientError as exc:
            if self._code(exc) in _MISSING:
                return False
            raise StoreError(f"the S3 store {self.url} refused to look at {name}: {self._code(exc)}") from exc
        return True

    def put(
        self, name: str, body: bytes | IO[bytes], *, if_none_match: bool = False, if_match: str | None = None
    ) -> str | None:
        """Write `name`; its new ETag, or None when the condition failed (it exists / it changed)."""
        extra: dict[str, str] = {}
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        if if_match is not None:
            extra["IfMatch"] = if_match
        try:
            answer = self._call(
                f"write {name}",
                lambda: self._client.put_object(Bucket=self.bucket, Key=self._name(name), Body=body, **extra),
            )
        except botocore.exceptions.ClientError as exc:
            if self._code(exc) in _LOST_RACE or (if_match is not None and self._code(exc) in _MISSING):
                return None
            raise StoreError(f"the S3 store {self.url} refused to write {name}: {self._code(exc)}") from exc
        return str(answer["ETag"])

    def put_file(self, name: str, path: Path) -> bool:
        """Upload a file (streamed) unless `name` exists; True when this call created it."""
        with path.open("rb") as source:
            return self.put(name, source, if_none_match=True) is not None

    def delete(self, name: str, *, if_match: str | None = None) -> bool:
        """Delete `name` (only if its ETag is still `if_match`); False when it changed meanwhile."""
        extra = {"IfMatch": if_match} if if_match is not None else {}
        try:
            self._call(
                f"delete {name}", lambda: self._client.delete_object(Bucket=self.bucket, Key=self._name(name), **extra)
            )
        except botocore.exceptions.ClientError as exc:
            if self._code(exc) in _LOST_RACE or self._code(exc) in _MISSING:
                return False
            raise StoreError(f"the S3 store {self.url} refused to delete {name}: {self._code(exc)}") from exc
        return True

    def download(self, name: str, sink: Callable[[bytes], None]) -> bool:
        """Stream an object into `sink` in CHUNK pieces; False when it does not exist."""
        opened = self._open(name)
        if opened is None:
            return False
        body = opened[0]
        try:
            for chunk in body.iter_chunks(CHUNK):
                sink(chunk)
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"the download of {name} from {self.url} was cut off: {exc}") from exc
        finally:
            body.close()
        return True

    def budget(self) -> Budget:
        """A budget for listings run side by side: together they read no more than one listing may."""
        return Budget(self.max_objects)

    def list(self, under: str, *, budget: Budget | None = None) -> Iterator[Listed]:
        """Every object whose name starts with `under`, a page (up to 1,000) per request.

        Raises StoreError when the server keeps saying "more" past `max_pages` pages, or hands back
        a token it gave before (its listing goes round in a circle): either way it would never end.
        """
        budget = budget or self.budget()
        token: str | None = None
        given: set[bytes] = set()  # digests of the tokens: a hostile server's tokens could be long
        for _ in range(self.max_pages):
            page, token = self.list_page(under, token)
            if not budget.spend(len(page)):
                raise StoreError(
                    f"the bucket at {self.url} listed more than {budget.objects:,} objects (while listing"
                    f" {under}); a store that big is beyond this tool, or the service is not S3-compatible"
                )
            yield from page
            if token is None:
                return
            if len(token) > MAX_TOKEN_CHARS:
                raise StoreError(
                    f"the bucket at {self.url} gave a continuation token of {len(token):,} characters while"
                    f" listing {under}; is it an S3-compatible service?"
                )
            seen = hashlib.sha256(token.encode()).digest()
            if seen in given:
                raise StoreError(
                    f"the bucket at {self.url} gave the same continuation token twice while listing {under}"
                    f" (after {len(given) + 1:,} pages), so its listing would go round forever;"
                    " is it an S3-compatible service?"
                )
            given.add(seen)
        raise StoreError(
            f"the bucket at {self.url} kept answering more pages after {self.max_pages:,} pages of up to"
            f" {PAGE_OBJECTS:,} objects while listing {under}; is it an S3-compatible service?"
        )

    def list_page(self, under: str, token: str | None = None) -> tuple[tuple[Listed, ...], str | None]:
        """One page (up to 1,000 objects) of the listing of `under`, and the token of the next (None: the last)."""
        prefix = self._name(under)
        cut = len(self._name(""))
        extra = {"ContinuationToken": token} if token else {}
        page = self._call(
            f"list {under}",
            lambda: self._client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=PAGE_OBJECTS, **extra),
        )
        contents = page.get("Contents", ())
        if len(contents) > PAGE_OBJECTS:
            # Pages bigger than asked would be read whole before MAX_LISTED_OBJECTS could stop them.
            raise StoreError(
                f"the bucket at {self.url} answered {len(contents):,} objects in one page of its listing of"
                f" {under}, asked for at most {PAGE_OBJECTS:,}; is it an S3-compatible service?"
            )
        items = tuple(
            Listed(str(item["Key"])[cut:], int(item["Size"]), str(item["ETag"]), _seconds(item["LastModified"]))
            for item in contents
        )
        if not page.get("IsTruncated"):
            return items, None
        following = page.get("NextContinuationToken")
        if not following:
            # Taken as the last page, the rest of the bucket would silently look absent.
            raise StoreError(
                f"the bucket at {self.url} said its listing of {under} goes on but gave no continuation"
                " token to read on with; is it an S3-compatible service?"
            )
        return items, str(following)


def _seconds(modified: str | dt.datetime) -> float:
    """Seconds since the epoch of a listing's LastModified: ISO 8601 text ("...Z"), or a datetime from a
    client made elsewhere (tests pass their own)."""
    if isinstance(modified, dt.datetime):
        return modified.timestamp()
    try:
        return dt.datetime.fromisoformat(modified.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float(botocore.utils.parse_timestamp(modified).timestamp())  # another format a service chose
