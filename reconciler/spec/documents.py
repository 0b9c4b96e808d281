"""Spec files as documents: bytes in, plain data plus a way to point at any key or value out.

YAML is parsed with rapidyaml (a C++ parser; with the walk to Python values, 1.2-3.6x faster than
PyYAML's C loader on large spec sets) and its tree is turned into Python values with the YAML 1.2
core schema, so `yes` stays text and `012` is twelve. TOML uses the standard library. Neither
parser reports positions of values, so positions come from a cheap line scanner for entry names
(needed for every entry) and, only when a file has a mistake to point at, from PyYAML's composer
(precise marks), built once per file. Pure: reads no files itself.

Hostile files are refused with `file:line` before they can hurt: nesting deeper than MAX_DEPTH
(the walk, PyYAML's composer and tomllib all recurse), aliases that would add more than
MAX_ALIAS_NODES nodes (a few hundred bytes of nested anchors expand to billions), and escapes that
make no text (a lone UTF-16 surrogate).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from reconciler.errors import Location, SpecError

MAX_FILE_BYTES: Final = 10 * 1024 * 1024
MAX_DEPTH: Final = 64  # a spec needs 5 levels (videos, entry, matrix, parameter, values)
MAX_ALIAS_NODES: Final = 100_000  # nodes that aliases may add to a file, counted before expanding them
YAML_SUFFIXES: Final = (".yaml", ".yml")
TOML_SUFFIXES: Final = (".toml",)
SUFFIXES: Final = YAML_SUFFIXES + TOML_SUFFIXES

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One parsed spec file: its top-level mapping and the positions of its entries."""

    path: str
    data: dict[str, Any]
    text: str = field(repr=False)
    entry_lines: dict[str, tuple[int, int]] = field(repr=False)
    # The composed PyYAML tree, built at most once and only when a mistake must be pointed at.
    _composed: list[Any] = field(default_factory=list, repr=False, compare=False)

    def composed(self) -> Any:
        if not self._composed:
            self._composed.append(_compose(self.text))
        return self._composed[0]

    def at(self, keys: PathKey, *, key: bool = False) -> Location:
        """Where the value at `keys` (or, with `key`, its key) is written; best effort, never raises."""
        line, col = _locate(self, keys, key=key)
        return Location(self.path, line, col)


def parse(path: str, data: bytes) -> Document:
    """Parse a spec file's bytes; raises SpecError for anything that is not a usable spec file."""
    if len(data) > MAX_FILE_BYTES:
        raise too_large(path, len(data))
    text = _decode(path, data)
    top: Any
    if path.endswith(TOML_SUFFIXES):
        top = _parse_toml(path, text)
        lines = _toml_entry_lines(text)
    else:
        top = _parse_yaml(path, data, text)
        lines = _yaml_entry_lines(text)
    if top is None:
        raise SpecError(Location(path, 1, 1), "file is empty", "add a `videos:` mapping of name to entry, or delete it")
    if not isinstance(top, dict):
        kind = "a list" if isinstance(top, list) else "a single value"
        raise SpecError(
            Location(path, 1, 1),
            f"top level is {kind}, not a mapping",
            "a spec file is a mapping with `videos:` (and optionally `defaults:`)",
        )
    return Document(path=path, data=top, text=text, entry_lines=lines)


def too_large(path: str, size: int) -> SpecError:
    return SpecError(
        Location(path),
        f"file is {size / 1e6:.1f} MB; spec files are limited to {MAX_FILE_BYTES // 2**20} MB",
        "split it into several files",
    )


def too_deep(path: str, line: int, col: int) -> SpecError:
    return SpecError(
        Location(path, line, col),
        f"values are nested more than {MAX_DEPTH} levels deep",
        "a spec needs a handful of levels; flatten it",
    )


def _decode(path: str, data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SpecError(Location(path), "file is binary, not a text spec file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(Location(path, line, col), "file is not valid UTF-8 text", "save it as UTF-8") from None
    return text.removeprefix("\ufeff")


# ---- TOML


_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def _parse_toml(path: str, text: str) -> dict[str, Any] | None:
    import tomllib  # like the YAML parsers, imported by the first file to parse (a warm run parses none)

    deep = _toml_too_deep(text)
    if deep is not None:
        raise too_deep(path, *deep)
    try:
        value = tomllib.loads(text)
    except RecursionError:  # the scan above should have caught it; never a traceback
        raise too_deep(path, 1, 1) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_AT.search(message)
        line, col = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
        message = _TOML_AT.sub("", message).strip()
        raise SpecError(Location(path, line, col), f"TOML syntax error: {message}") from None
    if _nested_deeper(value, MAX_DEPTH):  # dotted keys nest without brackets: a.b.c.d = 1
        lines = text.splitlines() or [""]
        deepest = max(range(len(lines)), key=lambda n: lines[n].split("=")[0].count("."))
        raise too_deep(path, deepest + 1, 1)
    return value or None


_TOML_TOKENS = re.compile(
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]', re.S
)


def _toml_too_deep(text: str) -> tuple[int, int] | None:
    """Where arrays or inline tables first nest past MAX_DEPTH (tomllib recurses into them)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None  # the common case: too few brackets to be too deep, no scan
    depth = 0
    for token in _TOML_TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                start = token.start()
                return text.count("\n", 0, start) + 1, start - (text.rfind("\n", 0, start) + 1) + 1
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


def _nested_deeper(value: Any, limit: int) -> bool:
    """Whether lists and mappings nest more than `limit` deep (iterative: the value may be deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


_TOML_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_TOML_KEY = re.compile(r"""^(\s*)("[^"]*"|'[^']*'|[A-Za-z0-9_.\-/"' ]+?)\s*=""")


def _toml_dotted(text: str) -> list[str]:
    parts: list[str] = []
    for found in re.finditer(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([^.\s"\']+)', text):
        parts.append(next(g for g in found.groups() if g is not None))
    return parts


def _toml_positions(text: str) -> dict[PathKey, tuple[int, int]]:
    """Dotted key path -> (line, col) for table headers and `key = value` lines."""
    out: dict[PathKey, tuple[int, int]] = {}
    table: tuple[str, ...] = ()
    in_multiline = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if raw.count('"""') % 2 == 1 or raw.count("'''") % 2 == 1:
                in_multiline = False
            continue
        header = _TOML_HEADER.match(raw)
        if header:
            table = tuple(_toml_dotted(header.group(1)))
            out.setdefault(table, (number, raw.index("[") + 1))
            continue
        pair = _TOML_KEY.match(raw)
        if pair:
            path = table + tuple(_toml_dotted(pair.group(2)))
            out.setdefault(path, (number, len(pair.group(1)) + 1))
            rest = raw[pair.end() :]
            if rest.count('"""') == 1 or rest.count("'''") == 1:
                in_multiline = True
    return out


def _toml_entry_lines(text: str) -> dict[str, tuple[int, int]]:
    return {
        path[1]: where
        for path, where in _toml_positions(text).items()
        if len(path) == 2 and path[0] == "videos" and isinstance(path[1], str)
    }


# ---- YAML


class _YamlSyntax(Exception):
    def __init__(self, message: str, line: int = 0, col: int = 0, duplicate: PathKey = (), escape: int = 0) -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.duplicate, self.escape = message, line, col, duplicate, escape


class _TooDeep(Exception):
    """The walk met a collection nested past MAX_DEPTH."""


class _AliasBomb(Exception):
    """Expanding the file's aliases would add more than MAX_ALIAS_NODES nodes."""

    def __init__(self, added: int) -> None:
        super().__init__(added)
        self.added = added


_ryml_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """rapidyaml prints parse errors to fd 2 before raising; the user gets our message instead."""
    with _ryml_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _parse_yaml(path: str, data: bytes, text: str) -> Any:
    try:
        return _ryml_load(data)
    except _TooDeep:
        raise too_deep(path, *_event_position(text, deeper_than=MAX_DEPTH)) from None
    except _AliasBomb as exc:
        raise SpecError(
            Location(path, *_event_position(text, aliases_over=MAX_ALIAS_NODES)),
            f"aliases would add {_count(exc.added)} nodes to this file; at most {MAX_ALIAS_NODES:,} are allowed",
            "write the values out, or use fewer nested anchors",
        ) from None
    except _YamlSyntax as exc:
        if exc.duplicate:
            line, col = _duplicate_position(text, exc.duplicate)
            raise SpecError(Location(path, line, col), exc.message, "each key may appear once in a mapping") from None
        if exc.escape:
            line, col = _escape_position(text, exc.escape)
            hint = "write the character itself, or a valid pair"
            raise SpecError(Location(path, line, col), exc.message, hint) from None
        raise SpecError(Location(path, exc.line, exc.col), f"YAML syntax error: {exc.message}") from None


def _escape_position(text: str, code: int) -> tuple[int, int]:
    """Where an escape of the code point `code` (\\uXXXX or \\U0000XXXX) is first written."""
    found = re.search(rf"\\(?:u|U0000){code:04x}", text, re.IGNORECASE)
    if found is None:
        return (0, 0)
    start = found.start()
    return text.count("\n", 0, start) + 1, start - (text.rfind("\n", 0, start) + 1) + 1


def _count(number: int) -> str:
    return f"{number:,}" if number < 10**15 else f"about 10^{len(str(number)) - 1}"


def _event_position(text: str, *, deeper_than: int = 0, aliases_over: int = 0) -> tuple[int, int]:
    """Where the file first nests past `deeper_than`, or where its aliases first add more than
    `aliases_over` nodes, from PyYAML's event stream (it neither recurses nor expands aliases)."""
    import yaml

    sizes: dict[str, int] = {}  # anchor -> nodes in its value, aliases inside it expanded
    open_nodes: list[list[Any]] = []  # [anchor, nodes so far] of each open collection
    added = 0
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(event, yaml.AliasEvent):
                grown = sizes.get(str(event.anchor), 1)
                added += grown
                if aliases_over and added > aliases_over:
                    return _mark_of(event)
                if open_nodes:
                    open_nodes[-1][1] += grown
            elif isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append([event.anchor, 1])
                if deeper_than and len(open_nodes) > deeper_than:
                    return _mark_of(event)
            elif isinstance(event, yaml.CollectionEndEvent) and open_nodes:
                anchor, size = open_nodes.pop()
                if anchor is not None:
                    sizes[str(anchor)] = size
                if open_nodes:
                    open_nodes[-1][1] += size
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor is not None:
                    sizes[str(event.anchor)] = 1
                if open_nodes:
                    open_nodes[-1][1] += 1
    except (yaml.YAMLError, RecursionError):
        pass
    return (1, 1)


def _mark_of(event: Any) -> tuple[int, int]:
    return (event.start_mark.line + 1, event.start_mark.column + 1)


def _ryml_load(data: bytes) -> Any:
    import ryml

    try:
        with _quiet_stderr():
            tree = ryml.parse_in_arena(data)
            # Only a file that seems to hold both an anchor and an alias pays for the count.
            if b"&" in data and b"*" in data and _ANCHOR.search(data) and _ALIAS.search(data):
                added = _alias_growth(tree, ryml.NONE)
                if added > MAX_ALIAS_NODES:
                    raise _AliasBomb(added)
            tree.resolve()
    except ryml.ExceptionBasic as exc:
        where = getattr(getattr(exc, "errdata_parse", None), "ymlloc", None)
        line = int(where.line) if where is not None and where.line < 2**32 else 0
        col = int(where.col) if where is not None and where.col < 2**32 else 0
        raise _YamlSyntax(str(getattr(exc, "msg", "")) or "cannot parse", line, col) from None
    root = tree.root_id()
    if tree.is_stream(root):
        docs = []
        child = tree.first_child(root)
        while child != ryml.NONE:
            docs.append(child)
            child = tree.next_sibling(child)
        if len(docs) > 1:
            raise _YamlSyntax(
                f"the file holds {len(docs)} YAML documents (separated by ---); a spec file holds one", 1, 1
            )
        if not docs:
            return None
        root = docs[0]
    return _Walker(tree, ryml.NONE).value(root)


# An anchor or alias is never glued to a word before it and always has a name after it (so
# "rock & roll" and "1280*720" are neither); a false positive only costs the count.
_ANCHOR = re.compile(rb"(?<!\w)&[^\s,\[\]{}]")
_ALIAS = re.compile(rb"(?<!\w)\*[^\s,\[\]{}]")


def _alias_growth(tree: Any, none: int) -> int:
    """How many nodes resolving the tree's aliases would add, counted without expanding them.

    One pass in document order (an anchor comes before its aliases); sizes are plain integers, so a
    bomb that would expand to billions of nodes costs a few hundred steps here.
    """
    sizes: dict[bytes, int] = {}  # anchor -> nodes in its value, aliases inside it expanded
    expanded: dict[int, int] = {}
    stack: list[tuple[int, list[int] | None]] = [(tree.root_id(), None)]
    while stack:
        node, children = stack.pop()
        if children is None:
            kids = []
            child = tree.first_child(node)
            while child != none:
                kids.append(child)
                child = tree.next_sibling(child)
            stack.append((node, kids))
            stack.extend((kid, None) for kid in reversed(kids))
            continue
        size = 1 + sum(expanded.pop(kid) for kid in children)
        if tree.is_val_ref(node):
            size += sizes.get(bytes(tree.val_ref(node)), 1) - 1
        if tree.is_key_ref(node):
            size += sizes.get(bytes(tree.key_ref(node)), 1) - 1
        if tree.has_val_anchor(node):
            sizes[bytes(tree.val_anchor(node))] = size
        if tree.has_key_anchor(node):
            sizes[bytes(tree.key_anchor(node))] = 1
        expanded[node] = size
    return expanded.get(tree.root_id(), 1) - int(tree.size())


_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES: Final = frozenset({"true", "True", "TRUE"})
_FALSES: Final = frozenset({"false", "False", "FALSE"})
_STR_TAGS: Final = frozenset({"!!str", "!str", "tag:yaml.org,2002:str", "<tag:yaml.org,2002:str>"})


def _plain(text: str) -> Any:
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


class _Walker:
    def __init__(self, tree: Any, none: int) -> None:
        self.tree = tree
        self.none = none

    def value(self, node: int, path: PathKey = ()) -> Any:
        tree = self.tree
        if tree.is_map(node):
            if len(path) >= MAX_DEPTH:
                raise _TooDeep
            out: dict[str, Any] = {}
            child = tree.first_child(node)
            while child != self.none:
                key = self._key(child)
                if key in out:
                    raise _YamlSyntax(f"duplicate key {key!r}", duplicate=(*path, key))
                out[key] = self.value(child, (*path, key))
                child = tree.next_sibling(child)
            return out
        if tree.is_seq(node):
            if len(path) >= MAX_DEPTH:
                raise _TooDeep
            items: list[Any] = []
            child = tree.first_child(node)
            while child != self.none:
                items.append(self.value(child, (*path, len(items))))
                child = tree.next_sibling(child)
            return items
        if tree.val_is_null(node):
            return None
        try:
            text = bytes(tree.val(node)).decode("utf-8")
        except UnicodeDecodeError:
            text = _escaped_surrogates(bytes(tree.val(node)))
        if tree.is_val_quoted(node):
            return text
        if tree.has_val_tag(node) and bytes(tree.val_tag(node)).decode() in _STR_TAGS:
            return text
        return _plain(text)

    def _key(self, node: int) -> str:
        # Keys are names and parameters: always text, even when written as 5 or true.
        raw = bytes(self.tree.key(node))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return _escaped_surrogates(raw)


def _escaped_surrogates(raw: bytes) -> str:
    """A scalar whose escapes rapidyaml turned into UTF-16 surrogates (the file itself is UTF-8).

    A JSON-style pair ("\\ud83d\\ude00") is one character and is joined; a lone half is no text.
    """
    halves = raw.decode("utf-8", "surrogatepass")
    try:
        return halves.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        lone = next((c for c in halves if 0xD800 <= ord(c) <= 0xDFFF), "\ufffd")
        raise _YamlSyntax(
            f"the escape \\u{ord(lone):04x} is half of a UTF-16 surrogate pair, not a character", escape=ord(lone)
        ) from None


_YAML_TOP = re.compile(r"""^(?:videos|"videos"|'videos')\s*:\s*(#.*)?$""")
_YAML_KEY = re.compile(r"""^( +)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#'"\-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s|$)""")


def _yaml_entry_lines(text: str) -> dict[str, tuple[int, int]]:
    """Entry name -> (line, col) for block-style `videos:` mappings, by scanning lines.

    Only lines indented exactly at the entries' level are considered, so prompts and block scalars
    deeper in an entry cannot be mistaken for names. Flow-style files get no positions here and are
    located by the composer when needed.
    """
    out: dict[str, tuple[int, int]] = {}
    inside = False
    indent = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not inside:
            inside = bool(_YAML_TOP.match(raw))
            continue
        stripped = raw.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(raw) - len(stripped)
        if depth == 0:
            break
        if indent == 0:
            indent = depth
        if depth != indent:
            continue
        found = _YAML_KEY.match(raw)
        if found:
            name = found.group(2)
            if name[:1] in "\"'":
                name = name[1:-1]
            out.setdefault(name, (number, depth + 1))
    return out


# ---- positions inside a document


def _locate(doc: Document, keys: PathKey, *, key: bool) -> tuple[int, int]:
    if doc.path.endswith(TOML_SUFFIXES):
        return _toml_locate(doc, keys)
    entry = keys[1] if len(keys) >= 2 and keys[0] == "videos" and isinstance(keys[1], str) else None
    if entry is not None and len(keys) == 2 and key and entry in doc.entry_lines:
        return doc.entry_lines[entry]  # the common case (every entry has one): no composing
    found = _compose_locate(doc.composed(), keys, key=key)
    if found is not None:
        return found
    if entry is not None and entry in doc.entry_lines:
        return doc.entry_lines[entry]
    return (1, 1)


def _toml_locate(doc: Document, keys: PathKey) -> tuple[int, int]:
    positions = _toml_positions(doc.text)
    path = tuple(str(k) for k in keys if not isinstance(k, int))
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return (1, 1)


def _compose(text: str) -> Any:
    import yaml

    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):  # positions are best effort; the mistake is still reported
        return None


def _compose_locate(node: Any, keys: PathKey, *, key: bool) -> tuple[int, int] | None:
    import yaml

    best: tuple[int, int] | None = None
    for index, step in enumerate(keys):
        if node is None:
            break
        last = index == len(keys) - 1
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == str(step)), None)
            if match is None:
                break
            key_node, node = match
            best = _mark(key_node if (last and key) else node)
            if not last:
                best = _mark(key_node) if best is None else best
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            best = _mark(node)
        else:
            break
    return best


def _mark(node: Any) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _duplicate_position(text: str, keys: PathKey) -> tuple[int, int]:
    """Where the second writing of a duplicated key is (PyYAML's composer keeps both)."""
    import yaml

    parent = _compose_node(_compose(text), keys[:-1])
    if isinstance(parent, yaml.MappingNode):
        seen = [k for k, _ in parent.value if str(k.value) == str(keys[-1])]
        if len(seen) > 1:
            return _mark(seen[1])
    return (0, 0)


def _compose_node(node: Any, keys: PathKey) -> Any:
    import yaml

    for step in keys:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            return None
    return node
