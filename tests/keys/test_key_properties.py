"""Properties of a video's content key: what may not change it, and what must."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import catalog, keys
from reconciler.spec import resolve_file

MODELS = st.sampled_from(catalog.MODELS)


def resolved(model: catalog.Model, given_params: dict[str, Any]) -> dict[str, Any]:
    params, problems = catalog.check(model, given_params, fill_defaults=True)
    assert problems == []
    return params


def valid_value(param: catalog.Param) -> st.SearchStrategy[Any]:
    if param.choices is not None:
        return st.sampled_from(param.choices)
    if param.kind is catalog.Kind.BOOLEAN:
        return st.booleans()
    if param.kind is catalog.Kind.INTEGER:
        low = int(param.minimum) if param.minimum is not None else -(2**31)
        high = int(param.maximum) if param.maximum is not None else 2**31
        return st.integers(low, high)
    if param.kind is catalog.Kind.NUMBER:
        return st.floats(param.minimum or 0, param.maximum or 1, allow_nan=False)
    if param.kind is catalog.Kind.URI:
        return st.sampled_from(["https://example.com/a.png", "https://example.com/b.mp3"])
    return st.text(min_size=1, max_size=40).filter(str.strip)


@st.composite
def requests(draw: st.DrawFn) -> tuple[catalog.Model, dict[str, Any]]:
    model = draw(MODELS)
    chosen = {}
    for param in model.params:
        if (param.required and not param.has_default) or draw(st.booleans()):
            chosen[param.name] = draw(valid_value(param))
    return model, chosen


@given(requests(), st.randoms())
def test_the_key_does_not_depend_on_the_order_of_parameters(request: Any, rnd: random.Random) -> None:
    model, params = request
    items = list(params.items())
    rnd.shuffle(items)
    assert keys.request_key("segmind", model.slug, resolved(model, params)) == keys.request_key(
        "segmind", model.slug, resolved(model, dict(items))
    )


@given(requests())
def test_a_default_written_out_gives_the_same_key_as_one_omitted(request: Any) -> None:
    model, params = request
    written = {p.name: p.default for p in model.params if p.has_default} | params
    assert keys.request_key("segmind", model.slug, resolved(model, params)) == keys.request_key(
        "segmind", model.slug, resolved(model, written)
    )


@given(requests())
def test_integers_written_as_text_and_integral_numbers_as_floats_give_the_same_key(request: Any) -> None:
    model, params = request
    loose = {}
    for name, value in params.items():
        kind = model.by_name[name].kind
        if kind is catalog.Kind.INTEGER and not isinstance(value, bool):
            loose[name] = str(value)
        elif kind is catalog.Kind.NUMBER and float(value).is_integer():
            loose[name] = float(value)
        else:
            loose[name] = value
    assert keys.request_key("segmind", model.slug, resolved(model, params)) == keys.request_key(
        "segmind", model.slug, resolved(model, loose)
    )


@given(requests(), st.data())
def test_changing_any_parameter_that_affects_the_output_changes_the_key(request: Any, data: st.DataObject) -> None:
    model, params = request
    full = resolved(model, params)
    param = data.draw(st.sampled_from([p for p in model.params if not p.transport_only]))
    other = data.draw(
        valid_value(param).filter(lambda v: resolved(model, full | {param.name: v})[param.name] != full[param.name])
    )
    changed = full | {param.name: other}
    assert keys.request_key("segmind", model.slug, full) != keys.request_key(
        "segmind", model.slug, resolved(model, changed)
    )


def test_base64_is_transport_only_and_never_changes_the_key() -> None:
    model = catalog.BY_SLUG["wan2.1-t2v"]
    plain = resolved(model, {"prompt": "hi", "base64": False})
    encoded = resolved(model, {"prompt": "hi", "base64": True})
    assert keys.request_key("segmind", model.slug, plain) == keys.request_key("segmind", model.slug, encoded)


def test_the_namespace_separates_backends() -> None:
    params = resolved(catalog.BY_SLUG["wan2.1-t2v"], {"prompt": "hi"})
    assert keys.request_key(keys.SEGMIND, "wan2.1-t2v", params) != keys.request_key(keys.MOCK, "wan2.1-t2v", params)


@given(requests(), st.sampled_from([keys.SEGMIND, keys.MOCK]))
def test_the_key_is_the_sha256_of_the_canonical_request(request: Any, namespace: str) -> None:
    model, params = request
    full = resolved(model, params)
    identity = {k: v for k, v in full.items() if not model.by_name[k].transport_only}
    text = json.dumps(
        {"api": namespace, "model": model.slug, "params": identity},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    import hashlib

    assert keys.request_key(namespace, model.slug, full) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


NAMES = st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True)


@settings(max_examples=30)
@given(NAMES, NAMES, st.sampled_from(["a.yaml", "deep/b.yml", "c.toml"]))
def test_the_key_does_not_depend_on_the_spec_name_or_file(first: str, second: str, file_name: str) -> None:
    def key_of(name: str, path: str) -> str:
        if path.endswith(".toml"):
            text = f'[videos.{name}]\nmodel = "wan2.7-t2v"\nprompt = "An eagle"\nduration = "5"\n'
        else:
            text = f"videos:\n  {name}:\n    model: wan2.7-t2v\n    prompt: An eagle\n    duration: 5\n"
        result = resolve_file(path, text.encode())
        assert result.errors == ()
        (entry,) = result.partials
        assert entry.params_json is not None
        return keys.params_key("segmind", entry.model, entry.params_json)

    assert key_of(first, "a.yaml") == key_of(second, file_name)


def test_a_local_image_counts_by_its_bytes_not_its_path(tmp_path: Path) -> None:
    from reconciler.spec import load

    png = b"\x89PNG\r\n\x1a\n" + b"pixels"
    (tmp_path / "one.png").write_bytes(png)
    (tmp_path / "two.png").write_bytes(png)
    (tmp_path / "three.png").write_bytes(png + b"more")
    (tmp_path / "s.yaml").write_text(
        "videos:\n"
        + "".join(
            f"  {n}:\n    model: wan2.1-i2v-480p\n    prompt: hi\n    image: {f}\n"
            for n, f in (("a", "one.png"), ("b", "two.png"), ("c", "three.png"))
        )
    )
    entries = {e.name: keys.entry_key(keys.SEGMIND, e) for e in load([tmp_path]).entries}
    assert entries["a"] == entries["b"] != entries["c"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_canonical_json_is_sorted_compact_utf8_json(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert catalog.canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [(float("nan"), ValueError), ({"a": [float("inf")]}, ValueError), ({"a": object()}, TypeError)],
)
def test_canonical_json_refuses_nan_infinities_and_foreign_objects(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        catalog.canonical_json(value)
