"""The spec language: defaults, matrix, tags, names, file discovery, and the parse cache."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import keys
from reconciler.spec import load
from reconciler.spec.cache import FileParseCache
from reconciler.spec.schema import spec_schema

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_merged_under_every_entry_and_entries_win(write: Callable[..., Path], project: Path) -> None:
    write(
        "specs/a.yaml",
        """
        defaults:
          model: wan2.7-t2v
          seed: 7
          tags: [batch]
        videos:
          one:
            prompt: first
          two:
            prompt: second
            seed: 8
            tags: [hero]
        """,
    )
    one, two = load(["specs"]).entries
    assert (one.params["seed"], two.params["seed"]) == (7, 8)
    assert (one.tags, two.tags) == (("batch",), ("batch", "hero"))


def test_a_matrix_expands_to_the_cartesian_product_with_stable_names(write: Callable[..., Path], project: Path) -> None:
    write(
        "specs/a.yaml",
        """
        videos:
          eagle:
            model: wan2.7-t2v
            prompt: An eagle
            matrix:
              seed: [1, 2]
              ratio: ["16:9", "9:16"]
        """,
    )
    entries = load(["specs"]).entries
    assert [e.name for e in entries] == [
        "eagle/seed-1-ratio-16x9",
        "eagle/seed-1-ratio-9x16",
        "eagle/seed-2-ratio-16x9",
        "eagle/seed-2-ratio-9x16",
    ]
    assert [(e.params["seed"], e.params["ratio"]) for e in entries] == [
        (1, "16:9"),
        (1, "9:16"),
        (2, "16:9"),
        (2, "9:16"),
    ]


def test_a_name_with_braces_is_a_template_for_matrix_names(write: Callable[..., Path], project: Path) -> None:
    write(
        "specs/a.yaml",
        """
        videos:
          tide-{seed}-{size}:
            model: wan-2.5-t2v
            prompt: Tide pools
            matrix:
              seed: [7, 8]
              size: ["832*480"]
        """,
    )
    assert [e.name for e in load(["specs"]).entries] == ["tide-7-832x480", "tide-8-832x480"]


def test_two_specs_with_one_request_share_one_key(write: Callable[..., Path], project: Path) -> None:
    write("specs/a.yaml", "videos:\n  a:\n    model: wan2.7-t2v\n    prompt: same\n")
    write("specs/b.toml", '[videos.b]\nmodel = "wan2.7-t2v"\nprompt = "same"\nduration = "5"\n')
    a, b = load(["specs"]).entries
    assert keys.entry_key(keys.SEGMIND, a) == keys.entry_key(keys.SEGMIND, b)


def test_files_are_found_recursively_in_a_stable_order_skipping_editor_files(
    write: Callable[..., Path], project: Path
) -> None:
    for name in ("specs/z.yaml", "specs/a/m.toml", "specs/b.yml", "specs/a/c.yaml"):
        stem = Path(name).stem
        if name.endswith(".toml"):
            write(name, f'[videos.{stem}]\nmodel = "wan2.7-t2v"\nprompt = "p"\n')
        else:
            write(name, f"videos:\n  {stem}:\n    model: wan2.7-t2v\n    prompt: p\n")
    for junk in ("specs/.z.yaml.swp", "specs/#b.yml#", "specs/b.yml~", "specs/.hidden/x.yaml"):
        write(junk, "not: [valid")
    specs = load(["specs"])
    assert specs.files == ("specs/a/c.yaml", "specs/a/m.toml", "specs/b.yml", "specs/z.yaml")


def test_a_spec_without_a_fixed_seed_is_valid_but_warned_about(
    cli: Callable[..., object], write: Callable[..., Path]
) -> None:
    write("specs/a.yaml", "videos:\n  quick:\n    model: wan-2.2-t2v-fast\n    prompt: hi\n")
    run = cli("validate")
    assert run.code == 0
    assert "specs/a.yaml:2:3: warning: quick: wan-2.2-t2v-fast picks a random seed" in run.err


def test_validate_summarises_videos_files_and_models(cli: Callable[..., object], write: Callable[..., Path]) -> None:
    write(
        "specs/a.yaml",
        "videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n  b:\n    model: wan2.7-t2v\n    prompt: one\n",
    )
    write("specs/b.yaml", "videos:\n  c:\n    model: wan2.1-t2v\n    prompt: two\n")
    run = cli("validate")
    assert run.code == 0
    assert run.out.splitlines() == [
        "valid: 3 videos (2 distinct requests) in 2 files",
        "  wan2.1-t2v  1",
        "  wan2.7-t2v  2",
    ]
    document = json.loads(cli("validate", "--json").out)
    assert document | {"warnings": []} == {
        "format_version": 1,
        "valid": True,
        "videos": 3,
        "distinct_requests": 2,
        "files": 2,
        "by_model": {"wan2.1-t2v": 1, "wan2.7-t2v": 2},
        "warnings": [],
        "errors": [],
    }


def test_the_parse_cache_never_serves_a_file_edited_within_the_same_second(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    path = write("specs/a.yaml", "videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n    seed: 1\n")
    assert cli("validate").code == 0
    stat = path.stat()
    path.write_text("videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n    seed: x\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only the bytes differ
    assert path.stat().st_size == stat.st_size
    run = cli("validate")
    assert run.code == 1
    assert 'seed: expected an integer, got text "x"' in run.err


def test_the_parse_cache_is_used_and_a_corrupt_one_is_ignored(write: Callable[..., Path], project: Path) -> None:
    write("specs/a.yaml", "videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n")
    cache_path = project / "cache.pickle"
    first = FileParseCache(cache_path)
    entries = load(["specs"], cache=first).entries
    first.save()
    warm = FileParseCache(cache_path)
    assert load(["specs"], cache=warm).entries == entries
    cache_path.write_bytes(b"garbage")
    assert load(["specs"], cache=FileParseCache(cache_path)).entries == entries


def test_the_committed_schema_is_current() -> None:
    committed = json.loads((REPO / "schema" / "spec.schema.json").read_text(encoding="utf-8"))
    assert committed == spec_schema(), "run: reconciler schema -o schema/spec.schema.json"


def test_the_example_specs_point_at_the_committed_schema_and_are_valid(cli: Callable[..., object]) -> None:
    for path in sorted((REPO / "specs").glob("*.y*ml")):
        assert path.read_text().startswith("# yaml-language-server: $schema=../schema/spec.schema.json\n"), path
    run = cli("validate", str(REPO / "specs"), "--no-cache")
    assert run.code == 0, run.err
    assert "11 videos in 6 files" in run.out


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.lists(
            st.sampled_from(
                [
                    "videos:",
                    "  a:",
                    "    model: wan2.1-t2v",
                    "    prompt: hi",
                    "  - x",
                    "[",
                    "{",
                    ": :",
                    "\t",
                    "&a",
                    "*a",
                    "!!str",
                    "---",
                    "defaults:",
                    "    matrix:",
                    "      seed: [1, 2]",
                    '"',
                    "'",
                    "= 3",
                ]
            ),
            max_size=12,
        ).map(lambda lines: "\n".join(lines).encode()),
    ),
    st.sampled_from(["a.yaml", "a.toml"]),
)
def test_garbage_never_crashes_validate(cli: Callable[..., object], project: Path, data: bytes, name: str) -> None:
    for old in (project / "specs").iterdir():
        old.unlink()
    (project / "specs" / name).write_bytes(data)
    run = cli("validate", "--no-cache")
    assert run.code in (0, 1)
    if run.code == 1:
        assert f"specs/{name}" in run.err
