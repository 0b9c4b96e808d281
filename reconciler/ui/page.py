"""The report's HTML: a Gallery rendered into the `gallery.html` template. Pure (reads the template once).

Every name, prompt, parameter, error and path goes through `html.escape` (quotes included) on its
way into the page, so a prompt holding `<script>` or quotes is shown as the text it is. The page
needs no server, no network and no framework: cards are plain HTML, and a few lines of JavaScript
filter them by tag and model.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template

from reconciler.ui.gallery import Card, Gallery, Group, Panel, Status, iso


@cache
def _template() -> Template:
    return Template(resources.files("reconciler.ui").joinpath("gallery.html").read_text(encoding="utf-8"))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 or value == 0 else f"${value:,.3f}"


def render(report: Gallery, *, live_seconds: int = 0) -> str:
    """The whole page; with `live_seconds`, it reloads itself that often (for `watch --report`)."""
    t = report.totals
    parts = [f"{t.stored} of {t.specs} stored", f"{t.to_make} to make"]
    others = ((t.pending, "pending"), (t.failed, "failed"), (t.in_doubt, "in doubt"))
    parts += [f"{n} {label}" for n, label in others if n]
    spent = f"{money(t.spent_usd)} spent on these specs"
    if t.spent_estimated:
        spent += f" ({t.spent_estimated} estimated)"
    parts += [spent, f"est. {money(t.est_rest_usd)} for the rest"]
    backend = "the bundled fake" if report.namespace == "mock" else "the Segmind API"
    body = "\n".join(_group(g) for g in report.groups) or '<p class="empty">No spec declares a video yet.</p>'
    return _template().substitute(
        title=_e(f"Videos: {t.stored}/{t.specs} stored"),
        heading=_e(f"Videos ({backend}), {iso(report.generated)}"),
        totals=_e(" · ".join(parts)),
        tag_options="".join(f'<option value="{_e(tag)}">{_e(tag)}</option>' for tag in report.tags),
        model_options="".join(f'<option value="{_e(m)}">{_e(m)}</option>' for m in report.models),
        groups=body,
        live_seconds=str(int(live_seconds)),
    )


def _group(group: Group) -> str:
    attrs = f'class="group" data-model="{_e(group.model)}" data-tags="{_e(" ".join(group.tags))}"'
    if not group.is_matrix:
        return f'<section {attrs}><div class="cards">{_card(group.cards[0])}</div></section>'
    heading = (
        f'<h2>{_e(group.title)} <span class="where">{_e(group.where)} · matrix of '
        f"{_e(' × '.join(group.axes))}</span></h2>"
    )
    return (
        f'<section {attrs} data-axes="{_e(" ".join(group.axes))}">{heading}'
        + "".join(_panel(p) for p in group.panels)
        + "</section>"
    )


def _panel(panel: Panel) -> str:
    caption = ", ".join(f"{axis} = {value}" for axis, value in panel.title)
    head = "<tr><th></th>" if panel.row_axis is not None else "<tr>"
    head += "".join(f'<th scope="col">{_e(panel.col_axis)} = {_e(col)}</th>' for col in panel.cols) + "</tr>"
    rows = []
    for row, cells in zip(panel.rows, panel.cells, strict=True):
        label = f'<th scope="row" class="row">{_e(panel.row_axis)} = {_e(row)}</th>' if panel.row_axis else ""
        tds = "".join(f"<td>{_card(cell) if cell is not None else ''}</td>" for cell in cells)
        rows.append(f"<tr>{label}{tds}</tr>")
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return f'<table class="matrix">{cap}<thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _card(card: Card) -> str:
    media = card.media
    if media is not None:
        # A poster image (lazy: a page of a thousand loads what is on screen) that becomes the video on
        # click; a thousand <video> elements would make the page take seconds to become usable.
        image = "play"
        if media.poster_href:
            size = f' width="{media.poster_width}" height="{media.poster_height}"' if media.poster_width else ""
            image = f'<img loading="lazy" decoding="async" alt=""{size} src="{_e(media.poster_href)}">'
        picture = (
            f'<button type="button" class="poster" data-video="{_e(media.video_href)}"'
            f' aria-label="play {_e(card.name)}">{image}</button>'
        )
    else:
        picture = f'<div class="placeholder">{_e(_waiting(card))}</div>'
    rows: list[tuple[str, str]] = [("model", card.model), ("seed", card.seed)]
    rows += list(card.params)
    if media is not None and media.width:
        rows.append(("file", f"{media.width}×{media.height}, {media.duration_s:g} s"))
    elif media is not None and media.problem:
        rows.append(("file", media.problem))
    if card.status is Status.STORED:
        charged = "not reported" if card.cost_usd is None else money(card.cost_usd)
        rows.append(("charged", charged))
        if card.created is not None:
            rows.append(("made", iso(card.created) or ""))
    elif card.status is Status.CREATE:
        shared = f"shared with {card.shares_with}"
        rows.append(("estimate", money(card.est_cost_usd) if not card.shares_with else shared))
    if card.request_id:
        rows.append(("request", card.request_id))
    rows.append(("spec", str(card.where)))
    details = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    status = card.status.value
    return (
        f'<article class="card" data-name="{_e(card.name)}" data-status="{_e(status)}"'
        f' data-combo="{_e(" ".join(f"{a}={v}" for a, v in card.combo))}">{picture}'
        f'<div class="body"><div class="name">{_e(card.name)}'
        f'<span class="status status-{_e(status)}">{_e(status)}</span></div>'
        f'<div class="prompt" title="{_e(card.prompt)}">{_e(card.prompt)}</div><dl>{details}</dl></div></article>'
    )


def _waiting(card: Card) -> str:
    if card.status is Status.CREATE:
        return "not made yet: " + card.reason
    if card.status is Status.PENDING:
        return f"being made: {card.reason}"
    if card.status is Status.FAILED:
        return f"failed: {card.reason}"
    if card.status is Status.STORED:
        return "stored, but its video file is missing from the store: run reconciler verify"
    return f"in doubt: {card.reason}"
