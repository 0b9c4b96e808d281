"""Real, tiny, deterministic MP4s for finished jobs, and a reader for the tags they carry.

Each video is H.264 in MP4 (MPEG-4 part 2 where the FFmpeg build lacks libx264): its frame size
follows the request's aspect ratio or size with the longest side scaled to `media.longest_side`,
its duration follows the requested length at a low frame rate, and its picture is a moving test
pattern drawn from the seed and the prompt. The MP4 `comment` tag reads

    reconciler-mock model=<slug> request_id=<id> request_digest=<sha256 hex>

so a test can prove which request a file answers. Encoding costs a few milliseconds; the encoded
picture is cached per (model, picture) with a fixed-width placeholder in the tag, and each job's
copy is made by overwriting the placeholder in place (same length, so no MP4 box moves).
Bit-exact flags and a single encoder thread make the bytes depend on the request alone.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
from av.codec.context import Flags

from mockserver.config import Media
from reconciler.catalog import Model

TAG_PREFIX = "reconciler-mock"
_ID_WIDTH = 36  # the fake's request ids are UUIDs
_DIGEST_WIDTH = 64
_PLACEHOLDER_ID = "I" * _ID_WIDTH
_PLACEHOLDER_DIGEST = "D" * _DIGEST_WIDTH
_TAG_PATTERN = re.compile(r"(\w+)=(\S+)")
_CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"
_NOMINAL_I2V = (16, 9)  # the image decides the real shape; the fake does not fetch it


@dataclass(frozen=True)
class Picture:
    """Everything that decides a video's pixels."""

    model: str
    width: int
    height: int
    fps: int
    frames: int
    pattern: int  # 64 bits from the seed and the prompt


@dataclass(frozen=True)
class Video:
    """An MP4 and the `free` box padding appended to reach a configured size."""

    data: bytes
    pad: int = 0

    @property
    def size(self) -> int:
        return len(self.data) + self.pad

    def chunks(self, start: int = 0, end: int | None = None, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The bytes in [start, end), padding included, in chunks."""
        stop = self.size if end is None else min(end, self.size)
        position = start
        while position < stop:
            if position < len(self.data):
                piece = self.data[position : min(stop, len(self.data), position + chunk)]
            else:
                piece = self._padding(position - len(self.data), min(stop - position, chunk))
            yield piece
            position += len(piece)

    def _padding(self, offset: int, length: int) -> bytes:
        header = _free_box_header(self.pad)
        if offset >= len(header):
            return bytes(length)
        head = header[offset : offset + length]
        return head + bytes(length - len(head))


def _free_box_header(pad: int) -> bytes:
    # A top-level `free` box is skipped by every MP4 reader; past 4 GiB it needs the 64-bit size.
    if pad >= 1 << 32:
        return struct.pack(">I4sQ", 1, b"free", pad)
    return struct.pack(">I4s", pad, b"free")


def _even(value: float) -> int:
    return max(16, round(value / 2) * 2)


def frame_size(model: Model, params: dict[str, Any], longest_side: int) -> tuple[int, int]:
    """The requested shape, scaled so its longest side is `longest_side` (even numbers, >= 16)."""
    shape = _NOMINAL_I2V
    for name, separator in (("aspect_ratio", ":"), ("ratio", ":"), ("size", "*")):
        value = params.get(name)
        if isinstance(value, str) and separator in value:
            left, right = value.split(separator, 1)
            shape = (int(left), int(right))
            break
    scale = longest_side / max(shape)
    return _even(shape[0] * scale), _even(shape[1] * scale)


def duration_s(params: dict[str, Any]) -> float:
    """The requested length: video_length or duration in seconds, or num_frames at its frame rate."""
    for name in ("video_length", "duration"):
        if isinstance(params.get(name), int):
            return float(params[name])
    frames, fps = params.get("num_frames"), params.get("frames_per_second")
    if isinstance(frames, int) and isinstance(fps, int) and fps > 0:
        return frames / fps
    return 3.0


def picture_for(model: Model, params: dict[str, Any], seed: int, media: Media) -> Picture:
    width, height = frame_size(model, params, media.longest_side)
    prompt = str(params.get("prompt", ""))
    pattern = int.from_bytes(hashlib.sha256(f"{seed}\n{prompt}".encode()).digest()[:8], "big")
    frames = max(1, round(duration_s(params) * media.fps))
    return Picture(model.slug, width, height, media.fps, frames, pattern)


def tag(model: str, request_id: str, digest: str) -> str:
    return f"{TAG_PREFIX} model={model} request_id={request_id} request_digest={digest}"


def encode(picture: Picture, comment: str) -> bytes:
    """Encode the test pattern of `picture` as an MP4 whose comment tag is `comment`."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        container.metadata["comment"] = comment
        stream = container.add_stream(_CODEC, rate=picture.fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = picture.width, picture.height, "yuv420p"
        stream.options = {"preset": "ultrafast", "threads": "1"} if _CODEC == "libx264" else {}
        stream.codec_context.flags |= Flags.bitexact
        for index in range(picture.frames):
            frame = _frame(picture, index)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _frame(picture: Picture, index: int) -> av.VideoFrame:
    """Colour bars chosen by the pattern, sliding one bar-width per second, with a moving band."""
    frame = av.VideoFrame(picture.width, picture.height, "yuv420p")
    bits = picture.pattern
    bars = 4 + bits % 5
    shift = index * picture.width // (bars * picture.fps)
    band = (index * 2 + (bits >> 8) % picture.height) % picture.height
    for plane_no, plane in enumerate(frame.planes):
        width, height = plane.width, plane.height
        levels = [(bits >> (16 + 8 * plane_no + 3 * bar)) % 200 + 28 for bar in range(bars)]
        row = bytes(levels[((x + shift * width // picture.width) * bars // width) % bars] for x in range(width))
        padding = bytes(plane.line_size - width)
        plain = row + padding
        marked = bytes([235 if plane_no == 0 else 128]) * width + padding
        band_row = band * height // picture.height
        plane.update(plain * band_row + marked + plain * (height - band_row - 1))
    return frame


class MediaCache:
    """Encoded pictures by (model, picture), least recently used dropped past `entries`."""

    def __init__(self, *, entries: int) -> None:
        self._entries = entries
        self._cache: OrderedDict[Picture, bytes] = OrderedDict()
        self.encoded = 0  # pictures encoded so far (cache misses): what the cache exists to keep small

    def clear(self) -> None:
        self._cache.clear()

    def video(self, picture: Picture, *, request_id: str, digest: str, pad_to: int = 0) -> Video:
        if len(request_id) != _ID_WIDTH or len(digest) != _DIGEST_WIDTH:
            data = encode(picture, tag(picture.model, request_id, digest))
        else:
            template = self._template(picture)
            placeholder = tag(picture.model, _PLACEHOLDER_ID, _PLACEHOLDER_DIGEST).encode()
            data = template.replace(placeholder, tag(picture.model, request_id, digest).encode(), 1)
        pad = max(0, pad_to - len(data))
        return Video(data, 8 if 0 < pad < 8 else pad)

    def _template(self, picture: Picture) -> bytes:
        cached = self._cache.get(picture)
        if cached is not None:
            self._cache.move_to_end(picture)
            return cached
        data = encode(picture, tag(picture.model, _PLACEHOLDER_ID, _PLACEHOLDER_DIGEST))
        self.encoded += 1
        self._cache[picture] = data
        while len(self._cache) > self._entries:
            self._cache.popitem(last=False)
        return data


def read_tags(source: str | os.PathLike[str] | bytes) -> dict[str, str]:
    """The `key=value` pairs of a fake video's comment tag: model, request_id, request_digest.

    Accepts a path or the file's bytes; an MP4 without the fake's tag gives an empty dict.
    """
    opened = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with av.open(opened, "r") as container:
        comment = str(container.metadata.get("comment", ""))
    if not comment.startswith(TAG_PREFIX + " "):
        return {}
    return dict(_TAG_PATTERN.findall(comment))
