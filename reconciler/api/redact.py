"""Keys out of server messages: what a server says is redacted once, where it enters. Pure.

    redact = Redactor("SG_0123456789abcdef")
    redact('500: headers {"x-api-key": "SG_0123456789abcdef"}')  # '500: headers {"x-api-key": "[redacted]"}'

A server may echo the request's headers in an error (a proxy's debug page, a gateway's 4xx), and
what the client hands on is stored in attempts.error, printed by plan and written to --json. So
the client passes every server message through one Redactor: the key itself (also URL-encoded),
the value of anything named like a credential (x-api-key, authorization, api_key, token, secret,
password), and strings shaped like Segmind keys (`SG_...`) whoever's they are.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

REDACTED: Final = "[redacted]"
# Server messages are shown in one line of a table: longer ones are cut (after redaction).
MAX_MESSAGE: Final = 300

_NAMED = re.compile(
    r"""(?P<name>x-api-key|api[-_]?key|authorization|access[-_]?token|token|secret|password)"""
    r"""(?P<sep>['"]?\s*[:=,]\s*b?['"]?\s*(?:bearer\s+|basic\s+)?)"""
    r"""(?P<value>(?!\[redacted\])[^\s'",;}\])]{8,})""",
    re.IGNORECASE,
)
_KEY_SHAPED = re.compile(r"\bSG_[A-Za-z0-9]{8,}")


class Redactor:
    """Removes one key, and anything that looks like a key, from text a server sent."""

    def __init__(self, key: str) -> None:
        forms = {key, quote(key, safe="")} if len(key) >= 4 else set()
        # Longest first, so a form that contains another is replaced whole.
        self._forms = sorted((f for f in forms if f), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        text = _NAMED.sub(lambda m: m["name"] + m["sep"] + REDACTED, text)
        text = _KEY_SHAPED.sub(REDACTED, text)
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
