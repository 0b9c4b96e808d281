"""The client's boundary, request by request: who gets the key, which URLs are fetched, what gets in.

A MockTransport plays every host at once and keeps each request, so a test reads exactly what
was sent where (the transport's own record, not the client's).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from reconciler.api.client import SegmindApi
from reconciler.api.origins import api_root, check_key, origin_of, output_url_problem
from reconciler.api.redact import REDACTED, Redactor
from reconciler.errors import ApiBadRequest, ApiUnreachable, ApiUnsafeUrl, UsageError

pytestmark = pytest.mark.anyio
KEY = "SG_a1b2c3d4e5f6a7b8"
API, HISTORY, UPLOAD = "https://api.test", "https://history.test", "https://upload.test:8443"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100

Handler = Callable[[httpx.Request], httpx.Response]


def api_with(handler: Handler, sent: list[httpx.Request], *, base: str = API, **kwargs: object) -> SegmindApi:
    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)

    return SegmindApi(
        api_key=KEY, base_url=base, history_url=HISTORY, upload_url=UPLOAD,
        transport=httpx.MockTransport(record), **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def routes(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.startswith("/v2/requests/"):
        return httpx.Response(200, json={"status": "COMPLETED", "output": "https://cdn.test/v.mp4"})
    if path.startswith("/v2/"):
        return httpx.Response(200, json={"request_id": "r1", "status": "QUEUED"})
    if path.startswith("/inference-request/"):
        return httpx.Response(200, json={"data": [], "total_pages": 1})
    if path == "/upload-asset":
        return httpx.Response(200, json={"file_urls": ["https://cdn.test/i.png"]})
    return httpx.Response(200, content=VIDEO)


async def test_the_key_goes_to_the_api_history_and_upload_origins_and_never_to_a_download() -> None:
    sent: list[httpx.Request] = []
    async with api_with(routes, sent) as api:
        await api.submit("wan-2.2-t2v-fast", "{}")
        result = await api.result("r1")
        await api.history(model="wan-2.2-t2v-fast", since=0, until=86_400)
        await api.upload(b"\x89PNG", "image/png")
        assert result.output_url is not None
        await api.download(result.output_url, lambda chunk: None, max_bytes=10**6)
    keyed = {(r.url.host, r.url.port): r.headers.get("x-api-key") for r in sent}
    assert keyed == {
        ("api.test", None): KEY,
        ("history.test", None): KEY,
        ("upload.test", 8443): KEY,
        ("cdn.test", None): None,
    }
    assert sent[-1].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    "location",
    ["https://elsewhere.test/v2/x", "http://api.test/v2/x", "https://api.test:444/v2/x", "https://u:p@api.test/v2/x"],
)
async def test_a_redirect_off_the_apis_exact_origins_is_not_followed(location: str) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.test" and request.url.port is None and request.url.scheme == "https":
            return httpx.Response(307, headers={"location": location})
        return httpx.Response(200, json={"request_id": "stolen"})

    async with api_with(handler, sent) as api:
        with pytest.raises(ApiUnsafeUrl, match="off the API's hosts; not followed"):
            await api.submit("wan-2.2-t2v-fast", '{"prompt": "paid"}')
    assert [str(r.url) for r in sent] == ["https://api.test/v2/wan-2.2-t2v-fast"]


async def test_a_redirect_within_the_apis_origins_is_followed_with_the_key_and_the_same_body() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.test":
            return httpx.Response(308, headers={"location": "https://HISTORY.test:443/moved"})
        return httpx.Response(200, json={"request_id": "r9"})

    async with api_with(handler, sent) as api:
        assert (await api.submit("wan-2.2-t2v-fast", '{"prompt": "paid"}')).request_id == "r9"
    assert [(r.method, r.url.host, r.headers.get("x-api-key"), r.content) for r in sent] == [
        ("POST", "api.test", KEY, b'{"prompt": "paid"}'),
        ("POST", "history.test", KEY, b'{"prompt": "paid"}'),
    ]


async def test_a_303_of_a_paid_submit_is_not_turned_into_a_get() -> None:
    sent: list[httpx.Request] = []
    handler: Handler = lambda request: httpx.Response(303, headers={"location": "/v2/requests/r1"})  # noqa: E731
    async with api_with(handler, sent) as api:
        with pytest.raises(ApiUnsafeUrl, match="HTTP 303 redirect of a POST"):
            await api.submit("wan-2.2-t2v-fast", "{}")
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("output", "why"),
    [
        ("http://cdn.test/v.mp4", "not https://"),
        ("HTTP://cdn.test/v.mp4", "not https://"),
        ("https://user:pw@cdn.test/v.mp4", "user name or password"),
        ("ftp://cdn.test/v.mp4", "scheme is ftp://"),
        ("file:///etc/passwd", "scheme is file://"),
    ],
)
async def test_an_output_url_that_is_not_plain_https_is_refused_before_any_request(output: str, why: str) -> None:
    sent: list[httpx.Request] = []
    handler: Handler = lambda request: httpx.Response(200, json={"status": "COMPLETED", "output": output})  # noqa: E731
    async with api_with(handler, sent) as api:
        result = await api.result("r1")
        assert result.output_url == output
        with pytest.raises(ApiUnsafeUrl, match=why) as caught:
            await api.download(output, lambda chunk: None, max_bytes=10**6)
    assert not caught.value.temporary
    assert "pw" not in str(caught.value)
    assert [r.url.path for r in sent] == ["/v2/requests/r1"]


async def test_a_loopback_fake_may_serve_its_videos_over_plain_http_in_any_case() -> None:
    sent: list[httpx.Request] = []
    async with api_with(routes, sent, base="http://127.0.0.1:8000") as api:
        assert await api.download("HTTP://127.0.0.2:9000/v.mp4", lambda chunk: None, max_bytes=10**6) == len(VIDEO)
    assert sent[0].headers.get("x-api-key") is None


async def test_a_download_redirect_is_followed_without_the_key_but_only_to_https() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.test":
            return httpx.Response(302, headers={"location": "https://bucket.test/signed?sig=1"})
        if request.url.host == "bucket.test":
            return httpx.Response(302, headers={"location": "http://bucket.test/plain"})
        return httpx.Response(500)

    async with api_with(handler, sent) as api:
        with pytest.raises(ApiUnsafeUrl, match="not https"):
            await api.download("https://cdn.test/v.mp4", lambda chunk: None, max_bytes=10**6)
    assert [str(r.url) for r in sent] == ["https://cdn.test/v.mp4", "https://bucket.test/signed?sig=1"]
    assert all("x-api-key" not in r.headers for r in sent)


async def test_a_server_message_that_echoes_the_key_is_redacted_where_it_enters() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = json.dumps(dict(request.headers))
        if request.url.path.endswith("/status"):
            return httpx.Response(422, json={"status": "FAILED", "error": f"crashed; request was {echoed}"})
        return httpx.Response(400, json={"error": f"bad; headers {dict(request.headers)}"})

    async with api_with(handler, sent) as api:
        with pytest.raises(ApiBadRequest) as caught:
            await api.submit("wan-2.2-t2v-fast", "{}")
        status = await api.status("r1")
    assert KEY not in str(caught.value)
    assert caught.value.server_message is not None
    assert KEY not in caught.value.server_message
    assert status.error is not None
    assert KEY not in status.error
    assert REDACTED in status.error


@pytest.mark.parametrize(
    "failure",
    [
        httpx.LocalProtocolError("Illegal header value b'SG_a1b2c3d4e5f6a7b8 '"),
        httpx.ConnectError("[Errno -2] Name or service not known"),
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'htp://'"),
        OverflowError("getsockaddrarg: port must be 0-65535."),
    ],
)
async def test_a_request_that_provably_never_left_is_not_maybe_sent(failure: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    async with api_with(handler, []) as api:
        with pytest.raises(ApiUnreachable) as caught:
            await api.submit("wan-2.2-t2v-fast", "{}")
    assert not caught.value.maybe_sent
    assert KEY not in str(caught.value)


async def test_a_dropped_answer_may_have_been_sent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    async with api_with(handler, []) as api:
        with pytest.raises(ApiUnreachable) as caught:
            await api.submit("wan-2.2-t2v-fast", "{}")
    assert caught.value.maybe_sent


async def test_abandoned_downloads_are_refused_and_api_requests_still_go() -> None:
    sent: list[httpx.Request] = []
    async with api_with(routes, sent) as api:
        api.abandon_downloads()
        with pytest.raises(ApiUnreachable, match="abandoned, the run is stopping") as caught:
            await api.download("https://cdn.test/v.mp4", lambda chunk: None, max_bytes=10**6)
        await api.status("r1")
    assert not caught.value.maybe_sent
    assert [r.url.host for r in sent] == ["api.test"]


# ---- the pure parts


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1", "cannot be parsed"),
        ("http://127.0.0.1:70000", "cannot be parsed (Port out of range"),
        ("api.segmind.com", "scheme is missing"),
        ("ftp://api.segmind.com", "scheme is ftp://"),
        ("https://user:secret@api.segmind.com", "user name or password"),
        ("https://api.segmind.com/v1?x=1", "no ?query"),
        ("https://api segmind.com", "space"),
        ("https://", "names no host"),
    ],
)
def test_an_unusable_api_url_is_one_sentence_naming_the_setting(url: str, why: str) -> None:
    with pytest.raises(UsageError, match="SEGMIND_BASE_URL") as caught:
        api_root(url, setting="SEGMIND_BASE_URL")
    assert why in str(caught.value)
    assert "secret" not in str(caught.value)


def test_origins_compare_scheme_host_and_port_exactly_with_defaults_filled_in() -> None:
    assert origin_of("HTTPS://API.Segmind.com/v1") == origin_of("https://api.segmind.com:443")
    assert origin_of("https://api.segmind.com") != origin_of("http://api.segmind.com")
    assert origin_of("https://api.segmind.com") != origin_of("https://api.segmind.com:8443")
    assert api_root("https://api.segmind.com/v1/", setting="x") == "https://api.segmind.com"


@pytest.mark.parametrize("key", ["", "  ", "clé", "two words", "tab\there", "line\n"])
def test_a_key_that_is_not_a_legal_header_value_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(UsageError, match="the API key") as caught:
        check_key(key, setting="SEGMIND_API_KEY")
    assert key.strip() == "" or key not in str(caught.value)


def test_output_urls_are_https_only_unless_the_api_is_a_loopback_fake() -> None:
    assert output_url_problem("https://cdn.test/v.mp4", plain_http_ok=False) is None
    assert output_url_problem("HTTPS://cdn.test/v.mp4", plain_http_ok=False) is None
    assert output_url_problem("http://cdn.test/v.mp4", plain_http_ok=False) == "it is not https://"
    assert output_url_problem("http://127.0.0.1:1/v.mp4", plain_http_ok=True) is None
    assert output_url_problem("gopher://127.0.0.1/v.mp4", plain_http_ok=True) is not None


@pytest.mark.parametrize(
    "text",
    [
        f"echo: {{'x-api-key': '{KEY}'}}",
        '{"X-Api-Key": "some-other-accounts-key-123"}',
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload",
        "api_key=0123456789abcdef0123",
        "the key SG_ffffeeeedddd0000 was refused",
    ],
)
def test_a_redactor_removes_the_key_and_anything_shaped_like_one(text: str) -> None:
    redacted = Redactor(KEY)(text)
    assert REDACTED in redacted
    for secret in (KEY, "some-other-accounts-key-123", "eyJhbGciOiJIUzI1NiJ9", "0123456789abcdef0123"):
        assert secret not in redacted
    assert "SG_ffffeeeedddd0000" not in redacted


def test_a_redactor_leaves_ordinary_prose_alone() -> None:
    text = "Invalid API key: it is not known to this server. Retry after 5 s; token limit reached"
    assert Redactor("mock-key")(text) == text
