"""Which hosts may hear what: the API's own origins get the key, output URLs get nothing. Pure.

    base = api_root("https://api.segmind.com/v1", setting="SEGMIND_BASE_URL")   # or UsageError
    origin_of(base) in origins                       # the key goes only where this holds
    output_url_problem("http://cdn/x.mp4", plain_http_ok=False)   # "it is not https://"

An origin is (scheme, host, port) compared exactly, with the scheme and host lowercased and the
default port filled in, so `HTTPS://API.segmind.com:443` and `https://api.segmind.com` are one.
Settings are checked here once, before a run claims anything: a URL httpx could not parse, a port
out of range or a key that is not a legal header value would otherwise fail mid-request, after
the engine had taken a paid submit's claim.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from reconciler.errors import UsageError

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str  # "http" or "https", lowercased
    host: str  # lowercased; an IPv6 address without brackets
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def url_problem(url: str) -> str | None:
    """Why `url` is not an http(s) URL this tool will send a request to, or None."""
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in url):
        return "it contains a space, a control character or a character that is not ASCII"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError past 65535
    except ValueError as error:
        return f"it cannot be parsed ({error})"
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return f"its scheme is {parts.scheme + '://' if parts.scheme else 'missing'}, not http:// or https://"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "it carries a user name or password (user@host)"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "its port is 0"
    return None


def origin_of(url: str) -> Origin:
    """The origin of a URL that passed `url_problem`; raises ValueError for one that did not."""
    if (problem := url_problem(url)) is not None:
        raise ValueError(problem)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return Origin(scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS[scheme])


def api_root(url: str, *, setting: str) -> str:
    """A checked API base without a trailing slash or version (`.../v1` as the official client takes it)."""
    if (problem := url_problem(url)) is not None:
        raise UsageError(f"{setting} {shown_url(url)} is not a usable URL: {problem}")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise UsageError(f"{setting} {shown_url(url)} is not a usable URL: an API base has no ?query or #fragment")
    root = url.rstrip("/")
    return root.removesuffix("/v1").removesuffix("/v2")


def check_key(key: str, *, setting: str) -> None:
    """A key must be a legal header value: printable ASCII without spaces. Never shows the key."""
    if not key.strip():
        raise UsageError(f"the API key ({setting}) is blank")
    for index, char in enumerate(key, start=1):
        if ord(char) < 0x21 or ord(char) > 0x7E:
            what = "a space" if char == " " else f"the character U+{ord(char):04X}"
            raise UsageError(
                f"the API key ({setting}) has {what} at position {index} of {len(key)}: a key is printable ASCII "
                "without spaces (check for a stray quote, newline or pasted non-breaking space)"
            )


def output_url_problem(url: str, *, plain_http_ok: bool) -> str | None:
    """Why the API's output URL `url` is not fetched, or None.

    Only https:// is fetched, except plain http:// when the API itself is a local fake on loopback
    (`plain_http_ok`): a video over plain http could be swapped on the way.
    """
    if (problem := url_problem(url)) is not None:
        return problem
    if urlsplit(url).scheme.lower() != "https" and not plain_http_ok:
        return "it is not https://"
    return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def shown_url(url: str) -> str:
    """A URL for a message: without any user:password it may carry, quoted, cut short."""
    shown = re.sub(r"//[^/?#]*@", "//***@", url)
    return repr(shown if len(shown) <= 120 else shown[:117] + "...")
