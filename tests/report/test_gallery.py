"""The gallery's shape from specs alone: matrix axes, grids, small multiples, defaults left out. Pure."""

from __future__ import annotations

from reconciler import keys
from reconciler.plan.diff import Desired, diff
from reconciler.spec import load
from reconciler.ui.gallery import Status, gallery
from reconciler.ui.page import render


def report_of(write, text: str):
    write("specs/a.yaml", text)
    specs = load(["specs"])
    desired = [Desired(e, keys.entry_key(keys.MOCK, e)) for e in specs.entries]
    plan = diff(desired, stored=set(), attempts={}, namespace=keys.MOCK)
    return gallery(plan, {e.name: e for e in specs.entries}, outputs={}, attempts={}, media={}, generated=0.0)


def test_a_three_axis_matrix_is_small_multiples_of_two_axis_grids_in_the_matrix_order(write, project) -> None:
    report = report_of(
        write,
        """
        videos:
          cube:
            model: wan-2.2-t2v-fast
            prompt: a cube
            matrix:
              resolution: [480p, 720p]
              seed: [1, 2, 3]
              aspect_ratio: ["16:9", "9:16"]
        """,
    )
    [group] = report.groups
    assert group.axes == ("resolution", "seed", "aspect_ratio")
    assert [p.title for p in group.panels] == [(("resolution", "480p"),), (("resolution", "720p"),)]
    for panel in group.panels:
        assert (panel.row_axis, panel.rows, panel.col_axis, panel.cols) == (
            "seed",
            ("1", "2", "3"),
            "aspect_ratio",
            ("16:9", "9:16"),
        )
        for row, cells in zip(panel.rows, panel.cells, strict=True):
            for col, card in zip(panel.cols, cells, strict=True):
                assert card is not None
                assert dict(card.combo) == {"resolution": panel.title[0][1], "seed": row, "aspect_ratio": col}
    assert len(group.cards) == 12
    assert {c.status for c in group.cards} == {Status.CREATE}


def test_a_one_axis_matrix_is_one_row_and_plain_specs_are_single_cards(write, project) -> None:
    report = report_of(
        write,
        """
        videos:
          tide-{seed}:
            model: wan-2.2-t2v-fast
            prompt: tide pools
            matrix:
              seed: [7, 8, 9]
          solo:
            model: wan2.1-t2v
            prompt: alone
            steps: 40
        """,
    )
    tide, solo = report.groups
    assert tide.title == "tide"
    assert tide.axes == ("seed",)
    [panel] = tide.panels
    assert panel.row_axis is None
    assert panel.cols == ("7", "8", "9")
    assert len(panel.cells) == 1
    assert not solo.is_matrix
    assert solo.title == "solo"
    [card] = solo.cards
    assert dict(card.params) == {"steps": "40"}  # defaults are not repeated on the card
    assert card.seed == "42424242"  # the model's default seed, shown: it decides the video
    assert report.totals.to_make == 4
    assert report.totals.est_rest_usd > 0


def test_a_page_of_specs_not_made_yet_renders_with_its_totals(write, project) -> None:
    report = report_of(write, "videos:\n  a: {model: wan2.1-t2v, prompt: x}\n")
    page = render(report)
    assert "0 of 1 stored" in page
    assert "1 to make" in page
