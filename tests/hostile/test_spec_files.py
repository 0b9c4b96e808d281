"""Hostile spec files and the files they name: each is refused in bounded time and memory.

Every test runs the real CLI as a process under the `hostile` fixture's memory limit and timeout,
and expects exit 1, a message naming the file (with its line where there is one), no traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.engine.uploads import ImageChanged, image_bytes
from reconciler.spec import LocalFile
from reconciler.spec.documents import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES
from reconciler.spec.files import MAX_MEDIA_BYTES
from reconciler.spec.live import LiveSpecs

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
I2V = "videos:\n  clip:\n    model: wan2.1-i2v-480p\n    prompt: a cat\n    image: {image}\n"
pytestmark = pytest.mark.timeout(120)


def alias_bomb() -> str:
    """About 350 bytes: nine levels of anchors, each a list of nine aliases of the level below."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level, name in enumerate("bcdefghi"):
        below = "abcdefghi"[level]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{below}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_validate_refuses_a_yaml_alias_bomb_at_the_alias_that_crosses_the_limit(project, hostile) -> None:
    bomb = alias_bomb()
    assert len(bomb) < 400  # expands to 9**9 (387 million) strings
    (project / "specs" / "bomb.yaml").write_text(bomb)
    run = hostile("validate", "--no-cache")
    run.assert_clean_error("specs/bomb.yaml:", f"at most {MAX_ALIAS_NODES:,}")
    line = int(run.text.split("specs/bomb.yaml:")[1].split(":")[0])
    assert 2 <= line <= 9  # the line of the alias that pushes the count over, not the file's start


def test_validate_refuses_an_alias_bomb_written_as_json_like_flow(project, hostile) -> None:
    levels = ['"a":&a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f'"{n}":&{n} [' + ",".join([f"*{b}"] * 9) + "]" for b, n in zip("abcdefgh", "bcdefghi", strict=True)]
    (project / "specs" / "bomb.yaml").write_text("{" + ",".join(levels) + "}\n")
    hostile("validate", "--no-cache").assert_clean_error("specs/bomb.yaml:1:", f"at most {MAX_ALIAS_NODES:,}")


# rapidyaml 0.15 crashed the process (a segfault, exit -11, no message) on four tags stacked on one
# value across lines; found by test_garbage_never_crashes_validate with a random seed.
STACKED_TAGS = {
    "four on lines of their own": ("!!str\n!!str\n!!str\n!!str\n", 2),
    "after a quoted scalar": ('"\n"\n!!str\n!!str\n!!str\n!!str\n"', 3),
    "under a key": ("k: !a\n  !b\n  !c\n  !d\n", 2),
    "in a list item": ("- !!str\n  !!str\n  !!str\n  !!str\n", 2),
    "past blank lines and comments": ("!a\n\n!b\n# note\n!c\n\n!d\n", 3),
}


@pytest.mark.parametrize("shape", list(STACKED_TAGS))
def test_validate_refuses_tags_stacked_on_one_value_at_their_line(project, hostile, shape: str) -> None:
    text, line = STACKED_TAGS[shape]
    (project / "specs" / "tags.yaml").write_text(text)
    hostile("validate", "--no-cache").assert_clean_error(f"specs/tags.yaml:{line}:", "two tags on one value?")


def test_validate_takes_lines_that_look_like_tags_in_a_block_scalar_for_its_text(project, hostile) -> None:
    for old in (project / "specs").iterdir():
        old.unlink()
    (project / "specs" / "a.yaml").write_text(
        "videos:\n  a:\n    model: wan2.1-t2v\n    seed: 1\n    prompt: |\n      !wow\n      !!str\n      !a\n      !b\n"
    )
    run = hostile("validate", "--no-cache")
    assert (run.code, "Traceback" in run.text) == (0, False), run.text
    assert "valid: 1 video in 1 file" in run.text


def test_validate_accepts_anchors_and_merge_keys_within_the_limit(project, hostile) -> None:
    (project / "specs" / "a.yaml").write_text(
        "common: &common {model: wan2.1-t2v, seed: 7}\n"
        "videos:\n  a:\n    <<: *common\n    prompt: a cat\n  b:\n    <<: *common\n    prompt: a dog\n"
    )
    run = hostile("validate", "--no-cache")
    assert run.code == 1  # `common` is not a known top-level key: the anchors themselves are fine
    run.assert_clean_error("specs/a.yaml:1:1: error: unknown top-level key 'common'")


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        pytest.param("a.yaml", "videos: " + "[" * 1500 + "]" * 1500 + "\n", 1, id="yaml flow 1,500 deep"),
        pytest.param(
            "a.yaml",
            "videos:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(1200)) + " " * 1202 + "x\n",
            MAX_DEPTH + 1,
            id="yaml block mapping 1,200 deep",
        ),
        pytest.param("a.toml", "x = " + "[" * 600 + "]" * 600 + "\n", 1, id="toml arrays 600 deep"),
        pytest.param(
            "a.toml",
            '[videos.a]\nmodel = "wan2.1-t2v"\nprompt.' + ".".join(f"k{i}" for i in range(1500)) + " = 1\n",
            3,
            id="toml dotted keys 1,500 deep",
        ),
    ],
)
def test_validate_refuses_nesting_past_the_depth_limit_with_its_line(project, hostile, name, text, line) -> None:
    (project / "specs" / name).write_text(text)
    run = hostile("validate", "--no-cache")
    run.assert_clean_error(f"specs/{name}:{line}:", f"nested more than {MAX_DEPTH} levels")


def test_validate_refuses_a_lone_surrogate_escape_with_its_line(project, hostile) -> None:
    (project / "specs" / "a.yaml").write_text('videos:\n  a:\n    model: wan2.1-t2v\n    prompt: "smile \\ud83d"\n')
    run = hostile("validate", "--no-cache")
    run.assert_clean_error("specs/a.yaml:4:", "\\ud83d is half of a UTF-16 surrogate pair")


def test_a_json_style_surrogate_pair_is_read_as_the_one_character_it_encodes(project, hostile) -> None:
    entry = 'videos:\n  a:\n    model: wan2.1-t2v\n    prompt: "smile {smile}"\n'
    keys = []
    for smile in ("\\ud83d\\ude00", "\U0001f600"):  # escaped as a JSON-style pair, then written as itself
        (project / "specs" / "a.yaml").write_text(entry.format(smile=smile), encoding="utf-8")
        run = hostile("plan", "--json")
        assert "Traceback" not in run.text
        assert run.code == 0, run.text
        keys.append(json.loads(run.out)["specs"][0]["key"])
    assert keys[0] == keys[1]


def test_validate_refuses_a_fifo_among_the_specs_without_waiting_for_a_writer(project, hostile) -> None:
    os.mkfifo(project / "specs" / "x.yaml")
    hostile("validate", "--no-cache", timeout=30).assert_clean_error("specs/x.yaml", "FIFO")


def test_validate_refuses_a_spec_that_links_to_dev_zero(project, hostile) -> None:
    (project / "specs" / "x.yaml").symlink_to("/dev/zero")
    hostile("validate", "--no-cache", timeout=30).assert_clean_error("specs/x.yaml", "device")


def test_validate_refuses_a_huge_spec_file_without_reading_it(project, hostile) -> None:
    with (project / "specs" / "x.yaml").open("wb") as handle:
        handle.truncate(3 * 2**30)  # sparse: 3 GB long, no disk used
    # Under a 1 GiB address space, reading it whole would fail; the refusal costs one fstat.
    run = hostile("validate", "--no-cache", timeout=30)
    run.assert_clean_error("specs/x.yaml", f"limited to {MAX_FILE_BYTES // 2**20} MB")


def test_validate_refuses_an_image_that_is_a_fifo(project, hostile) -> None:
    os.mkfifo(project / "specs" / "still.png")
    (project / "specs" / "a.yaml").write_text(I2V.format(image="still.png"))
    hostile("validate", "--no-cache", timeout=30).assert_clean_error("specs/a.yaml:5:", "FIFO")


def test_validate_refuses_an_image_that_links_to_dev_zero(project, hostile) -> None:
    (project / "specs" / "still.png").symlink_to("/dev/zero")
    (project / "specs" / "a.yaml").write_text(I2V.format(image="still.png"))
    # /dev/zero lies outside the specs too; allowed outside, it is still refused as a device.
    (project / "reconciler.toml").write_text("[reconciler]\nallow_outside_files = true\n")
    hostile("validate", "--no-cache", timeout=30).assert_clean_error("specs/a.yaml:5:", "device")


def test_validate_refuses_a_huge_image_without_reading_it(project, hostile) -> None:
    with (project / "specs" / "still.png").open("wb") as handle:
        handle.write(PNG)
        handle.truncate(2 * 2**30)  # a PNG header, then 2 GB of holes
    (project / "specs" / "a.yaml").write_text(I2V.format(image="still.png"))
    run = hostile("validate", "--no-cache", timeout=30)
    run.assert_clean_error("specs/a.yaml:5:", f"over the limit of {MAX_MEDIA_BYTES // 2**20} MB")


def _outside_file(project: Path) -> Path:
    secret = project.parent / f"{project.name}-private" / "outside.png"
    secret.parent.mkdir(exist_ok=True)
    secret.write_bytes(PNG)
    return secret


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_validate_refuses_a_local_image_outside_the_spec_directory(project, hostile, how) -> None:
    secret = _outside_file(project)
    (project / "specs" / "stills").mkdir()
    written = {
        "absolute": str(secret),
        "dotdot": os.path.relpath(secret, project / "specs" / "stills"),
        "symlink": "stills/innocent.png",
    }[how]
    if how == "symlink":
        (project / "specs" / "stills" / "innocent.png").symlink_to(secret)
    else:
        written = os.path.join("stills", written) if how == "dotdot" else written
    (project / "specs" / "a.yaml").write_text(I2V.format(image=written))
    run = hostile("validate", "--no-cache", timeout=30)
    run.assert_clean_error("specs/a.yaml:5:", "outside the spec directory", "allow_outside_files")


def test_allow_outside_files_lets_a_trusted_project_name_files_outside(project, hostile) -> None:
    secret = _outside_file(project)
    (project / "specs" / "a.yaml").write_text(I2V.format(image=str(secret)))
    (project / "reconciler.toml").write_text("[reconciler]\nallow_outside_files = true\n")
    run = hostile("validate", "--no-cache", timeout=30)
    assert run.code == 0, run.text


def test_a_local_image_inside_the_spec_directory_is_still_fine(project, hostile) -> None:
    (project / "specs" / "stills").mkdir()
    (project / "specs" / "stills" / "cat.png").write_bytes(PNG)
    (project / "specs" / "a.yaml").write_text(I2V.format(image="stills/cat.png"))
    run = hostile("validate", "--no-cache", timeout=30)
    assert run.code == 0, run.text


@pytest.mark.parametrize(
    ("model", "param"), [("wan2.7-t2v", "audio_url"), ("wan-2.5-t2v", "audio")], ids=["audio_url", "audio"]
)
def test_local_audio_is_checked_by_its_magic_bytes_and_bounded_like_images(project, hostile, model, param) -> None:
    (project / "specs" / "song.mp3").write_bytes(b"ID3\x04\x00" + b"\x00" * 64)
    (project / "specs" / "notes.wav").write_text("not audio at all")
    os.mkfifo(project / "specs" / "pipe.wav")
    entry = "  {name}:\n    model: {model}\n    prompt: a cat\n    {param}: {path}\n"
    (project / "specs" / "good.yaml").write_text(
        "videos:\n" + entry.format(name="ok", model=model, param=param, path="song.mp3")
    )
    assert hostile("validate", "--no-cache", "specs/good.yaml", timeout=30).code == 0
    (project / "specs" / "bad.yaml").write_text(
        "videos:\n"
        + entry.format(name="text", model=model, param=param, path="notes.wav")
        + entry.format(name="pipe", model=model, param=param, path="pipe.wav")
        + entry.format(name="away", model=model, param=param, path=str(_outside_file(project)))
    )
    run = hostile("validate", "--no-cache", "specs/bad.yaml", timeout=30)
    col = len(f"    {param}: ") + 1  # the value's column
    run.assert_clean_error(
        f"specs/bad.yaml:5:{col}: error: {param}: 'notes.wav' is not an MP3 or WAV audio file",
        f"specs/bad.yaml:9:{col}: error: {param}: local audio 'pipe.wav' is a FIFO",
        f"specs/bad.yaml:13:{col}:",
        "outside the spec directory",
    )


# ---- generated hostile files: whatever they hold, validate answers 0 or 1, never a traceback

_ESCAPES = st.sampled_from(
    ["\\ud83d", "\\ude00", "\\ud83d\\ude00", "\\udfff\\ud800", "\\U0001F600", "\\U0000d83d", "\\x41", "\\xff",
     "\\N", "\\_", "\\L", "\\P", "\\0", "\\e", "\\/", "\\q", "\\u12", "\\U110000", "\\"]
)  # fmt: skip


@st.composite
def hostile_yaml(draw: st.DrawFn) -> str:
    parts = ["videos:", "  a:", "    model: wan2.1-t2v"]
    # Each feature is drawn on its own, so one (a broken escape) does not always hide the others.
    prompt = "".join(draw(st.lists(st.one_of(_ESCAPES, st.text(alphabet="ab :#&*", max_size=3)), max_size=6)))
    parts.append(f'    prompt: "{prompt if draw(st.booleans()) else "a cat"}"')
    for level in range(draw(st.sampled_from([0, 0, 3, 9, 12]))):  # anchors, each aliasing the one before some times
        width = draw(st.integers(1, 12))
        body = ", ".join([f"*x{level - 1}"] * width) if level else ", ".join(["v"] * width)
        parts.insert(0, f"x{level}: &x{level} [{body}]")
    if draw(st.booleans()):
        parts.append("    seed: *x0" if draw(st.booleans()) else "    tags: *x1")
    depth = draw(st.one_of(st.integers(0, 80), st.integers(900, 2500)))
    kind = draw(st.sampled_from(["flow", "block", "unbalanced", "none"]))
    if kind == "flow":
        parts.append("    negative_prompt: " + "[" * depth + "]" * depth)
    elif kind == "block":
        parts.extend(" " * (4 + i) + f"k{i}:" for i in range(min(depth, 1500)))
    elif kind == "unbalanced":
        parts.append("    negative_prompt: " + "{[" * depth)
    return "\n".join(parts) + "\n"


@st.composite
def hostile_toml(draw: st.DrawFn) -> str:
    prompt = "".join(draw(st.lists(st.one_of(_ESCAPES, st.text(alphabet="ab '#[]{}", max_size=3)), max_size=6)))
    lines = ["[videos.a]", 'model = "wan2.1-t2v"', f'prompt = "{prompt if draw(st.booleans()) else "a cat"}"']
    depth = draw(st.one_of(st.integers(0, 80), st.integers(500, 2500)))
    kind = draw(st.sampled_from(["arrays", "tables", "dotted", "strings", "none"]))
    if kind == "arrays":
        lines.append("tags = " + "[" * depth + "]" * depth)
    elif kind == "tables":
        lines.append("matrix = " + "{a = " * depth + "1" + "}" * depth)
    elif kind == "dotted":
        lines.append("x." + ".".join(f"k{i}" for i in range(depth)) + " = 1")
    elif kind == "strings":
        lines.append('s = "' + "[" * depth + '" # ' + "{" * depth)
    return "\n".join(lines) + "\n"


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(hostile_yaml().map(lambda t: ("a.yaml", t)), hostile_toml().map(lambda t: ("a.toml", t))))
def test_validate_answers_generated_hostile_files_with_0_or_1_and_never_a_traceback(cli, project, case) -> None:
    name, text = case
    for old in (project / "specs").iterdir():
        old.unlink()
    (project / "specs" / name).write_text(text, encoding="utf-8")
    run = cli("validate", "--no-cache")
    assert run.code in (0, 1), run.out + run.err
    assert "Traceback" not in run.out + run.err
    if run.code == 1:
        assert f"specs/{name}" in run.err, run.err


def test_validate_refuses_a_fifo_named_on_the_command_line(project, hostile) -> None:
    os.mkfifo(project / "x.yaml")
    hostile("validate", "--no-cache", "x.yaml", timeout=30).assert_clean_error("x.yaml", "FIFO")


def test_a_setting_that_is_not_true_or_false_is_an_error_naming_it(project, hostile) -> None:
    (project / "reconciler.toml").write_text('[reconciler]\nallow_outside_files = "yes"\n')
    hostile("validate").assert_clean_error("reconciler.toml", "reconciler.allow_outside_files must be true or false")


def test_watch_refuses_a_local_file_outside_the_spec_directory_too(project) -> None:
    secret = _outside_file(project)
    (project / "specs" / "a.yaml").write_text(I2V.format(image=str(secret)))
    reloaded = LiveSpecs(["specs"]).reload()
    assert [e.name for e in reloaded.specs.entries] == []
    assert any("outside the spec directory" in str(error) for error in reloaded.errors)
    trusted = LiveSpecs(["specs"], allow_outside_files=True).reload()
    assert [e.name for e in trusted.specs.entries] == ["clip"]


def test_the_upload_refuses_a_local_file_swapped_for_a_fifo_without_waiting(project) -> None:
    still = project / "specs" / "still.png"
    still.write_bytes(PNG)
    image = LocalFile("image", str(still), hashlib.sha256(PNG).hexdigest(), "image/png")
    assert image_bytes(image) == PNG
    still.unlink()
    os.mkfifo(still)  # swapped after the specs were read: the engine reads it as the specs were
    with pytest.raises(ImageChanged, match="FIFO"):
        image_bytes(image)


@pytest.mark.parametrize("how", ["fifo", "deep"])
def test_a_hostile_settings_file_is_refused_by_name(project, hostile, how) -> None:
    settings = project / "reconciler.toml"
    if how == "fifo":
        os.mkfifo(settings)
    else:
        settings.write_text("x = " + "[" * 2000 + "]" * 2000 + "\n")
    hostile("validate", timeout=30).assert_clean_error("reconciler.toml")
