"""A lost or damaged state.sqlite costs nothing: the receipts kept with the blobs restore the outputs.

The real CLI against a real fake over HTTP; what was paid for is read from the fake's journal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Fake, spec, specs_file


def _two_stored(fake: Fake, apply: Callable[..., Any], write: Callable[..., Path]) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
    assert apply("--yes").code == 0
    assert len(fake.submits()) == 2


def _state(project: Path) -> Path:
    return project / ".reconciler" / "state.sqlite"


def _remove_database(project: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{_state(project)}{suffix}").unlink(missing_ok=True)


def test_a_store_whose_database_is_gone_gets_its_outputs_back_and_apply_buys_nothing(
    fake: Fake, apply: Callable[..., Any], cli: Callable[..., Any], write: Callable[..., Path], project: Path
) -> None:
    _two_stored(fake, apply, write)
    _remove_database(project)
    document = json.loads(cli("plan", "--json").out)
    assert [s["action"] for s in document["specs"]] == ["noop", "noop"]
    run = apply("--yes")
    assert run.code == 0, run.out + run.err
    assert len(fake.submits()) == 2  # nothing bought again
    assert cli("verify").code == 0


@pytest.mark.parametrize(
    "damage",
    [b"", b"this is not an SQLite database at all, it was overwritten" * 100],
    ids=["0 bytes", "garbage"],
)
def test_a_damaged_database_is_refused_with_its_cost_and_verify_rebuild_restores_it_for_free(
    fake: Fake, apply: Callable[..., Any], cli: Callable[..., Any], write: Callable[..., Path], project: Path,
    damage: bytes,
) -> None:  # fmt: skip
    _two_stored(fake, apply, write)
    _remove_database(project)
    _state(project).write_bytes(damage)
    refused = apply("--yes")
    assert refused.code != 0
    assert "Traceback" not in refused.err
    message = refused.err + refused.out
    assert "verify --rebuild" in message
    assert "2 stored videos" in message
    assert "about $0.20" in message  # what an apply would pay without the rebuild
    assert len(fake.submits()) == 2
    assert _state(project).read_bytes() == damage  # nothing written into the damaged file

    rebuilt = cli("verify", "--rebuild")
    assert rebuilt.code == 0, rebuilt.out + rebuilt.err
    assert "restored 2 outputs" in rebuilt.out
    assert list((project / ".reconciler").glob("state.sqlite.damaged-*"))  # kept aside, not deleted
    run = apply("--yes")
    assert run.code == 0, run.out + run.err
    assert len(fake.submits()) == 2
