"""`reconciler report`: the gallery of every declared video, written as a static folder.

    report/index.html        one card per spec (see gallery.py), works from file:// with no server
    report/posters/<hex>.jpg  a frame from each video's first second (cached by blob digest in the store)
    report/videos/<hex>.mp4   copies of the videos, only with --copy (else links into out/ or the store)

This is the edge of the report: it reads the store (never writing it, but for the poster cache),
decodes posters through `poster.py`, and writes the folder; `gallery.py` decides what is shown and
`page.py` how. Links are relative, so the folder can be opened where it lies, or, with --copy,
uploaded on its own. Files are replaced atomically, so a browser reloading the page (watch
--report) never reads half of one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from reconciler.atomic import replacing, write_atomic
from reconciler.errors import ReportError
from reconciler.plan.diff import ActionKind, Plan
from reconciler.records import Output
from reconciler.spec import SpecEntry
from reconciler.store import StoreView, output_path
from reconciler.ui.gallery import Gallery, Media, gallery
from reconciler.ui.page import render
from reconciler.ui.poster import poster, poster_dir

DEFAULT_DIR = "report"
LIVE_SECONDS = 3  # how often a page written by watch --report reloads itself


@dataclass(frozen=True)
class Written:
    index: Path
    gallery: Gallery
    problems: tuple[str, ...]  # videos that could not be decoded or copied, one sentence each


def collect(
    plan: Plan,
    entries: Sequence[SpecEntry],
    view: StoreView,
    *,
    out_dir: Path,
    report_dir: Path,
    copy: bool,
    now: float,
) -> tuple[Gallery, list[str], dict[str, Path]]:
    """The gallery of `plan`, its problems, and the files to place in the report folder (relative name -> source)."""
    keys = {a.key for a in plan.actions}
    # Two reads, where the gallery shows more of a stored video than plan needs (its size, when it was made).
    found, observed = view.outputs_for(keys), view.observe(keys)
    stored: dict[str, Output] = {a.name: found[a.key] for a in plan.actions
                                 if a.kind is ActionKind.NOOP and a.key in found}  # fmt: skip
    posters = poster_dir(view.root)
    here = os.path.abspath(report_dir)
    media: dict[str, Media] = {}
    problems: list[str] = []
    files: dict[str, Path] = {}
    for name, output in stored.items():
        blob = view.blob_path(output.digest)
        hex_digest = output.digest.removeprefix("sha256:")
        if not blob.is_file():
            problems.append(f"{name}: its video {output.digest} is not in the store (run verify)")
            continue
        made = poster(blob, output.digest, posters)
        if made.problem:
            problems.append(f"{name}: {made.problem}")
        poster_href = None
        if made.path is not None:
            files[f"posters/{hex_digest}.jpg"] = made.path
            poster_href = f"posters/{hex_digest}.jpg"
        if copy:
            files[f"videos/{hex_digest}.mp4"] = blob
            video_href = f"videos/{hex_digest}.mp4"
        else:
            laid_out = output_path(out_dir, name)
            target = laid_out if _same_size(laid_out, output.size) else blob
            video_href = quote(Path(os.path.relpath(os.path.abspath(target), here)).as_posix())
        facts = made.facts
        media[name] = Media(
            video_href=video_href,
            poster_href=poster_href,
            poster_width=facts.poster_width if facts else None,
            poster_height=facts.poster_height if facts else None,
            width=facts.width if facts else None,
            height=facts.height if facts else None,
            duration_s=facts.duration_s if facts else None,
            problem=made.problem,
        )
    result = gallery(
        plan,
        {e.name: e for e in entries},
        outputs=found,
        attempts=observed.attempts,
        media=media,
        generated=now,
    )
    return result, problems, files


def write(
    plan: Plan,
    entries: Sequence[SpecEntry],
    view: StoreView,
    *,
    out_dir: Path,
    report_dir: Path,
    copy: bool = False,
    now: float,
    live_seconds: int = 0,
) -> Written:
    """Write the report folder for `plan` and return where its page is."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the report folder {report_dir} ({exc}); check the path") from exc
    result, problems, files = collect(plan, entries, view, out_dir=out_dir, report_dir=report_dir, copy=copy, now=now)
    try:
        _place(report_dir, files)
        index = report_dir / "index.html"
        write_atomic(index, render(result, live_seconds=live_seconds).encode("utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot write the report in {report_dir} ({exc}); check the path and free space") from exc
    return Written(index, result, tuple(problems))


def _same_size(path: Path, size: int) -> bool:
    try:
        return path.is_file() and path.stat().st_size == size
    except OSError:
        return False


def _place(report_dir: Path, files: dict[str, Path]) -> None:
    """Copy what the page links to into the folder (content-named: present means right), drop the rest."""
    for sub in ("posters", "videos"):
        folder = report_dir / sub
        if folder.is_dir():
            for stale in folder.iterdir():
                if f"{sub}/{stale.name}" not in files and stale.is_file():
                    stale.unlink()
    for relative, source in files.items():
        target = report_dir / relative
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with replacing(target) as temp:
            shutil.copyfile(source, temp)
