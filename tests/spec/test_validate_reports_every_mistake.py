"""Every kind of spec mistake, fed to `reconciler validate` through its real entry point.

Each mistake must produce one `path:line:col: error: message` line pointing at the offending key
or value (a hint where one helps), exit 1, and never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

ENTRY = """
videos:
  clip:
    model: wan2.1-t2v
    prompt: A smiling woman walking in London at night
"""

CASES = [
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-tv2\n    prompt: hi\n",
        "specs/a.yaml:3:12:",
        'unknown model "wan2.1-tv2"',
        "known models: wan2.1-t2v",
        id="unknown model, closest first",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    prompt: hi\n    stpes: 20\n",
        "specs/a.yaml:5:5:",
        "unknown parameter 'stpes' for wan2.1-t2v",
        "did you mean 'steps'?",
        id="unknown parameter with did-you-mean",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    prompt: hi\n    steps: lots\n",
        "specs/a.yaml:5:12:",
        'steps: expected an integer, got text "lots"',
        None,
        id="wrong type",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    prompt: hi\n    steps: 90\n",
        "specs/a.yaml:5:12:",
        "steps: 90 is out of range: must be integer from 10 to 70",
        None,
        id="out of range names the range",
    ),
    pytest.param(
        'videos:\n  clip:\n    model: wan2.7-t2v\n    prompt: hi\n    ratio: "21:9"\n',
        "specs/a.yaml:5:12:",
        'ratio: "21:9" is not allowed: must be one of "16:9", "9:16", "1:1", "4:3", "3:4"',
        None,
        id="not an allowed value lists them",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    seed: 3\n",
        "specs/a.yaml:2:3:",
        "clip: missing required parameter 'prompt'",
        None,
        id="missing required field",
    ),
    pytest.param(
        "videos:\n  clip:\n    prompt: hi\n",
        "specs/a.yaml:2:3:",
        "entry has no `model`",
        "known models:",
        id="missing model",
    ),
    pytest.param(
        "videos:\n  Clip One:\n    model: wan2.1-t2v\n    prompt: hi\n",
        "specs/a.yaml:2:3:",
        "name 'Clip One' has an unsafe segment",
        "lowercase",
        id="unsafe name",
    ),
    pytest.param(
        "videos:\n  ../escape:\n    model: wan2.1-t2v\n    prompt: hi\n",
        "specs/a.yaml:2:3:",
        "has an empty, '.' or '..' segment",
        None,
        id="name with dot-dot",
    ),
    pytest.param(
        "videos:\n  /abs:\n    model: wan2.1-t2v\n    prompt: hi\n",
        "specs/a.yaml:2:3:",
        "is absolute",
        None,
        id="absolute name",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    prompt: [unclosed\n",
        "specs/a.yaml:",
        "YAML syntax error",
        None,
        id="yaml syntax error",
    ),
    pytest.param("", "specs/a.yaml:1:1:", "file is empty", None, id="empty file"),
    pytest.param("# nothing here\n", "specs/a.yaml:1:1:", "file is empty", None, id="only comments"),
    pytest.param("- a\n- b\n", "specs/a.yaml:1:1:", "top level is a list, not a mapping", None, id="top level list"),
    pytest.param("just text\n", "specs/a.yaml:1:1:", "top level is a single value", None, id="top level scalar"),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    prompt: hi\n  clip:\n    model: wan2.1-t2v\n    prompt: ho\n",
        "specs/a.yaml:5:3:",
        "duplicate key 'clip'",
        None,
        id="duplicate key in one file",
    ),
    pytest.param(
        "vidoes:\n  clip:\n    model: wan2.1-t2v\n",
        "specs/a.yaml:1:1:",
        "unknown top-level key 'vidoes'",
        "did you mean 'videos'?",
        id="misspelt videos",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-i2v-480p\n    prompt: hi\n    image: stills/missing.png\n",
        "specs/a.yaml:5:12:",
        "image: local image 'stills/missing.png' does not exist",
        "https:// URL",
        id="missing local image",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-i2v-480p\n    prompt: hi\n    image: notes.txt\n",
        "specs/a.yaml:5:12:",
        "image: 'notes.txt' is not a PNG, JPEG or WebP image",
        None,
        id="local file that is not an image",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan-2.2-t2v-fast\n    prompt: hi\n    matrix:\n"
        "      seed: [" + ", ".join(str(i) for i in range(101)) + "]\n"
        "      num_frames: [" + ", ".join(str(81 + i % 20) for i in range(100)) + "]\n",
        "specs/a.yaml:5:5:",
        "matrix expands to 10,100 entries; at most 10,000 are allowed",
        None,
        id="matrix too large",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    prompt: hi\n    matrix:\n      stpes: [10, 20]\n",
        "specs/a.yaml:6:7:",
        "unknown parameter 'stpes' in matrix",
        "did you mean 'steps'?",
        id="unknown matrix parameter",
    ),
    pytest.param(
        "videos:\n  clip-{sed}:\n    model: wan2.1-t2v\n    prompt: hi\n    matrix:\n      seed: [1, 2]\n",
        "specs/a.yaml:2:3:",
        "name template 'clip-{sed}' cannot be filled",
        "placeholders naming matrix parameters: seed",
        id="bad name template",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    prompt: hi\n    tags: [Hello World]\n",
        "specs/a.yaml:5:12:",
        'tag "Hello World" is not a word',
        None,
        id="bad tag",
    ),
    pytest.param(
        "videos:\n  clip:\n    model: wan2.1-t2v\n    prompt: hi\n    : 5\n",
        "specs/a.yaml:2:3:",  # PyYAML cannot read an empty key, so the entry is pointed at
        "unknown parameter ''",
        None,
        id="a key left empty",
    ),
]


@pytest.mark.parametrize(("text", "where", "message", "hint"), CASES)
def test_validate_points_at_the_mistake(
    cli: Callable[..., object],
    write: Callable[[str, str], Path],
    project: Path,
    text: str,
    where: str,
    message: str,
    hint: str | None,
) -> None:
    (project / "specs" / "notes.txt").write_text("not an image")
    (project / "specs" / "a.yaml").write_text(text, encoding="utf-8")
    run = cli("validate")
    assert run.code == 1
    lines = run.err.splitlines()
    error_line = next(line for line in lines if ": error: " in line)
    assert error_line.startswith(where), error_line
    assert message in error_line
    if hint is not None:
        hint_line = lines[lines.index(error_line) + 1]
        assert hint_line.startswith("  hint: ")
        assert hint in hint_line
    assert "Traceback" not in run.err + run.out


def test_a_toml_syntax_error_has_its_line_and_column(cli: Callable[..., object], write: Callable[..., Path]) -> None:
    write("specs/a.toml", '[videos.clip]\nmodel = "wan2.1-t2v"\nprompt = \n')
    run = cli("validate")
    assert run.code == 1
    assert re.search(r"^specs/a.toml:3:\d+: error: TOML syntax error", run.err, re.M)


def test_a_toml_mistake_points_at_its_key(cli: Callable[..., object], write: Callable[..., Path]) -> None:
    write("specs/a.toml", '[videos.clip]\nmodel = "wan2.1-t2v"\nprompt = "hi"\nsteps = 5\n')
    run = cli("validate")
    assert "specs/a.toml:4:1: error: steps: 5 is out of range" in run.err


def test_a_name_defined_in_two_files_names_both_places(cli: Callable[..., object], write: Callable[..., Path]) -> None:
    write("specs/a.yaml", ENTRY)
    write("specs/b/b.yaml", "# another file\n" + ENTRY)
    run = cli("validate")
    assert run.code == 1
    assert "specs/a.yaml:2:3: error: duplicate name 'clip': also defined at specs/b/b.yaml:4:3" in run.err
    assert "specs/b/b.yaml:4:3: error: duplicate name 'clip': also defined at specs/a.yaml:2:3" in run.err


def test_every_mistake_of_every_file_is_reported_in_one_run(
    cli: Callable[..., object], write: Callable[..., Path]
) -> None:
    write(
        "specs/a.yaml",
        "videos:\n  one:\n    model: nope\n  two:\n    model: wan2.1-t2v\n    prompt: hi\n    steps: 1\n",
    )
    write("specs/b.yaml", "videos: [1, 2]\n")
    write("specs/c.toml", "videos = 3\n")
    run = cli("validate")
    errors = [line for line in run.err.splitlines() if ": error: " in line]
    assert [e.split(": error: ")[0] for e in errors] == [
        "specs/a.yaml:3:12",
        "specs/a.yaml:7:12",
        "specs/b.yaml:1:9",
        "specs/c.toml:1:1",
    ]
    assert run.err.rstrip().endswith("4 errors in spec files (3 files)")


def test_a_binary_file_is_refused(cli: Callable[..., object], project: Path) -> None:
    (project / "specs" / "a.yaml").write_bytes(b"\x00\x01\x02videos")
    run = cli("validate")
    assert "specs/a.yaml: error: file is binary, not a text spec file" in run.err


def test_a_file_that_is_not_utf8_points_at_the_bad_byte(cli: Callable[..., object], project: Path) -> None:
    (project / "specs" / "a.yaml").write_bytes(b"videos:\n  clip:\n    prompt: caf\xe9\n")
    run = cli("validate")
    assert "specs/a.yaml:3:16: error: file is not valid UTF-8 text" in run.err


def test_a_file_over_ten_megabytes_is_refused(cli: Callable[..., object], project: Path) -> None:
    (project / "specs" / "a.yaml").write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
    run = cli("validate")
    assert "specs/a.yaml: error: file is 10.5 MB; spec files are limited to 10 MB" in run.err


def test_a_missing_path_is_an_error(cli: Callable[..., object], project: Path) -> None:
    run = cli("validate", "nowhere")
    assert run.code == 1
    assert "nowhere: error: no such file or directory" in run.err


def test_a_directory_without_specs_is_an_error(cli: Callable[..., object], project: Path) -> None:
    run = cli("validate")
    assert run.code == 1
    assert "no spec files (*.yaml, *.yml, *.toml) found" in run.err


def test_a_real_process_shows_errors_without_a_traceback(process: Callable[..., object], project: Path) -> None:
    (project / "specs" / "a.yaml").write_text("videos:\n  clip:\n    model: wan2.1-t2v\n    steps: [1\n")
    run = process("validate", cwd=project)
    assert run.code == 1
    assert run.err.startswith("specs/a.yaml:")
    assert "Traceback" not in run.err
