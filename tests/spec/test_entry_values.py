"""The values loading hands out keep their meaning as plain immutable values: copied, pickled, compared."""

from __future__ import annotations

import copy
import pickle

from reconciler.errors import Location
from reconciler.plan.diff import Action
from reconciler.records import OUTPUT_COLUMNS, Output
from reconciler.spec import SpecEntry


def entry(**changes: object) -> SpecEntry:
    made = SpecEntry("cat", "wan-2.2-t2v-fast", {"prompt": "a cat"}, '{"prompt":"a cat"}', (), Location("a.yaml", 1))
    return made._replace(**changes)


def test_a_spec_entry_survives_pickling_and_deep_copying_with_or_without_its_keys() -> None:
    for original in (entry(), entry(keys={"segmind": "sha256:" + "a" * 64})):
        for copied in (pickle.loads(pickle.dumps(original)), copy.deepcopy(original)):
            assert copied == original
            assert dict(copied.keys) == dict(original.keys)


def test_spec_entries_that_differ_only_in_their_derived_keys_are_equal_and_others_are_not() -> None:
    assert entry() == entry(keys={"segmind": "sha256:" + "a" * 64})
    assert entry() != entry(name="dog")
    assert entry() != entry(where=Location("a.yaml", 2))


def test_the_values_made_from_one_tuple_keep_the_field_order_their_makers_use() -> None:
    # records.maker builds these from tuples in field order (store rows, the diff): a field added or
    # moved must be added or moved there too.
    assert Output._fields == tuple(column.strip() for column in OUTPUT_COLUMNS.split(","))
    assert Action._fields == (
        "name", "key", "model", "kind", "reason", "where", "est_cost_usd", "est_seconds", "shares_with",
        "request_id", "up_to_cost_usd",
    )  # fmt: skip
    assert Location._fields == ("path", "line", "col")
    assert SpecEntry._fields == ("name", "model", "params", "params_json", "tags", "where", "images", "keys")
