"""Every parameter of every model, held against the API page it comes from.

The pages (copied verbatim into tests/catalog/seed_pages/) are scraped HTML, so each parameter's
block is cut out by finding `<name>required` / `<name>optional` and read with whitespace removed.
A default, enum, range, type or required flag that drifts from its page fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler import catalog

PAGES = Path(__file__).parent / "seed_pages"
PAGE_OF = {
    "wan2.1-t2v": "000_a6da15581b95114a.txt",
    "wan2.7-t2v": "001_5764da1ba58cef29.txt",
    "wan-2.5-t2v": "002_06e6612d347babc5.txt",
    "wan2.1-i2v-480p": "003_001acf645c1a3a6f.txt",
    "wan-2.2-t2v-fast": "004_679f89521d321c80.txt",
}
# From the public model directory (shared/seeds/README.md): average latency (s) and cost (USD).
PROFILES = {
    "wan2.1-t2v": (104.8, 0.855),
    "wan2.7-t2v": (302.8, 0.625),
    "wan-2.5-t2v": (213.5, 0.801),
    "wan2.1-i2v-480p": (53.4, 0.530),
    "wan-2.2-t2v-fast": (93.4, 0.099),
}
PAGE_TYPE = {
    catalog.Kind.STRING: "string",
    catalog.Kind.INTEGER: "integer",
    catalog.Kind.NUMBER: "number",
    catalog.Kind.BOOLEAN: "boolean",
}


def parameter_blocks(slug: str) -> dict[str, str]:
    text = (PAGES / PAGE_OF[slug]).read_text(encoding="utf-8")
    section = text[text.index("Parameters") : text.index("Response Type")] if "Response Type" in text else text
    squashed = re.sub(r"\s+", "", section[len("Parameters") :])
    model = catalog.BY_SLUG[slug]
    # Longest names first, so `prompt` is never found inside `negative_prompt`.
    claimed: set[int] = set()
    starts: list[tuple[int, str]] = []
    for name in sorted(model.by_name, key=len, reverse=True):
        for found in re.finditer(re.escape(name) + r"(required|optional)", squashed):
            if found.start() not in claimed:
                claimed.update(range(found.start(), found.start() + len(name)))
                starts.append((found.start(), name))
    starts.sort()
    blocks: dict[str, str] = {}
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(squashed)
        blocks.setdefault(name, squashed[start + len(name) : end])
    return blocks


def shown(value: object) -> str:
    return re.sub(r"\s+", "", catalog.show(value))


CASES = [(m.slug, p) for m in catalog.MODELS for p in m.params]


def test_every_page_lists_exactly_the_catalog_parameters() -> None:
    for model in catalog.MODELS:
        assert set(parameter_blocks(model.slug)) == set(model.by_name), model.slug


@pytest.mark.parametrize(("slug", "param"), CASES, ids=[f"{s}:{p.name}" for s, p in CASES])
def test_parameter_matches_its_page(slug: str, param: catalog.Param) -> None:
    block = parameter_blocks(slug)[param.name]
    assert block.startswith("required" if param.required else "optional")
    page_type = "string(uri)" if param.kind is catalog.Kind.URI else PAGE_TYPE[param.kind]
    after_flag = block.removeprefix("required").removeprefix("optional")
    if param.kind is catalog.Kind.URI and param.name == "audio_url":
        assert after_flag.startswith("string(uri)")
    elif param.kind is catalog.Kind.URI and not after_flag.startswith("string(uri)"):
        # Some pages type LoRA URLs as plain strings; the catalog checks them as URLs.
        assert after_flag.startswith("string")
    else:
        assert after_flag.startswith(page_type)
    if param.has_default and param.default is not None:
        assert shown(param.default) in block, f"default {param.default!r} not on the page"
    elif param.has_default:
        # An optional field with no default shown on the page (wan-2.5's audio) means null.
        assert "null" in block or not re.search(r"[0-9]$|\"$", block)
    if param.minimum is not None:
        span = f"{shown(param.minimum)}-{shown(param.maximum)}"
        # wan2.7 writes its range in the description: "in seconds (2-15)".
        assert f"Range:{span}" in block or f"({span})" in block
    if param.choices is not None:
        listed = "".join(shown(c) for c in param.choices)
        assert listed in block, f"choices {listed} not on the page"


def test_only_base64_is_transport_only() -> None:
    transport = {(m.slug, p.name) for m in catalog.MODELS for p in m.params if p.transport_only}
    assert transport == {("wan2.1-t2v", "base64"), ("wan2.1-i2v-480p", "base64")}


@pytest.mark.parametrize("slug", list(PROFILES))
def test_model_profile_matches_the_model_directory(slug: str) -> None:
    model = catalog.BY_SLUG[slug]
    assert (model.avg_latency_s, model.avg_cost_usd) == PROFILES[slug]


def test_only_the_fast_model_defaults_to_a_random_seed() -> None:
    random_seed = [m.slug for m in catalog.MODELS if not m.reproducible_by_default]
    assert random_seed == ["wan-2.2-t2v-fast"]


def test_each_page_example_payload_is_valid_as_sent() -> None:
    for slug, page in PAGE_OF.items():
        text = (PAGES / page).read_text(encoding="utf-8")
        body = text[text.index("payload = {") + len("payload = ") : text.index("}", text.index("payload = {")) + 1]
        body = re.sub(r"^\s*\d+\s*", "", body, flags=re.MULTILINE)
        payload = eval(body, {"True": True, "False": False, "__builtins__": {}})  # the page's own Python literal
        params, problems = catalog.check(catalog.BY_SLUG[slug], payload, fill_defaults=True)
        assert problems == [], slug
        assert params["prompt"] == payload["prompt"]
