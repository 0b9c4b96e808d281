"""Where things are written in a YAML spec file, found only when someone needs to be told.

rapidyaml (see `yamldoc`) gives values without lines, so positions come from elsewhere: a cheap
scan of the text finds the entry names of block-style `videos:` (every entry needs its line), and
PyYAML's composer, which keeps a precise mark on every node, points at anything else. The
composer runs only when a file has a mistake to point at. PyYAML's event stream, which neither
recurses nor expands aliases, locates the hostile files the walk refused (too deep, alias bombs).
Pure: text in, (line, col) out, 1-based; (1, 1) or (0, 0) when nothing better is known.
"""

from __future__ import annotations

import re
from typing import Any

PathKey = tuple[str | int, ...]  # keys and list indexes from a document's top, e.g. ("videos", "a", "tags", 0)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of a character offset into `text`."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


_YAML_TOP = re.compile(r"""^(?:videos|"videos"|'videos')\s*:\s*(#.*)?$""")
_YAML_KEY = re.compile(r"""^( +)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#'"\-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s|$)""")


def entry_lines(text: str) -> dict[str, tuple[int, int]]:
    """Entry name -> (line, col) for block-style `videos:` mappings, by scanning lines.

    Only lines indented exactly at the entries' level are considered, so prompts and block scalars
    deeper in an entry cannot be mistaken for names. Flow-style files get no positions here and are
    located by the composer when needed.
    """
    if _odd_breaks(text):
        return _entry_lines_by_line(text)
    # Every entry needs its line, so this runs on every file: regular expressions over the whole
    # text find the block and the lines at the entries' indent, and only those are looked at.
    top = _TOP_LINE.search(text)
    if top is None:
        return {}
    start = top.end()
    stop = _BLOCK_END.search(text, start)
    end = len(text) if stop is None else stop.start() + 1
    first = _FIRST_CONTENT.search(text, start, end)
    if first is None:
        return {}
    indent = len(first.group(1))
    out: dict[str, tuple[int, int]] = {}
    number, counted = 1, 0
    # Each pattern starts with a literal newline, which the regular expression engine looks for fast.
    for line in re.compile(rf"\n( {{{indent}}}(?=[^ #\n])[^\n]*)").finditer(text, start, end):
        found = _YAML_KEY.match(line.group(1))
        if found:
            number += text.count("\n", counted, line.start() + 1)
            counted = line.start() + 1
            name = found.group(2)
            if name[:1] in "\"'":
                name = name[1:-1]
            out.setdefault(name, (number, indent + 1))
    return out


# Line breaks other than \n, which str.splitlines also splits at: such a file is scanned line by line.
_ODD_ASCII_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e"
_ODD_BREAKS = re.compile(f"[{_ODD_ASCII_BREAKS}\x85\u2028\u2029]")
_TOP_LINE = re.compile(r"""^(?:videos|"videos"|'videos')[^\S\n]*:[^\S\n]*(?:#[^\n]*)?$""", re.M)
_BLOCK_END = re.compile(r"\n[^ #\n]")  # the next line at column 0 that is not a comment
_FIRST_CONTENT = re.compile(r"\n( +)[^ #\n]")


def _odd_breaks(text: str) -> bool:
    if text.isascii():  # most files: a few searches for one character are faster than a character class
        return any(char in text for char in _ODD_ASCII_BREAKS)
    return _ODD_BREAKS.search(text) is not None


def _entry_lines_by_line(text: str) -> dict[str, tuple[int, int]]:
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


def compose(text: str) -> Any:
    """PyYAML's node tree of `text` (marks on every node), or None when PyYAML cannot read it."""
    import yaml

    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):  # positions are best effort; the mistake is still reported
        return None


def compose_locate(node: Any, keys: PathKey, *, key: bool) -> tuple[int, int] | None:
    """Where the value at `keys` (or, with `key`, its key) is in a composed tree; the nearest known."""
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


def duplicate_position(text: str, keys: PathKey) -> tuple[int, int]:
    """Where the second writing of a duplicated key is (PyYAML's composer keeps both)."""
    import yaml

    parent = _compose_node(compose(text), keys[:-1])
    if isinstance(parent, yaml.MappingNode):
        seen = [k for k, _ in parent.value if str(k.value) == str(keys[-1])]
        if len(seen) > 1:
            return _mark(seen[1])
    return (0, 0)


def escape_position(text: str, code: int) -> tuple[int, int]:
    """Where an escape of the code point `code` (\\uXXXX or \\U0000XXXX) is first written."""
    found = re.search(rf"\\(?:u|U0000){code:04x}", text, re.IGNORECASE)
    if found is None:
        return (0, 0)
    return line_col(text, found.start())


def event_position(text: str, *, deeper_than: int = 0, aliases_over: int = 0) -> tuple[int, int]:
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
                    return _mark(event)
                if open_nodes:
                    open_nodes[-1][1] += grown
            elif isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append([event.anchor, 1])
                if deeper_than and len(open_nodes) > deeper_than:
                    return _mark(event)
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


def _mark(node: Any) -> tuple[int, int]:
    """A PyYAML node's or event's start, 1-based."""
    return (node.start_mark.line + 1, node.start_mark.column + 1)


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
