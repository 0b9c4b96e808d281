"""The report opened in a real headless Chromium (the system's `chromium`, driven by Playwright).

Locally, no browser means the browser tests are skipped with the reason; on CI ($CI set) a missing
browser fails them: CI installs Debian's `chromium` and must run them.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

# Fixtures: the fake on a socket, the real CLI against it, real apply processes.
from tests.e2e.conftest import apply, fake, processes  # noqa: F401

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The system browser's path, once it is known that Playwright can drive it."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _unavailable("no chromium on PATH (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    assert executable is not None
    return executable


class Opened:
    """A page of the report, with every console error and uncaught exception it produced."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def visible_names(self) -> set[str]:
        return set(
            self.page.eval_on_selector_all(
                ".card", "cards => cards.filter(c => c.offsetParent !== null).map(c => c.dataset.name)"
            )
        )


@pytest.fixture
def open_page(chromium: str) -> Iterator[Any]:
    """Opens report pages in a browser started on first use: Playwright's sync API runs an event loop
    in this thread, so it starts only after the test has run the CLI (whose apply runs its own)."""
    from playwright.sync_api import sync_playwright

    started: list[Any] = []

    def _open(index: Path) -> Opened:
        if not started:
            playwright = sync_playwright().start()
            # launch gives the browser a fresh temporary profile (--user-data-dir) of its own.
            started[:] = [playwright, playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)]
        context = started[1].new_context(viewport={"width": 1400, "height": 1000})
        opened = Opened(context.new_page())
        opened.page.goto(index.resolve().as_uri())
        opened.page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        return opened

    yield _open
    if started:
        started[1].close()
        started[0].stop()


def pixel_stdev(png: bytes) -> float:
    """Standard deviation of a screenshot's grey levels (decoded with PyAV): ~0 for a blank page."""
    with av.open(io.BytesIO(png)) as container:
        frame = next(container.decode(video=0))
    grey = bytes(frame.reformat(format="gray").planes[0])
    return statistics.pstdev(grey[::7])
