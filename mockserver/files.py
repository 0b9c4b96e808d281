"""`GET|HEAD /files/{name}`: finished videos and uploaded assets, with single byte ranges.

Like the real service's output URLs, files need no API key, and they outlive the one-hour result
retention (they go at a reset), so a client that recovers a job from the request history can
still download it. A video exists from the moment its job is COMPLETED. `Range: bytes=a-b`,
`a-` and `-n` are honoured (206, or 416 when unsatisfiable), so resumable downloads work; a
multi-range request gets the whole file, which HTTP allows.
"""

from __future__ import annotations

import hashlib
import re

from starlette.responses import Response, StreamingResponse

from mockserver.gateway import Call, Reply, error
from mockserver.jobs import JobState
from mockserver.media import Video
from mockserver.state import MockState

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end exclusive) of a single satisfiable range; None for the whole; "416" otherwise."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        return (max(0, size - length), size) if length > 0 and size > 0 else "416"
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if start >= size or (last and int(last) < start):
        return "416"
    return start, end


class Files:
    """The files route's handler."""

    def __init__(self, *, state: MockState) -> None:
        self.state = state

    def model_of(self, name: str) -> str | None:
        job = self.state.jobs.get(name.removesuffix(".mp4"))
        return None if job is None else job.model

    async def serve(self, call: Call) -> Reply:
        name: str = call.request.path_params["name"]
        job = self.state.jobs.get(name.removesuffix(".mp4")) if name.endswith(".mp4") else None
        if job is not None and job.state_at(call.now) is JobState.COMPLETED:
            video = self.state.video(job)
            # The padding is zeros after the MP4, so the MP4's hash and the size name the bytes.
            etag = f'"{hashlib.sha256(video.data).hexdigest()[:32]}-{video.size}"'
            return Reply(self._send(call, video, "video/mp4", etag), job.id)
        asset = self.state.assets.get(name)
        if asset is not None:
            return Reply(self._send(call, Video(asset.data), asset.media_type, f'"{name}"'))
        return Reply(error(404, f"File {name!r} not found."), None if job is None else job.id)

    def _send(self, call: Call, video: Video, media_type: str, etag: str) -> Response:
        size = video.size
        headers = {"Accept-Ranges": "bytes", "ETag": etag}
        wanted = byte_range(call.request.headers.get("range"), size)
        if wanted == "416":
            return Response(b"", status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        status = 200
        start, end = 0, size
        if isinstance(wanted, tuple):
            start, end = wanted
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if call.request.method == "HEAD":
            return Response(b"", status_code=status, headers=headers, media_type=media_type)
        if video.pad == 0:
            return Response(video.data[start:end], status_code=status, headers=headers, media_type=media_type)
        return StreamingResponse(video.chunks(start, end), status_code=status, headers=headers, media_type=media_type)
