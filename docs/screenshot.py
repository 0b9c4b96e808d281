"""Make docs/report.png: the report of the example specs/, as `apply --mock` makes them, in headless Chromium.

    python docs/screenshot.py

Runs the real CLI in a scratch copy of specs/ (the bundled fake, free and offline), writes the report,
and has the system's chromium take the screenshot (`--screenshot`, no driver needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no chromium on PATH: apt-get install chromium")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory(prefix="report-shot-") as scratch:
        work = Path(scratch)
        shutil.copytree(ROOT / "specs", work / "specs")
        for command in (["apply", "--mock", "--yes"], ["report", "--mock"]):
            subprocess.run([sys.executable, "-m", "reconciler", *command], cwd=work, env=env, check=True,
                           capture_output=True)  # fmt: skip
        target = ROOT / "docs" / "report.png"
        subprocess.run(
            [chromium, *ARGS, f"--user-data-dir={work / 'profile'}", "--window-size=1400,900",
             f"--screenshot={target}", (work / "report" / "index.html").as_uri()],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
