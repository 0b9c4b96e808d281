"""Uploaded assets: `POST /upload-asset` data URLs, kept by content and served under /files/.

Image-to-video needs an http(s) image URL; uploading a local image gives one on this server. The
name is the content's sha256, so uploading the same bytes twice gives the same URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(;[\w-]+=[\w.+-]+)*);base64,(?P<data>.*)$", re.S)
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "video/mp4": "mp4",
}


@dataclass(frozen=True)
class Asset:
    name: str
    media_type: str
    data: bytes


def decode_data_url(text: str) -> tuple[str, bytes]:
    """(media type, bytes) of a base64 data URL; raises ValueError with a message."""
    match = _DATA_URL.match(text)
    if match is None:
        raise ValueError("each entry of data_urls must be a base64 data URL (data:<type>;base64,<data>)")
    try:
        data = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a data URL's payload is not valid base64") from None
    if not data:
        raise ValueError("a data URL's payload is empty")
    return match["mime"].lower(), data


class AssetStore:
    """Assets by name; names are content hashes with an extension from the media type."""

    def __init__(self) -> None:
        self._assets: dict[str, Asset] = {}

    def clear(self) -> None:
        self._assets.clear()

    def put(self, media_type: str, data: bytes) -> Asset:
        extension = _EXTENSIONS.get(media_type, "bin")
        name = f"assets-{hashlib.sha256(data).hexdigest()[:32]}.{extension}"
        return self._assets.setdefault(name, Asset(name, media_type, data))

    def get(self, name: str) -> Asset | None:
        return self._assets.get(name)
