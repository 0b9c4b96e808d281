"""Local images (and audio) on the API's storage: each content uploaded once per run, its URL remembered.

    url = uploads.remembered(image) or await uploads.upload(image)

Many specs may use one image at once: the first asks, the others wait for the same upload. The URL
is kept in the store by content (sha256), so later runs upload nothing. The bytes sent are read
again and checked against the digest the spec was keyed with: a file changed since is refused.
"""

from __future__ import annotations

import asyncio
import hashlib

from reconciler.api.client import SegmindApi
from reconciler.engine.pacer import Pacer
from reconciler.errors import ReconcilerError
from reconciler.spec import LocalImage
from reconciler.spec.files import MAX_MEDIA_BYTES, Refused, read_regular
from reconciler.store import Store


class ImageChanged(ReconcilerError):
    """A local image's bytes changed between reading the specs and uploading it."""


class Uploads:
    """The upload cache of one run."""

    def __init__(self, *, api: SegmindApi, pacer: Pacer, store: Store, namespace: str) -> None:
        self._api = api
        self._pacer = pacer
        self._store = store
        self._namespace = namespace
        self._tasks: dict[str, asyncio.Task[str]] = {}

    def remembered(self, image: LocalImage) -> str | None:
        """The URL an earlier upload of this content left in the store, if any."""
        return self._store.uploaded_url(self._namespace, image.sha256)

    async def upload(self, image: LocalImage) -> str:
        """The URL of a local image on the API's storage: uploaded once per content, remembered."""
        task = self._tasks.get(image.sha256)
        if task is None or (task.done() and task.exception() is not None):
            task = self._tasks[image.sha256] = asyncio.ensure_future(self._upload(image))
        return await asyncio.shield(task)

    async def _upload(self, image: LocalImage) -> str:
        data = image_bytes(image)
        url = await self._pacer.call(lambda: self._api.upload(data, image.media_type))
        self._store.remember_upload(self._namespace, image.sha256, url)
        return url


def image_bytes(image: LocalImage) -> bytes:
    """The local image's (or audio's) bytes, checked against the digest its spec was keyed with."""
    try:
        # Read as the specs were: a file swapped for a FIFO or a device since then must not hang or fill memory.
        data = read_regular(image.path, MAX_MEDIA_BYTES)
    except Refused as error:
        raise ImageChanged(f"{image.path} {error.reason} now; it was a usable file when specs were read") from None
    except OSError as error:
        raise ImageChanged(f"cannot read {image.path} ({error.strerror}); it was there when specs were read") from error
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise ImageChanged(f"{image.path} changed since the specs were read; run apply again")
    return data
