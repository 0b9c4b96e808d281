"""Local images and audio are recognised by their magic bytes, never by their names."""

from __future__ import annotations

import pytest

from reconciler.catalog import Media
from reconciler.spec.files import media_type


@pytest.mark.parametrize(
    ("media", "head", "expected"),
    [
        (Media.IMAGE, b"\x89PNG\r\n\x1a\n", "image/png"),
        (Media.IMAGE, b"\xff\xd8\xff\xe0", "image/jpeg"),
        (Media.IMAGE, b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (Media.AUDIO, b"ID3\x04\x00", "audio/mpeg"),
        (Media.AUDIO, b"\xff\xfb\x90\x64", "audio/mpeg"),  # an MP3 frame header without an ID3 tag
        (Media.AUDIO, b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (Media.AUDIO, b"\x89PNG\r\n\x1a\n", None),  # an image is not audio
        (Media.IMAGE, b"ID3\x04\x00", None),  # nor audio an image
        (Media.AUDIO, b"RIFF\x00\x00\x00\x00WEBPVP8 ", None),
        (Media.AUDIO, b"\xff\xe0", None),  # sync bits but a reserved layer
        (Media.AUDIO, b"", None),
    ],
)
def test_media_type_is_decided_by_the_first_bytes(media, head, expected) -> None:
    assert media_type(media, head + b"\x00" * 32) == expected
