"""Files read on a spec's behalf: spec files themselves and the images and audio they name.

Specs arrive in pull requests, so a file is read only if it is a regular file (a FIFO would hang
the run, /dev/zero would fill memory), checked with fstat after opening it (no race with a swap),
and never past its limit (a 3 GB file costs one fstat, not 3 GB). A local image or audio file must
also resolve, symlinks followed, inside the directories holding the specs: otherwise a spec could
upload any file of the machine running it to the API. Reads files, nothing else.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from reconciler.catalog import Media

MAX_MEDIA_BYTES: Final = 20 * 2**20  # a local image or audio file; uploads travel as base64 in JSON

_MAGIC: Final = {
    Media.IMAGE: ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg")),
    Media.AUDIO: ((b"ID3", "audio/mpeg"),),
}
ACCEPTED: Final = {Media.IMAGE: "a PNG, JPEG or WebP image", Media.AUDIO: "an MP3 or WAV audio file"}


class Refused(Exception):
    """A file that is not read: `reason` completes "<file> ..." as a sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooLarge(Refused):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"is {size / 1e6:.1f} MB, over the limit of {limit // 2**20} MB")
        self.size, self.limit = size, limit


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; raises Refused, or OSError."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise TooLarge(info.st_size, limit)
        chunks: list[bytes] = []
        left = limit + 1  # one byte past the limit says a growing file is too large
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise TooLarge(len(data), limit)
        return data
    finally:
        os.close(fd)


def media_type(media: Media, data: bytes) -> str | None:
    """The media type of a file by its magic bytes, or None when it is not a kind `media` accepts."""
    for magic, kind in _MAGIC[media]:
        if data.startswith(magic):
            return kind
    if media is Media.IMAGE and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if media is Media.AUDIO:
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            return "audio/wav"
        # An MP3 without an ID3 tag starts with a frame header: 11 set sync bits, a valid layer.
        if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06:
            return "audio/mpeg"
    return None


def roots_of(paths: Sequence[str | Path]) -> tuple[Path, ...]:
    """The directories holding the specs: each path given, or a file's own directory."""
    roots: list[Path] = []
    for given in paths:
        path = Path(given).resolve()
        roots.append(path if path.is_dir() else path.parent)
    return tuple(roots)


def outside(path: Path, roots: Sequence[Path]) -> bool:
    """True when `path` (already resolved, symlinks followed) is under none of `roots`."""
    return not any(path.is_relative_to(root) for root in roots)
