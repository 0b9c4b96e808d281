"""Opening the store a location names: the local directory alone, or a bucket with that directory as its cache.

The remote store (and boto3, slow to import) is loaded only when a bucket is named.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.records import Clock
from reconciler.store.owner import Identity
from reconciler.store.store import Store, StoreView

if TYPE_CHECKING:
    from reconciler.store.location import Remote
    from reconciler.store.s3 import Bucket


def open_store(
    root: Path,
    remote: Remote | None,
    *,
    clock: Clock | None = None,
    identity: Identity | None = None,
    lease_s: float | None = None,
) -> Store:
    """A store to write: `root` itself, or `remote` cached in `root` (probed for conditional writes first)."""
    if remote is None:
        return Store.open(root, clock=clock, identity=identity)
    from reconciler.store.remote import LEASE_S, RemoteStore

    return RemoteStore.open_remote(root, remote, clock=clock, identity=identity, lease_s=lease_s or LEASE_S)


def open_view(root: Path, remote: Remote | None, *, clock: Clock | None = None) -> StoreView:
    """A read-only view for plan: nothing is written, locally or in the bucket."""
    local = Store.open_readonly(root, clock=clock)
    if remote is None:
        return local
    from reconciler.store.listing import RemoteView

    def bucket() -> Bucket:
        from reconciler.store.s3 import Bucket

        return Bucket(remote.bucket, remote.prefix)

    # The bucket (and boto3, and its S3 client) is made on first use: a warm local cache needs none.
    return RemoteView(local, bucket)
