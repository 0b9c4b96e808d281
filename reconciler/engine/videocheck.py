"""Is a download a whole video? Checked as it streams, without holding it.

An MP4 is a sequence of top-level boxes, each starting with its size; a whole file ends exactly at
a box boundary, starts with `ftyp`, and holds `moov` and `mdat`. A transfer cut short, even one
whose Content-Length was cut to match, ends inside a box and is refused. WebM (EBML) is accepted by
its magic bytes only. Pure: fed bytes, keeps a few counters.
"""

from __future__ import annotations

import struct
from typing import Final

EBML_MAGIC: Final = b"\x1a\x45\xdf\xa3"


class NotAVideo(ValueError):
    """The bytes are not a whole MP4 or WebM video; the message says why."""


class VideoCheck:
    """Feed every chunk to `update`, then call `finish`; raises NotAVideo."""

    def __init__(self) -> None:
        self._head = b""  # the start of the current box header, until it is complete
        self._remaining = 0  # bytes left in the current box's body
        self._offset = 0
        self._kinds: list[bytes] = []
        self._webm = False
        self._to_end = False  # a box of size 0 runs to the end of the file

    def update(self, chunk: bytes) -> None:
        if self._webm or self._to_end:
            self._offset += len(chunk)
            return
        view = memoryview(chunk)
        while view:
            if self._remaining:
                step = min(self._remaining, len(view))
                self._remaining -= step
                self._offset += step
                view = view[step:]
                continue
            need = 16 if len(self._head) >= 8 and self._head[:4] == b"\x00\x00\x00\x01" else 8
            take = min(need - len(self._head), len(view))
            self._head += bytes(view[:take])
            self._offset += take
            view = view[take:]
            if not self._kinds and len(self._head) >= 4 and self._head[:4] == EBML_MAGIC:
                self._webm = True
                self._offset += len(view)
                return
            if len(self._head) < 8:
                continue
            if self._head[:4] == b"\x00\x00\x00\x01" and len(self._head) < 16:
                continue
            self._start_box()

    def _start_box(self) -> None:
        size = struct.unpack(">I", self._head[:4])[0]
        kind = self._head[4:8]
        header = 8
        if size == 1:
            size = struct.unpack(">Q", self._head[8:16])[0]
            header = 16
        if not self._kinds and kind != b"ftyp":
            raise NotAVideo("not an MP4 or WebM video (it does not start with an ftyp box or EBML header)")
        if not kind.isascii() or not all(32 <= byte < 127 for byte in kind):
            raise NotAVideo(f"broken MP4: a box at byte {self._offset - header} has no readable type")
        self._kinds.append(kind)
        self._head = b""
        if size == 0:
            self._to_end = True
        elif size < header:
            raise NotAVideo(f"broken MP4: the {kind.decode()} box at byte {self._offset - header} is {size} bytes")
        else:
            self._remaining = size - header

    def finish(self) -> None:
        if self._offset == 0:
            raise NotAVideo("the download is empty")
        if self._webm:
            return
        if self._head or self._remaining:
            missing = self._remaining or "some"
            raise NotAVideo(f"the MP4 is cut short: {missing} bytes of its last box are missing")
        kinds = set(self._kinds)
        if b"moov" not in kinds or (b"mdat" not in kinds and not self._to_end):
            raise NotAVideo("the MP4 has no movie (moov) or media data (mdat) box")
