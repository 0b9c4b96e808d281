"""`reconciler report` opened in headless Chromium: videos play, posters decode, filters and grids work.

The videos are made by the real CLI against the fake over HTTP; what is judged comes from the
browser (what it decoded and laid out) and from the specs and the fake's records, never from the
report code itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import spec, specs_file
from tests.report.conftest import pixel_stdev

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# Every poster image, decoded (lazy ones asked to load now): its card and natural size.
POSTERS = """
async () => Promise.all(Array.from(document.querySelectorAll("button.poster img")).map(async image => {
  image.loading = "eager";
  await image.decode();
  return [image.closest(".card").dataset.name, [image.naturalWidth, image.naturalHeight]];
}))
"""

# Resolves when every <video> has reached loadeddata (readyState >= 2): its card and frame size.
VIDEOS = """
async () => Promise.all(Array.from(document.querySelectorAll("video")).map(v => new Promise((resolve, reject) => {
  const done = () => resolve([v.closest(".card").dataset.name, [v.videoWidth, v.videoHeight]]);
  if (v.readyState >= 2) { done(); return; }
  v.addEventListener("loadeddata", done, {once: true});
  v.addEventListener("error", () => reject(new Error("cannot play " + v.src)), {once: true});
})))
"""


def play_all(page) -> dict[str, list[int]]:
    """Click every poster, as a user would, and wait for each video to have its first frame."""
    buttons = page.page.query_selector_all("button.poster")
    for button in buttons:
        button.click()
    assert page.page.query_selector_all("button.poster") == []
    videos = dict(page.page.evaluate(VIDEOS))
    assert len(videos) == len(buttons)
    return videos


def test_the_report_of_the_example_specs_plays_every_video_and_decodes_every_poster(
    fake, apply, cli, project, open_page
) -> None:
    shutil.rmtree(project / "specs")
    shutil.copytree(REPO / "specs", project / "specs")
    assert apply("--yes").code == 0
    run = cli("report")
    assert run.code == 0, run.err
    page = open_page(project / "report" / "index.html")
    screenshot = page.page.screenshot(full_page=True)
    assert pixel_stdev(screenshot) > 10  # not a blank page
    posters = dict(page.page.evaluate(POSTERS))
    videos = play_all(page)
    assert len(videos) == len(posters) == len(fake.submits()) == 11  # every generation the fake made is on the page
    for name, (vw, vh) in videos.items():
        pw, ph = posters[name]
        assert min(pw, ph, vw, vh) > 0, name
        assert abs(pw / ph - vw / vh) < 0.05, name  # the poster is a frame of that video, not a stock image
    assert page.page.evaluate("Array.from(document.querySelectorAll('video')).some(v => !v.paused || v.ended)")
    assert page.errors == []


def test_a_2x2_matrix_is_shown_as_a_2x2_grid_whose_cells_are_the_right_videos(
    fake, apply, cli, write, project, open_page
) -> None:
    write(
        "specs/m.yaml",
        """
        videos:
          coast:
            model: wan-2.2-t2v-fast
            prompt: a lighthouse
            matrix:
              seed: [1, 2]
              aspect_ratio: ["16:9", "9:16"]
        """,
    )
    assert apply("--yes").code == 0
    assert cli("report").code == 0
    page = open_page(project / "report" / "index.html")
    play_all(page)
    grid = page.page.evaluate(
        """() => Array.from(document.querySelectorAll("table.matrix tbody tr")).map(tr =>
             Array.from(tr.querySelectorAll("td")).map(td => {
               const v = td.querySelector("video"); const r = td.getBoundingClientRect();
               return {w: v.videoWidth, h: v.videoHeight, x: Math.round(r.x), y: Math.round(r.y)};
             }))"""
    )
    assert [len(row) for row in grid] == [2, 2]
    cells = [cell for row in grid for cell in row]
    assert len({c["x"] for c in cells}) == 2
    assert len({c["y"] for c in cells}) == 2
    for row in grid:  # columns by aspect ratio, in the spec's order: 16:9 landscape, then 9:16 portrait
        assert row[0]["w"] > row[0]["h"]
        assert row[1]["w"] < row[1]["h"]
    headers = page.page.eval_on_selector_all("table.matrix th", "ths => ths.map(t => t.textContent)")
    assert {"seed = 1", "seed = 2", "aspect_ratio = 16:9", "aspect_ratio = 9:16"} <= set(headers)
    assert page.errors == []


def test_the_filters_hide_and_show_the_cards_of_a_tag_and_of_a_model(
    fake, apply, cli, write, project, open_page
) -> None:
    write(
        "specs/a.yaml",
        """
        videos:
          cat: {model: wan-2.2-t2v-fast, prompt: a cat, seed: 1, tags: [pets]}
          dog: {model: wan2.1-t2v, prompt: a dog, seed: 1, tags: [pets, loud]}
          sea: {model: wan-2.2-t2v-fast, prompt: the sea, seed: 1, tags: [nature]}
        """,
    )
    assert apply("--yes").code == 0
    assert cli("report").code == 0
    page = open_page(project / "report" / "index.html")
    assert page.visible_names() == {"cat", "dog", "sea"}
    page.page.select_option("#filter-tag", "pets")
    assert page.visible_names() == {"cat", "dog"}
    page.page.select_option("#filter-model", "wan-2.2-t2v-fast")
    assert page.visible_names() == {"cat"}
    page.page.select_option("#filter-tag", "")
    assert page.visible_names() == {"cat", "sea"}
    page.page.select_option("#filter-model", "")
    assert page.visible_names() == {"cat", "dog", "sea"}
    assert page.errors == []


HOSTILE = """<script>window.pwned = 1</script> "double" 'single' & <b>bold</b> </textarea><img src=x onerror="window.pwned=2">"""


def test_a_prompt_with_html_and_quotes_renders_as_text(fake, apply, cli, write, project, open_page) -> None:
    quoted = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
    write(
        "specs/a.yaml",
        f'videos:\n  evil:\n    model: wan-2.2-t2v-fast\n    seed: 1\n    prompt: "{quoted}"\n    negative_prompt: "{quoted}"\n',
    )
    assert apply("--yes").code == 0
    assert fake.submits()[0]["body"]["prompt"] == HOSTILE  # the spec says what the test thinks it says
    assert cli("report").code == 0
    page = open_page(project / "report" / "index.html")
    assert page.page.evaluate("window.pwned") is None
    assert page.page.text_content(".card .prompt") == HOSTILE
    assert HOSTILE in page.page.eval_on_selector_all(".card dd", "dds => dds.map(d => d.textContent)")
    assert page.page.eval_on_selector_all(".card b, .card .body img, main script", "found => found.length") == 0
    assert page.errors == []


def test_specs_not_stored_yet_are_cards_that_say_why(fake, apply, cli, write, project, open_page) -> None:
    write("specs/a.yaml", specs_file(spec("blocked", "an nsfw scene"), spec("made", "a cat")))
    assert apply("--yes").code == 1  # the blocked one failed for good
    error = next(j["error"] for j in fake.jobs() if j["state"] == "FAILED")
    with open(project / "specs" / "a.yaml", "a", encoding="utf-8") as f:
        f.write(spec("later", "a dog"))
    assert cli("report").code == 0
    page = open_page(project / "report" / "index.html")
    status = dict(page.page.eval_on_selector_all(".card", "cs => cs.map(c => [c.dataset.name, c.dataset.status])"))
    assert status == {"blocked": "failed", "made": "stored", "later": "create"}
    assert error in page.page.text_content(".card[data-name='blocked']")
    assert "$0.099" in page.page.text_content(".card[data-name='later']")  # the estimate of what apply would buy
    assert page.errors == []
