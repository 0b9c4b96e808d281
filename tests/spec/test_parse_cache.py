"""The parse cache: what a warm load serves is what a cold load makes, keys included, and never stale."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import keys
from reconciler.errors import SpecErrors
from reconciler.spec import load
from reconciler.spec.cache import FileParseCache

SPEC = (
    "videos:\n  a:\n    model: wan2.1-t2v\n    prompt: one\n    seed: 1\n  b:\n    model: wan2.7-t2v\n    prompt: two\n"
)


def later() -> int:
    """A clock a minute ahead: every file written by the test counts as left alone since."""
    return time.time_ns() + 60 * 10**9


def expected_key(namespace: str, model: str, params_json: str) -> str:
    text = f'{{"api":"{namespace}","model":"{model}","params":{params_json}}}'
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_a_warm_load_serves_each_entrys_key_in_both_namespaces(write: Callable[..., Path], project: Path) -> None:
    write("specs/a.yaml", SPEC)
    cold = FileParseCache(project / "cache" / "parse")
    load(["specs"], cache=cold, derive=keys.EVERY_NAMESPACE)
    cold.save()
    warm = load(["specs"], cache=FileParseCache(project / "cache" / "parse"), derive=keys.EVERY_NAMESPACE).entries
    for entry in warm:
        assert dict(entry.keys) == {
            namespace: expected_key(namespace, entry.model, entry.params_json) for namespace in ("segmind", "mock")
        }


def test_an_entry_read_back_from_the_cache_equals_a_fresh_one_parameters_and_their_order_included(
    write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPEC)
    fresh = load(["specs"]).entries
    cache = FileParseCache(project / "parse")
    load(["specs"], cache=cache, derive=keys.EVERY_NAMESPACE)
    cache.save()
    warm = load(["specs"], cache=FileParseCache(project / "parse"), derive=keys.EVERY_NAMESPACE).entries
    assert warm == fresh
    assert [list(entry.params.items()) for entry in warm] == [list(entry.params.items()) for entry in fresh]
    assert warm[0].params["seed"] == 1


def test_a_file_left_alone_and_then_edited_keeping_its_size_and_mtime_is_read_again(
    write: Callable[..., Path], project: Path
) -> None:
    path = write("specs/a.yaml", "videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n    seed: 1\n")
    for _ in range(2):  # the second load records the file's stat as settled (the clock is a minute ahead)
        cache = FileParseCache(project / "parse", now_ns=later)
        assert [e.params["seed"] for e in load(["specs"], cache=cache).entries] == [1]
        cache.save()
    before = path.stat()
    path.write_text("videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n    seed: x\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime: only the bytes differ
    assert path.stat().st_size == before.st_size
    with pytest.raises(SpecErrors) as raised:
        load(["specs"], cache=FileParseCache(project / "parse", now_ns=later))
    assert [error.message for error in raised.value.errors] == ['seed: expected an integer, got text "x"']


def test_a_file_replaced_by_another_of_the_same_size_is_read_again(write: Callable[..., Path], project: Path) -> None:
    path = write("specs/a.yaml", "videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n    seed: 1\n")
    for _ in range(2):
        cache = FileParseCache(project / "parse", now_ns=later)
        load(["specs"], cache=cache)
        cache.save()
    other = project / "a.yaml.new"
    other.write_text("videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n    seed: 2\n")
    os.replace(other, path)  # how editors save: a new file (a new inode) renamed over the old one
    assert [
        e.params["seed"] for e in load(["specs"], cache=FileParseCache(project / "parse", now_ns=later)).entries
    ] == [2]


def test_a_fifo_where_the_cache_was_is_passed_over_not_waited_on(write: Callable[..., Path], project: Path) -> None:
    write("specs/a.yaml", SPEC)
    path = project / "cache" / "parse"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    # Opening a FIFO for reading blocks until a writer comes; the cache must not open it that way.
    entries = load(["specs"], cache=FileParseCache(path)).entries
    assert [e.name for e in entries] == ["a", "b"]
