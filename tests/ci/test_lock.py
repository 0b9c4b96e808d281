"""The lock file as values and text: built from specs and the store, compared, and byte-stable. Pure."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import SpecErrors
from reconciler.plan.lock import Lock, Locked, build, compare, dumps, loads, made_elsewhere
from reconciler.records import Output


def key(n: int) -> str:
    return "sha256:" + (f"{n:x}" * 64)[:64]


def output(k: str, digest: int, size: int = 1000) -> Output:
    return Output(k, key(digest), size, "wan2.7-t2v", "r1", 0.6, "segmind", None, 0.0)


SPECS = {
    "tide-7": Locked(key(2), "wan-2.2-t2v-fast"),
    "birds/eagle": Locked(key(1), "wan2.7-t2v"),
}


def test_every_spec_gets_its_key_and_model_and_a_stored_one_its_digest_and_size() -> None:
    lock = build("segmind", SPECS, stored={key(1): output(key(1), 99, 1234)})
    assert lock.videos == {
        "birds/eagle": Locked(key(1), "wan2.7-t2v", key(99), 1234),
        "tide-7": Locked(key(2), "wan-2.2-t2v-fast"),
    }


def test_the_text_is_sorted_by_name_versioned_and_says_who_writes_it() -> None:
    text = dumps(build("segmind", SPECS, stored={key(1): output(key(1), 99, 1234)}))
    assert text.startswith("# reconciler.lock:")
    assert "Written by `reconciler apply`" in text
    assert "Commit it with the specs" in text
    body = text.split("\n\n", 1)[1]
    assert body.splitlines()[:2] == ["version = 1", 'namespace = "segmind"']
    assert text.index('[videos."birds/eagle"]') < text.index('[videos."tide-7"]')
    assert (
        f'[videos."birds/eagle"]\nkey = "{key(1)}"\nmodel = "wan2.7-t2v"\ndigest = "{key(99)}"\nsize = 1234\n' in text
    )
    assert text.endswith(f'[videos."tide-7"]\nkey = "{key(2)}"\nmodel = "wan-2.2-t2v-fast"\n')


def test_the_same_specs_and_store_give_the_same_bytes_whatever_their_order() -> None:
    backwards = dict(reversed(list(SPECS.items())))
    assert dumps(build("segmind", SPECS, stored={})) == dumps(build("segmind", backwards, stored={}))


def test_a_key_this_store_lacks_keeps_the_digest_the_previous_lock_recorded_even_after_a_rename() -> None:
    previous = Lock("segmind", {"eagle": Locked(key(1), "wan2.7-t2v", key(99), 5)})
    lock = build("segmind", SPECS, stored={}, previous=previous)
    assert lock.videos["birds/eagle"] == Locked(key(1), "wan2.7-t2v", key(99), 5)
    assert "eagle" not in lock.videos


def test_what_the_store_holds_wins_over_what_the_previous_lock_recorded() -> None:
    previous = Lock("segmind", {"birds/eagle": Locked(key(1), "wan2.7-t2v", key(99), 5)})
    lock = build("segmind", SPECS, stored={key(1): output(key(1), 77, 6)}, previous=previous)
    assert lock.videos["birds/eagle"].digest == key(77)


def test_a_previous_lock_of_another_api_lends_no_digests() -> None:
    previous = Lock("mock", {"birds/eagle": Locked(key(1), "wan2.7-t2v", key(99), 5)})
    assert build("segmind", SPECS, stored={}, previous=previous).videos["birds/eagle"].digest is None


def test_compare_lists_added_removed_changed_and_renamed_specs() -> None:
    lock = Lock(
        "segmind",
        {
            "birds/eagle": Locked(key(7), "wan2.7-t2v"),
            "gone": Locked(key(3), "wan2.7-t2v"),
            "tide-8": Locked(key(2), "wan-2.2-t2v-fast"),
        },
    )
    drift = compare(lock, SPECS | {"new": Locked(key(4), "wan2.7-t2v")})
    assert not drift.agrees
    assert drift.lines() == [
        "added: new",
        "removed: gone",
        "changed: birds/eagle (key sha256:777777777777 -> sha256:111111111111)",
        "renamed: tide-8 -> tide-7 (same key)",
    ]
    assert (drift.changed[0].old, drift.changed[0].new) == (key(7), key(1))


def test_digests_are_never_compared() -> None:
    lock = build("segmind", SPECS, stored={key(1): output(key(1), 99)})
    assert compare(lock, SPECS).agrees


def test_made_elsewhere_names_specs_whose_video_the_lock_records_and_the_store_lacks() -> None:
    lock = build("segmind", SPECS, stored={key(1): output(key(1), 99)})
    assert made_elsewhere(lock, SPECS, ["birds/eagle", "tide-7"]) == ("birds/eagle",)
    changed = SPECS | {"birds/eagle": Locked(key(5), "wan2.7-t2v")}
    assert made_elsewhere(lock, changed, ["birds/eagle"]) == ()


def test_loads_reads_what_dumps_wrote() -> None:
    lock = build("segmind", SPECS, stored={key(1): output(key(1), 99)})
    assert loads(dumps(lock), "reconciler.lock") == lock


names = st.lists(
    st.from_regex(r"[a-z0-9][a-z0-9._-]{0,8}(/[a-z0-9][a-z0-9._-]{0,8}){0,2}", fullmatch=True),
    unique=True,
    max_size=8,
)


@given(names, st.data())
def test_any_lock_survives_a_round_trip_through_its_text_and_is_valid_toml(spec_names, data) -> None:
    specs = {name: Locked(key(data.draw(st.integers(0, 3))), "wan2.7-t2v") for name in spec_names}
    stored = {key(1): output(key(1), 42, data.draw(st.integers(0, 2**40)))}
    lock = build("segmind", specs, stored=stored)
    text = dumps(lock)
    assert tomllib.loads(text)["version"] == 1
    assert loads(text, "reconciler.lock") == lock
    assert dumps(loads(text, "reconciler.lock")) == text


def test_a_lock_with_merge_conflict_markers_says_so_and_how_to_rebuild_it() -> None:
    text = dumps(build("segmind", SPECS, stored={}))
    conflicted = text.replace('[videos."tide-7"]', '<<<<<<< HEAD\n[videos."tide-7"]', 1) + "=======\n>>>>>>> topic\n"
    with pytest.raises(SpecErrors) as raised:
        loads(conflicted, "reconciler.lock")
    (error,) = raised.value.errors
    assert error.message == "it has git merge conflict markers"
    assert error.where.line == text[: text.index('[videos."tide-7"]')].count("\n") + 1
    assert "reconciler plan --update-lock" in (error.hint or "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 2\n", "lock version 2 was written by a newer reconciler"),
        ("version = 1\n", "a lock needs `namespace`"),
        ('name = "x"\n', "not a reconciler lock"),
        ('version = 1\nnamespace = "segmind"\n[videos.a]\nkey = "md5:1"\nmodel = "m"\n', "videos.a needs a `key`"),
        ("version = [\n", "TOML syntax error"),
    ],
)
def test_a_broken_lock_is_an_error_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(SpecErrors) as raised:
        loads(text, "reconciler.lock")
    assert message in str(raised.value.errors[0])
    assert raised.value.errors[0].where.path == "reconciler.lock"
