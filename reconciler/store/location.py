"""Where a store lives, from the text a user wrote (`--store`, `store =` in reconciler.toml, $RECONCILER_STORE).

    .reconciler, /var/cache/videos     a local directory
    s3://BUCKET[/PREFIX]               a bucket on any S3-compatible service (the local directory
                                       becomes its cache: $RECONCILER_CACHE, default .reconciler)

Anything else that looks like a URL (ftp://..., gs://..., s3:// without a bucket) is refused with a
sentence, never taken as a folder named after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.errors import UsageError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# S3's own rules for bucket names (3-63 characters of lowercase letters, digits, dots and hyphens).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Remote:
    """A bucket and the prefix under which this store's objects live."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_remote(text: str) -> Remote | None:
    """The remote a store location names, None for a local directory; raises UsageError for a bad URL."""
    scheme = _SCHEME.match(text)
    if scheme is None:
        return None
    if scheme.group(1).lower() != "s3":
        raise UsageError(
            f"unsupported store {text!r}: a store is a local directory or s3://BUCKET/PREFIX"
            " (any S3-compatible service, endpoint from AWS_ENDPOINT_URL)"
        )
    rest = text[scheme.end() :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise UsageError(f"the store {text!r} names no bucket: write s3://BUCKET/PREFIX")
    if not _BUCKET.match(bucket):
        raise UsageError(f"the store {text!r} names {bucket!r}, which is not a valid S3 bucket name")
    parts = [part for part in prefix.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise UsageError(f"the store {text!r} has '.' or '..' in its prefix; write the prefix plainly")
    return Remote(bucket, "/".join(parts))
