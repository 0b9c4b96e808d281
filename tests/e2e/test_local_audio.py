"""Local audio end to end: a spec's MP3/WAV is uploaded once per content and the fake takes its URL."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.e2e.conftest import spec, specs_file

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256))
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)


def uploads(fake) -> list[str]:
    """Every data URL the fake received on /upload-asset, from its own journal."""
    return [url for e in fake.journal() if e["path"] == "/upload-asset" for url in e["body"]["data_urls"]]


@pytest.mark.parametrize(
    ("model", "param", "data", "media_type"),
    [("wan2.7-t2v", "audio_url", MP3, "audio/mpeg"), ("wan-2.5-t2v", "audio", WAV, "audio/wav")],
    ids=["wan2.7 audio_url mp3", "wan-2.5 audio wav"],
)
def test_local_audio_is_uploaded_once_per_content_and_its_url_submitted(
    fake, apply, write, project, model, param, data, media_type
) -> None:
    (project / "specs" / "song").write_bytes(data)  # no extension: the magic bytes decide
    (project / "specs" / "same-song").write_bytes(data)
    entries = [
        spec("a", "a dancer", model=model, **{param: "song"}),
        spec("b", "a dancer spinning", model=model, **{param: "same-song"}),
    ]
    write("specs/a.yaml", specs_file(*entries))
    run = apply("--yes")
    assert run.code == 0, run.err + run.out
    sent = uploads(fake)
    assert sent == [f"data:{media_type};base64," + base64.b64encode(data).decode()]
    bodies = [s["body"] for s in fake.submits()]
    assert len(bodies) == 2
    assert bodies[0][param] == bodies[1][param]
    served = httpx.get(bodies[0][param])  # the URL the fake handed out serves the very bytes
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"].startswith(media_type)
    write("specs/a.yaml", specs_file(*entries, spec("c", "a dancer bowing", model=model, **{param: "song"})))
    assert apply("--yes").code == 0
    assert len(uploads(fake)) == 1  # the third spec reuses the remembered URL
