"""The lock file through the real CLI: apply writes it, `plan --locked` holds the specs to it.

apply runs in-process against a real fake over HTTP (the `apply` fixture); plan needs no network.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from reconciler.plan.lock import loads
from tests.e2e.conftest import spec, specs_file

TWO = specs_file(spec("cat", "a cat"), spec("dog", "a dog"))


def lock_of(project: Path) -> dict:
    return tomllib.loads((project / "reconciler.lock").read_text())


def test_apply_writes_a_lock_with_every_spec_and_the_video_stored_for_it(fake, apply, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog"), spec("owl", "an owl")))
    run = apply("--yes", "--target", "cat", "--target", "dog")
    assert run.code == 0, run.out + run.err
    assert "reconciler.lock: 3 added, 0 removed, 0 changed; 2 of 3 videos recorded" in run.err
    videos = lock_of(project)["videos"]
    assert sorted(videos) == ["cat", "dog", "owl"]  # targeted or not
    cat = (project / "out" / "cat.mp4").read_bytes()
    assert videos["cat"]["size"] == len(cat)
    assert videos["cat"]["digest"].startswith("sha256:")
    assert set(videos["owl"]) == {"key", "model"}


def test_an_apply_with_nothing_to_do_leaves_the_lock_untouched_byte_for_byte(fake, apply, write, project) -> None:
    write("specs/a.yaml", TWO)
    assert apply("--yes").code == 0
    lock = project / "reconciler.lock"
    before = lock.read_bytes()
    os.utime(lock, (1_000_000, 1_000_000))
    run = apply("--yes")
    assert run.code == 0
    assert lock.read_bytes() == before
    assert lock.stat().st_mtime == 1_000_000
    assert "reconciler.lock" not in run.err
    assert [p.name for p in project.iterdir() if p.name.startswith(".reconciler.lock")] == []  # no temp left


def test_plan_locked_passes_when_specs_and_lock_agree_and_lists_every_difference_when_not(
    fake, apply, cli, write, project
) -> None:
    path = write("specs/a.yaml", TWO)
    assert apply("--yes").code == 0
    agreed = cli("plan", "--locked", "--detailed-exitcode")
    assert agreed.code == 0, agreed.err
    assert "reconciler.lock matches the specs" in agreed.err

    path.write_text(specs_file(spec("cat", "a cat", seed=2), spec("kitten", "a dog"), spec("owl", "an owl")))
    run = cli("plan", "--locked", "--detailed-exitcode")
    assert run.code == 1
    assert "+ owl" in run.out  # the plan is still shown: reviewers see what would be made
    lock = lock_of(project)["videos"]
    assert run.err.splitlines()[-5:] == [
        "error: reconciler.lock does not match the specs:",
        "  added: owl",
        f"  changed: cat (key {lock['cat']['key'][:19]} -> {json_key(cli, 'cat')[:19]})",
        "  renamed: dog -> kitten (same key)",
        "  hint: run `reconciler plan --update-lock` (records the keys, pays nothing) or `reconciler apply`, "
        "and commit reconciler.lock with the specs",
    ]


def json_key(cli, name: str) -> str:
    return {s["name"]: s["key"] for s in json.loads(cli("plan", "--json").out)["specs"]}[name]


def test_plan_update_lock_records_the_new_keys_without_paying_and_keeps_the_digests(
    fake, apply, cli, write, project
) -> None:
    path = write("specs/a.yaml", TWO)
    assert apply("--yes").code == 0
    path.write_text(specs_file(spec("cat", "a cat"), spec("dog", "a dog"), spec("owl", "an owl")))
    assert cli("plan", "--locked").code == 1
    update = cli("plan", "--update-lock")
    assert update.code == 0
    assert "reconciler.lock: 1 added, 0 removed, 0 changed; 2 of 3 videos recorded" in update.err
    assert cli("plan", "--locked").code == 0
    videos = lock_of(project)["videos"]
    assert "digest" in videos["cat"]
    assert "digest" not in videos["owl"]
    assert len(fake.submits()) == 2


def test_plan_locked_without_a_lock_is_an_error_that_says_how_to_write_one(cli, write, project) -> None:
    write("specs/a.yaml", TWO)
    run = cli("plan", "--locked")
    assert run.code == 1
    assert "--locked: there is no reconciler.lock" in run.err
    assert "reconciler plan --update-lock" in run.err


def test_apply_locked_submits_nothing_when_the_specs_do_not_match_the_lock(fake, apply, cli, write, project) -> None:
    path = write("specs/a.yaml", TWO)
    assert cli("plan", "--update-lock").code == 0
    path.write_text(specs_file(spec("cat", "a cat"), spec("dog", "a dog"), spec("owl", "an owl")))
    before = (project / "reconciler.lock").read_bytes()
    run = apply("--yes", "--locked")
    assert run.code == 1
    assert "added: owl" in run.err
    assert "nothing was submitted" in run.err
    assert fake.submits() == []
    assert (project / "reconciler.lock").read_bytes() == before


def test_apply_locked_makes_what_the_lock_names_and_records_the_videos(fake, apply, cli, write, project) -> None:
    write("specs/a.yaml", TWO)
    assert cli("plan", "--update-lock").code == 0
    run = apply("--yes", "--locked")
    assert run.code == 0, run.out + run.err
    assert "0 added, 0 removed, 0 changed; 2 of 2 videos recorded" in run.err
    assert len(fake.submits()) == 2


def test_apply_mock_never_writes_the_lock_and_refuses_to_check_one(cli, write, project) -> None:
    write("specs/a.yaml", TWO)
    assert cli("apply", "--mock").code == 0
    assert not (project / "reconciler.lock").exists()
    run = cli("apply", "--mock", "--locked")
    assert run.code == 1
    assert "--mock never reads or writes it" in run.err


def test_apply_on_other_paths_leaves_the_projects_lock_alone_unless_given_one(fake, apply, write, project) -> None:
    write("specs/a.yaml", TWO)
    write("trial/b.yaml", specs_file(spec("fox", "a fox")))
    assert apply("--yes").code == 0
    project_lock = (project / "reconciler.lock").read_bytes()
    assert apply("--yes", "trial").code == 0
    assert (project / "reconciler.lock").read_bytes() == project_lock
    assert apply("--yes", "trial", "--lock", "trial/reconciler.lock").code == 0
    assert sorted(lock_of(project / "trial")["videos"]) == ["fox"]
    assert apply("--yes", "specs").code == 0  # the project's own spec path is the project's lock


def test_plan_locked_on_other_paths_needs_a_lock_named(cli, write, project) -> None:
    write("specs/a.yaml", TWO)
    run = cli("plan", "--locked", "specs/a.yaml")
    assert run.code == 1
    assert "--lock FILE" in run.err


def test_a_lock_with_merge_conflicts_fails_plan_locked_and_is_rebuilt_by_apply(fake, apply, cli, write, project):
    write("specs/a.yaml", TWO)
    assert apply("--yes").code == 0
    lock = project / "reconciler.lock"
    good = lock.read_text()
    lock.write_text(good.replace("[videos", "<<<<<<< HEAD\n[videos", 1) + "=======\n>>>>>>> topic\n")
    run = cli("plan", "--locked")
    assert run.code == 1
    assert "reconciler.lock:" in run.err
    assert "merge conflict markers" in run.err
    rebuilt = apply("--yes")
    assert rebuilt.code == 0
    assert "warning:" in rebuilt.err
    assert lock.read_text() == good


def test_plan_locked_warns_when_the_lock_records_videos_this_store_lacks(fake, apply, cli, write, project) -> None:
    import shutil

    write("specs/a.yaml", TWO)
    assert apply("--yes").code == 0
    shutil.rmtree(project / ".reconciler")  # a cold CI cache
    run = cli("plan", "--locked", "--format", "markdown")
    assert run.code == 0
    assert "records videos this store does not have, which apply would make (and pay for) again: cat, dog" in run.err
    assert "apply would make them again: `cat`, `dog`" in run.out
    document = json.loads(cli("plan", "--locked", "--json").out)
    assert document["lock"] == {
        "path": "reconciler.lock",
        "agrees": True,
        "added": [],
        "removed": [],
        "changed": [],
        "renamed": [],
        "made_elsewhere": ["cat", "dog"],
    }
    assert loads((project / "reconciler.lock").read_text(), "x").videos["cat"].digest is not None


def test_plan_json_has_a_null_lock_unless_locked(cli, write, project) -> None:
    write("specs/a.yaml", TWO)
    assert json.loads(cli("plan", "--json").out)["lock"] is None


def test_the_markdown_plan_says_whether_the_lock_matches(cli, write, project) -> None:
    path = write("specs/a.yaml", TWO)
    cli("plan", "--update-lock")
    assert "`reconciler.lock` matches the specs." in cli("plan", "--locked", "--format", "markdown").out
    path.write_text(specs_file(spec("cat", "a cat")))
    out = cli("plan", "--locked", "--format", "markdown").out
    assert "**`reconciler.lock` does not match the specs**" in out
    assert "- removed: dog" in out
