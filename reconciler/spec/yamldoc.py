"""YAML spec files to Python values, with rapidyaml: the parse every YAML file goes through.

rapidyaml (a C++ parser; with the walk to Python values, 1.2-3.6x faster than PyYAML's C loader on
large spec sets) builds a tree; the walk here turns it into dicts, lists and scalars (meaning from
`yamlscalars`). Keys are always text. Mistakes become SpecErrors with `file:line`, their positions
found by `positions` only once there is a mistake. Hostile files are refused before they can hurt:
a collection nested deeper than MAX_DEPTH (the walk and PyYAML's composer recurse), aliases that
would add more than MAX_ALIAS_NODES nodes (counted on the tree before expanding them), an escape
that makes no text, more than one document.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

from reconciler.errors import Location, SpecError
from reconciler.spec.limits import MAX_ALIAS_NODES, MAX_DEPTH, too_deep, too_many_alias_nodes
from reconciler.spec.positions import PathKey, duplicate_position, escape_position, event_position
from reconciler.spec.yamlscalars import STR_TAGS, LoneSurrogate, escaped_surrogates, plain


class _YamlSyntax(Exception):
    def __init__(self, message: str, line: int = 0, col: int = 0, duplicate: PathKey = ()) -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.duplicate = message, line, col, duplicate


class _TooDeep(Exception):
    """The walk met a collection nested past MAX_DEPTH."""


class _AliasBomb(Exception):
    """Expanding the file's aliases would add more than MAX_ALIAS_NODES nodes."""

    def __init__(self, added: int) -> None:
        super().__init__(added)
        self.added = added


def parse_yaml(path: str, data: bytes, text: str) -> Any:
    """The value of a YAML file's one document (None when empty); raises SpecError for a mistake."""
    try:
        return _ryml_load(data)
    except _TooDeep:
        raise too_deep(path, *event_position(text, deeper_than=MAX_DEPTH)) from None
    except _AliasBomb as exc:
        line, col = event_position(text, aliases_over=MAX_ALIAS_NODES)
        raise too_many_alias_nodes(path, line, col, exc.added) from None
    except LoneSurrogate as exc:
        line, col = escape_position(text, exc.code)
        raise SpecError(Location(path, line, col), str(exc), "write the character itself, or a valid pair") from None
    except _YamlSyntax as exc:
        if exc.duplicate:
            line, col = duplicate_position(text, exc.duplicate)
            raise SpecError(Location(path, line, col), exc.message, "each key may appear once in a mapping") from None
        raise SpecError(Location(path, exc.line, exc.col), f"YAML syntax error: {exc.message}") from None


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
            text = escaped_surrogates(bytes(tree.val(node)))
        if tree.is_val_quoted(node):
            return text
        if tree.has_val_tag(node) and bytes(tree.val_tag(node)).decode() in STR_TAGS:
            return text
        return plain(text)

    def _key(self, node: int) -> str:
        # Keys are names and parameters: always text, even when written as 5 or true.
        raw = bytes(self.tree.key(node))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return escaped_surrogates(raw)
