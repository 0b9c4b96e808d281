"""A plan pauses the cycle collector while it loads specs (reconciler/cli/common.py many_values), so
loading must leave nothing that only the collector can free: a cycle per file would hold each file's
parsed tree until the end of the command (a cold plan of 100,000 specs peaked at 773 MB that way)."""

from __future__ import annotations

import gc
from pathlib import Path

from reconciler.spec import load


def test_loading_many_spec_files_leaves_no_cycles_behind_for_the_collector(tmp_path: Path) -> None:
    for n in range(60):
        entries = "".join(f"  v{n}-{i}:\n    prompt: scene {i}\n    seed: {i}\n" for i in range(5))
        (tmp_path / f"f{n:03}.yaml").write_text(f"defaults:\n  model: wan-2.2-t2v-fast\nvideos:\n{entries}")
    gc.collect()
    gc.disable()
    try:
        specs = load([tmp_path])
        left = gc.collect()
    finally:
        gc.enable()
    assert len(specs.entries) == 300
    assert left < 60, f"{left} objects were left in cycles by loading 60 files"
