"""`reconciler watch` as a real process against the fake: edits in, submits and files out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PATIENCE_S, Fake, spec, specs_file, stored_request_ids

pytestmark = pytest.mark.slow


class Watch:
    """A running `reconciler watch` whose output is collected line by line."""

    def __init__(self, project: Path, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "watch", *args],
            cwd=project,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; watch said:\n{self.output}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        self.close()
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def watching(fake: Fake, project: Path) -> Iterator[Callable[..., Watch]]:
    started: list[Watch] = []

    def _start(*args: str) -> Watch:
        watch = Watch(project, fake.env(), *args)
        started.append(watch)
        watch.wait_for(lambda: "watching" in watch.output, "watch to start")
        return watch

    yield _start
    for watch in started:
        watch.close()


def stored(project: Path, name: str) -> bool:
    return (project / "out" / f"{name}.mp4").is_file()


def test_watch_follows_a_spec_through_its_life(fake, project, write, watching) -> None:
    path = write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    watch = watching("--yes")
    watch.wait_for(lambda: stored(project, "cat"), "the first spec to be stored")
    assert len(fake.submits()) == 1

    # A new spec: exactly one more submit, and its file appears.
    path.write_text(specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
    watch.wait_for(lambda: stored(project, "dog"), "the new spec to be stored")
    assert len(fake.submits()) == 2

    # Edit it: one more.
    path.write_text(specs_file(spec("cat", "a cat"), spec("dog", "a dog", seed=2)))
    watch.wait_for(lambda: len(fake.submits()) == 3 and "stored      dog" in watch.lines[-1], "the edit to be made")

    # Break it: the error is shown with file:line, nothing is submitted, watch keeps running.
    path.write_text("videos:\n  cat:\n    model: wan-2.2-t2v-fast\n    promt: a cat\n")
    watch.wait_for(lambda: "specs/a.yaml:4" in watch.output, "the mistake to be reported")
    time.sleep(0.5)
    assert watch.process.poll() is None
    assert len(fake.submits()) == 3
    assert stored(project, "dog")  # the broken file keeps its last good version

    # Fix it (and drop dog): cat is stored already, dog's file goes, its video stays in the store.
    blobs_before = sorted((project / ".reconciler" / "objects").rglob("*"))
    path.write_text(specs_file(spec("cat", "a cat")))
    watch.wait_for(lambda: not stored(project, "dog"), "dog's file to be removed")
    # Said before dog's file went, but read from watch's output by another thread: waited for, not raced.
    watch.wait_for(lambda: "valid again" in watch.output, "the fix to be reported")
    assert sorted((project / ".reconciler" / "objects").rglob("*")) == blobs_before

    # Save the same content again: nothing is submitted.
    journal = len(fake.journal())
    path.write_text(specs_file(spec("cat", "a cat")))
    time.sleep(1.0)
    assert len(fake.submits()) == 3
    assert len(fake.journal()) == journal

    assert watch.stop() == 130
    assert "Traceback" not in watch.output


def test_editing_one_spec_of_many_submits_that_one(fake, project, write, watching) -> None:
    entries = [spec(f"v{i}", f"scene {i}") for i in range(12)]
    path = write("specs/a.yaml", specs_file(*entries))
    watch = watching("--yes")
    watch.wait_for(lambda: all(stored(project, f"v{i}") for i in range(12)), "all twelve to be stored")
    entries[5] = spec("v5", "scene five, changed")
    path.write_text(specs_file(*entries))
    watch.wait_for(lambda: len(fake.submits()) == 13, "the changed spec to be submitted")
    time.sleep(0.5)
    assert len(fake.submits()) == 13
    assert fake.submits()[-1]["body"]["prompt"] == "scene five, changed"
    watch.stop()


def test_a_spec_removed_while_its_job_runs_finishes_into_the_store_but_not_into_out(
    fake, project, write, watching
) -> None:
    fake.configure(time_scale=0.05)  # about 5 s a job
    path = write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    watch = watching("--yes", "--concurrency", "2")
    watch.wait_for(lambda: len(fake.submits()) == 1, "the submit")
    path.write_text(specs_file(spec("dog", "a dog")))
    watch.wait_for(lambda: stored(project, "dog"), "the new spec")
    watch.wait_for(lambda: any("stored      cat" in line for line in watch.lines), "the removed spec's job to finish")
    assert not stored(project, "cat")
    assert len(fake.submits()) == 2
    watch.stop()


def test_a_paid_job_left_by_a_killed_apply_whose_spec_was_edited_is_fetched_by_watch(
    fake, project, write, watching, processes
) -> None:
    fake.configure(time_scale=0.05)  # about 5 s a job: the apply is killed while it waits
    path = write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    victim = processes.apply(scale=0.05)
    deadline = time.monotonic() + PATIENCE_S
    while len(fake.submits()) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    processes.kill(victim)
    [paid] = [job["id"] for job in fake.jobs()]
    path.write_text(specs_file(spec("cat", "a cat, edited")))
    watch = watching("--yes")
    watch.wait_for(lambda: paid in stored_request_ids(project).values(), "the paid job to be fetched into the store")
    watch.wait_for(lambda: stored(project, "cat"), "the edited spec to be stored")
    assert [job["body"]["prompt"] for job in fake.submits()] == ["a cat", "a cat, edited"]  # nothing paid twice
    watch.stop()


def test_without_yes_off_a_terminal_watch_shows_what_it_would_buy_and_buys_nothing(
    fake, project, write, watching
) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    watch = watching()
    watch.wait_for(lambda: "not approved" in watch.output, "the unapproved batch to be shown")
    assert "--yes" in watch.output
    assert fake.submits() == []
    assert watch.stop() == 130


def test_an_editor_swap_file_is_ignored(fake, project, write, watching) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    watch = watching("--yes")
    watch.wait_for(lambda: stored(project, "cat"), "the spec to be stored")
    (project / "specs" / ".a.yaml.swp").write_bytes(b"\x00garbage")
    (project / "specs" / "a.yaml~").write_text("videos: [")
    time.sleep(1.0)
    assert "spec-error" not in watch.output
    assert len(fake.submits()) == 1
    watch.stop()
