"""Facts read from a stored video and its poster frame, made in process with PyAV and cached by digest.

    poster(blob, digest, cache_dir) -> Poster(facts of the file, path of a small JPEG of its first second)

The frame size and duration come from the file itself, not from the spec: what the API delivered is
what the report shows. Blobs never change, so a poster made once for a digest is right for ever:
`<store>/cache/posters/<hex>.jpg` and `<hex>.json` (the facts) are written atomically and reused, so
a second report decodes nothing. A file PyAV cannot read gets no poster and no facts (the card says
so) rather than stopping the report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from reconciler.atomic import write_atomic

POSTER_AT_S = 0.5  # a frame from the first second: past a fade-in, before the first cut
POSTER_LONGEST_SIDE = 480  # big enough for a card, small enough for a page of a thousand
CACHE_VERSION = 1


@dataclass(frozen=True)
class VideoFacts:
    """What the file says about itself."""

    width: int
    height: int
    duration_s: float
    fps: float
    poster_width: int
    poster_height: int


@dataclass(frozen=True)
class Poster:
    facts: VideoFacts | None  # None: the file could not be decoded
    path: Path | None  # the cached JPEG, None when there is none
    problem: str | None = None


def poster_dir(store_root: Path) -> Path:
    return store_root / "cache" / "posters"


def poster(blob: Path, digest: str, cache_dir: Path) -> Poster:
    """The poster and facts of the blob named `digest`, from the cache when they are there."""
    hex_digest = digest.removeprefix("sha256:")
    image, facts_file = cache_dir / f"{hex_digest}.jpg", cache_dir / f"{hex_digest}.json"
    cached = _read_facts(facts_file)
    if cached is not None and image.is_file():
        return Poster(cached, image)
    import av  # here, not at the top: a report whose posters are all cached never loads FFmpeg

    try:
        facts, jpeg = _decode(blob)
    except (av.error.FFmpegError, OSError, ValueError, StopIteration, ZeroDivisionError) as exc:
        return Poster(None, None, f"cannot decode {blob.name}: {exc}")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(image, jpeg)
        write_atomic(facts_file, json.dumps({"version": CACHE_VERSION, **asdict(facts)}).encode())
    except OSError as exc:  # a read-only store still gets a report, only a slower one next time
        return Poster(facts, None, f"cannot cache the poster of {blob.name}: {exc}")
    return Poster(facts, image)


def _read_facts(path: Path) -> VideoFacts | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("version", None) != CACHE_VERSION:
            return None
        return VideoFacts(**data)
    except (OSError, ValueError, TypeError):  # missing or foreign: made again
        return None


def _decode(blob: Path) -> tuple[VideoFacts, bytes]:
    import av

    with av.open(str(blob)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        duration = _duration(container, stream)
        rate = stream.average_rate or stream.guessed_rate
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time >= min(POSTER_AT_S, duration / 2):
                break
        if chosen is None:
            raise ValueError("it has no video frame")
    scale = min(1.0, POSTER_LONGEST_SIDE / max(width, height))
    poster_w, poster_h = max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
    facts = VideoFacts(width, height, round(duration, 3), float(rate) if rate else 0.0, poster_w, poster_h)
    return facts, _jpeg(chosen, poster_w, poster_h)


def _duration(container: Any, stream: Any) -> float:
    import av

    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * Fraction(stream.time_base))
    if container.duration is not None:
        return float(container.duration) / av.time_base
    return 0.0


def _jpeg(frame: Any, width: int, height: int) -> bytes:
    import av

    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    codec.options = {"qmin": "2", "qmax": "6"}
    image = frame.reformat(width=width, height=height, format="yuvj420p")
    packets = [*codec.encode(image), *codec.encode(None)]
    if not packets:
        raise ValueError("the JPEG encoder gave nothing")
    return b"".join(bytes(p) for p in packets)
