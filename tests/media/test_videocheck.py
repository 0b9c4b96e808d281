"""Whole videos pass the check, however they are chunked; cut, empty or foreign bytes do not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.media import Picture, encode, tag
from reconciler.engine.videocheck import NotAVideo, VideoCheck


def sample_video() -> bytes:
    """A real MP4, made the way the fake makes its videos."""
    picture = Picture(model="wan-2.2-t2v-fast", width=32, height=18, fps=4, frames=4, pattern=12345)
    return encode(picture, tag("wan-2.2-t2v-fast", "r1", "d" * 64))


WHOLE = sample_video()


def check(data: bytes, cuts: list[int]) -> None:
    checker = VideoCheck()
    last = 0
    for cut in sorted(cuts):
        checker.update(data[last:cut])
        last = cut
    checker.update(data[last:])
    checker.finish()


@settings(max_examples=50)
@given(st.lists(st.integers(0, len(WHOLE)), max_size=20))
def test_a_whole_mp4_passes_however_it_is_chunked(cuts: list[int]) -> None:
    check(WHOLE, cuts)


@settings(max_examples=50)
@given(st.integers(1, len(WHOLE) - 1))
def test_an_mp4_cut_anywhere_is_refused(length: int) -> None:
    with pytest.raises(NotAVideo):
        check(WHOLE[:length], [])


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"<html>not found</html>", "not an MP4"), (b"GIF89a" + b"\x00" * 100, "not an MP4")],
)
def test_foreign_or_empty_bytes_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(NotAVideo, match=message):
        check(data, [])


def test_webm_is_accepted_by_its_magic() -> None:
    check(b"\x1a\x45\xdf\xa3" + b"\x00" * 64, [3])
