"""What a YAML scalar means: the YAML 1.2 core schema, written out because rapidyaml has none.

rapidyaml hands over every scalar as bytes with its style; `yamldoc` asks here what a plain one is.
Under the core schema `yes`, `on` and `no` stay text (YAML 1.1, which PyYAML reads, makes them
booleans) and `012` is twelve, not ten. Quoted scalars and scalars tagged `!!str` are always text.
Pure.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Final

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES: Final = frozenset({"true", "True", "TRUE"})
_FALSES: Final = frozenset({"false", "False", "FALSE"})
NULL_WORDS: Final = frozenset({"~", "null", "Null", "NULL"})  # rapidyaml's own nulls (not "")
STR_TAGS: Final = frozenset({"!!str", "!str", "tag:yaml.org,2002:str", "<tag:yaml.org,2002:str>"})


class LoneSurrogate(Exception):
    """An escape made half of a UTF-16 surrogate pair, which is no character."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the escape \\u{code:04x} is half of a UTF-16 surrogate pair, not a character")
        self.code = code


def plain(text: str) -> Any:
    """A plain (unquoted) scalar under the YAML 1.2 core schema."""
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    first = text[0]
    if first.isdigit() or first in "+-.":
        if _INT.match(text):
            return int(text)
        if _FLOAT.match(text):
            return float(text)
        lower = text.lower()
        if lower.startswith("0x"):
            with contextlib.suppress(ValueError):
                return int(text[2:], 16)
        if lower.startswith("0o"):
            with contextlib.suppress(ValueError):
                return int(text[2:], 8)
        if lower in (".inf", "+.inf"):
            return float("inf")
        if lower == "-.inf":
            return float("-inf")
        if lower == ".nan":
            return float("nan")
    return text


def escaped_surrogates(raw: bytes) -> str:
    """A scalar whose escapes rapidyaml turned into UTF-16 surrogates (the file itself is UTF-8).

    A JSON-style pair ("\\ud83d\\ude00") is one character and is joined; a lone half raises
    LoneSurrogate.
    """
    halves = raw.decode("utf-8", "surrogatepass")
    try:
        return halves.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        lone = next((c for c in halves if 0xD800 <= ord(c) <= 0xDFFF), "\ufffd")
        raise LoneSurrogate(ord(lone)) from None
