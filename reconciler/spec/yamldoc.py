"""YAML spec files to Python values, with rapidyaml: the parse every YAML file goes through.

rapidyaml (a C++ parser; with the walk to Python values, about 5x faster than PyYAML's C loader on
bench/validate.py's 10,000 entries) builds a tree; the walk here turns it into dicts, lists and scalars (meaning from
`yamlscalars`). Keys are always text. Mistakes become SpecErrors with `file:line`, their positions
found by `positions` only once there is a mistake. Hostile files are refused before they can hurt:
a collection nested deeper than MAX_DEPTH (the walk and PyYAML's composer recurse), aliases that
would add more than MAX_ALIAS_NODES nodes (counted on the tree before expanding them), an escape
that makes no text, more than one document, tags stacked on one value across lines (rapidyaml
crashes on four: such a file is read by PyYAML's parser first).
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
from reconciler.spec.yamlscalars import NULL_WORDS, STR_TAGS, LoneSurrogate, escaped_surrogates, plain


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


# rapidyaml 0.15 crashes the process (a segfault) when four tags stack up on one node across lines
# (`!a` then `!b`, `!c`, `!d` on lines of their own); two or three it refuses ("too many tags"). A
# file where a tag is followed, past line breaks, blank lines, comments and anchors only, by another
# tag is first read by PyYAML's parser, whose mistake is reported; a file it reads holds no stacked
# tags (those were lines of a block scalar, say), and rapidyaml reads it safely.
_STACKED_TAGS = re.compile(
    rb"!(?<!\S!)\S*(?:[ \t]+&\S+)*[ \t]*(?:#[^\n]*)?\n"  # a tag, maybe anchors and a comment, the line's end
    rb"(?:[ \t]*(?:#[^\n]*)?\n)*"  # blank and comment lines
    rb"[ \t]*(?:&\S+[ \t]+)*!"  # another tag, maybe after anchors
)


def _stacked_tags(data: bytes) -> None:
    """Raise _YamlSyntax, with PyYAML's account of it, for a file that stacks tags across lines."""
    import yaml

    try:
        for _ in yaml.parse(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        problem = exc.problem or exc.context or "cannot parse"
        raise _YamlSyntax(f"{problem} (two tags on one value?)", line, col) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise _YamlSyntax(str(exc) or "cannot parse") from None


def _ryml_load(data: bytes) -> Any:
    import ryml

    if b"!" in data and _STACKED_TAGS.search(data):
        _stacked_tags(data)
    try:
        with _quiet_stderr():
            tree = ryml.parse_in_arena(data)
            # Only a file that seems to hold both an anchor and an alias pays for the count.
            if b"&" in data and b"*" in data and _ANCHOR.search(data) and _ALIAS.search(data):
                added = _alias_growth(tree)
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
    return _walk(tree, root)


# An anchor or alias is never glued to a word before it and always has a name after it (so
# "rock & roll" and "1280*720" are neither); a false positive only costs the count.
_ANCHOR = re.compile(rb"(?<!\w)&[^\s,\[\]{}]")
_ALIAS = re.compile(rb"(?<!\w)\*[^\s,\[\]{}]")


def _alias_growth(tree: Any) -> int:
    """How many nodes resolving the tree's aliases would add, counted without expanding them.

    One pass in document order (an anchor comes before its aliases); sizes are plain integers, so a
    bomb that would expand to billions of nodes costs a few hundred steps here. Iterative: this
    runs before the depth limit is checked. Calls go to the extension as in `_walk` (merge keys,
    `<<: *common` in every entry, make this pass as common as the walk).
    """
    import ryml
    from ryml import _ryml

    handle = getattr(tree, "this", tree)
    type_of, first_child, next_sibling = _ryml.Tree_type, _ryml.Tree_first_child, _ryml.Tree_next_sibling
    none, refs, anchors = ryml.NONE, ryml.VALREF | ryml.KEYREF, ryml.VALANCH | ryml.KEYANCH
    # Nodes with their parents, each before its children and children right to left: read
    # backwards, that is every node after its children, children left to right (document order).
    root = tree.root_id()
    order: list[tuple[int, int]] = []
    stack = [(root, none)]
    while stack:
        node, parent = stack.pop()
        order.append((node, parent))
        child = first_child(handle, node)
        while child != none:
            stack.append((child, node))
            child = next_sibling(handle, child)
    sizes: dict[bytes, int] = {}  # anchor -> nodes in its value, aliases inside it expanded
    below: dict[int, int] = {}  # node -> nodes under it so far, aliases expanded
    for node, parent in reversed(order):
        size = 1 + below.pop(node, 0)
        bits = type_of(handle, node)
        if bits & refs:
            if bits & ryml.VALREF:
                size += sizes.get(bytes(_ryml.Tree_val_ref(handle, node)), 1) - 1
            if bits & ryml.KEYREF:
                size += sizes.get(bytes(_ryml.Tree_key_ref(handle, node)), 1) - 1
        if bits & anchors:
            if bits & ryml.VALANCH:
                sizes[bytes(_ryml.Tree_val_anchor(handle, node))] = size
            if bits & ryml.KEYANCH:
                sizes[bytes(_ryml.Tree_key_anchor(handle, node))] = 1
        below[parent] = below.get(parent, 0) + size
    return below.get(none, 1) - int(tree.size())


def _walk(tree: Any, root: int) -> Any:
    """The Python value of the tree below `root`: dicts, lists and scalars.

    This runs once per node of every file, so it makes as few calls into rapidyaml as it can: one
    for a node's type bits (container, quoted, tagged, null all at once), one for its key, one for
    its value, one for the next sibling, straight to the extension's functions rather than through
    the Tree class's wrappers; scalars are handled in the loop, without a call of their own. Plain
    scalars repeat (models, sizes, booleans), so each distinct text is resolved once per file.
    """
    import ryml
    from ryml import _ryml

    type_of, first_child, next_sibling = _ryml.Tree_type, _ryml.Tree_first_child, _ryml.Tree_next_sibling
    key_of, val_of, tag_of = _ryml.Tree_key, _ryml.Tree_val, _ryml.Tree_val_tag
    none, is_map, container = ryml.NONE, ryml.MAP, ryml.MAP | ryml.SEQ
    quoted, null, tagged = ryml.VALQUO, ryml.VALNIL, ryml.VALTAG
    # The SWIG object under the Tree proxy: a call given it skips the proxy's attribute lookup,
    # which is most of the cost of a call (5x cheaper here). `tree` stays referenced meanwhile.
    handle = getattr(tree, "this", tree)
    path: list[str | int] = []  # keys and indexes of the open collections, for a duplicate's position
    resolved: dict[str, Any] = {}  # plain text -> its value, per file
    keys: dict[str, str] = {}

    def collection(node: int, mapping: bool) -> Any:
        if len(path) >= MAX_DEPTH:
            raise _TooDeep
        mapped: dict[str, Any] = {}
        items: list[Any] = []
        key = ""
        child = first_child(handle, node)
        while child != none:
            if mapping:
                # Keys are names and parameters: always text, even when written as 5, true or nothing.
                raw = key_of(handle, child)
                try:
                    key = str(raw, "utf-8")
                except UnicodeDecodeError:
                    key = escaped_surrogates(bytes(raw))
                except TypeError:  # no key at all (`: value`)
                    key = ""
                key = keys.setdefault(key, key)  # one object per distinct key: the parse cache pickles it once
                if key in mapped:
                    raise _YamlSyntax(f"duplicate key {key!r}", duplicate=(*path, key))
            bits = type_of(handle, child)
            value: Any
            if bits & container:
                path.append(key if mapping else len(items))
                value = collection(child, bool(bits & is_map))
                path.pop()
            else:
                raw = val_of(handle, child)
                if bits & null or raw is None:
                    value = None if not bits & quoted else ""
                else:
                    try:
                        value = str(raw, "utf-8")
                    except UnicodeDecodeError:
                        value = escaped_surrogates(bytes(raw))
                    if bits & quoted:
                        pass
                    elif bits & tagged:
                        value = _tagged(value, str(tag_of(handle, child), "utf-8"))
                    else:
                        text = value
                        value = resolved.get(text, resolved)
                        if value is resolved:
                            value = resolved[text] = plain(text)
            if mapping:
                mapped[key] = value
            else:
                items.append(value)
            child = next_sibling(handle, child)
        return mapped if mapping else items

    bits = type_of(handle, root)
    if bits & container:
        try:
            return collection(root, bool(bits & is_map))
        finally:
            # `collection` calls itself, so it sits in a cycle with its own cell, holding this file's
            # tree; plan pauses the cycle collector, so break the cycle for reference counting to free it.
            del collection
    raw = val_of(handle, root)  # a file that is one scalar: not a spec, but the message says what it is
    if bits & null or raw is None:
        return None
    try:
        text = str(raw, "utf-8")
    except UnicodeDecodeError:
        text = escaped_surrogates(bytes(raw))
    return text if bits & quoted else _tagged(text, str(tag_of(handle, root), "utf-8") if bits & tagged else "")


def _tagged(text: str, tag: str) -> Any:
    """A plain scalar with its tag (or ""): null words are null even when tagged !!str, as
    rapidyaml's val_is_null says; other text tagged !!str stays text."""
    if text in NULL_WORDS:
        return None
    return text if tag in STR_TAGS else plain(text)
