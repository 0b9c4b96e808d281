"""A finished job's video into the store: streamed through VideoCheck into a temp blob, never whole in memory.

    blob = await downloads.fetch(url)      a download; a cut or mangled transfer is discarded
    blob = downloads.whole(data)           a video the API sent inline (base64)

Either way the blob becomes an object only once it is whole and looks like a video; until then the
temp file is discarded. A broken video raises ApiUnreachable (never sent: safe to fetch again), so
the pacer retries a download like any other request. At most `limit` downloads run at once
(`slots`): each streams, so memory stays flat however many jobs finish together.
"""

from __future__ import annotations

import asyncio

from reconciler.api.client import SegmindApi
from reconciler.engine.videocheck import NotAVideo, VideoCheck
from reconciler.errors import ApiUnreachable
from reconciler.records import BlobInfo
from reconciler.store import Store


class Downloads:
    """Where the videos of one run come into its store."""

    def __init__(self, *, api: SegmindApi, store: Store, max_bytes: int, limit: int) -> None:
        self._api = api
        self._store = store
        self._max_bytes = max_bytes
        self.slots = asyncio.Semaphore(limit)

    def whole(self, data: bytes) -> BlobInfo:
        check = VideoCheck()
        with self._store.blob_writer(max_bytes=self._max_bytes) as writer:
            check.update(data)
            try:
                check.finish()
            except NotAVideo as error:
                raise ApiUnreachable(f"the inline video is broken: {error}", maybe_sent=False) from error
            writer.write(data)
            return writer.commit()

    async def fetch(self, url: str) -> BlobInfo:
        check = VideoCheck()
        with self._store.blob_writer(max_bytes=self._max_bytes) as writer:

            def sink(chunk: bytes) -> None:
                check.update(chunk)
                writer.write(chunk)

            try:
                await self._api.download(url, sink, max_bytes=self._max_bytes)
                check.finish()
            except NotAVideo as error:
                # A cut or mangled transfer: discard it and fetch again (the pacer retries).
                raise ApiUnreachable(f"the download is not a whole video: {error}", maybe_sent=False) from error
            return writer.commit()
