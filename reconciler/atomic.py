"""Replacing a file whole: whoever reads it (git, a browser, a second run) sees the old bytes or the new, never half.

    write_atomic(path, data)                      bytes in hand (the lock file, a poster, the report page)
    with replacing(path) as temp: ...             a writer that wants a path of its own (a copy, a pickle)

The new bytes go to a temp file beside `path` (a rename is atomic only within one filesystem), named
`.<name>.<random>.tmp` so spec discovery passes it over, and are renamed over `path` once whole. If
anything fails, the temp file is removed and `path` is left as it was. The store keeps its own way
for blobs and receipts: their temp files are named for the process writing them, so a crashed
writer's leftovers are found and removed when the store is next opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path, *, mode: int | None = None) -> Iterator[Path]:
    """A temp file beside `path` for the block to fill; it replaces `path` when the block ends without error.

    The temp file is created 0600; `mode` sets the replacement's permissions instead.
    """
    import tempfile  # with shutil and random behind it: a run that replaces no file (a warm plan) never loads it

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes, *, durable: bool = False, mode: int | None = None) -> None:
    """Replace `path` with `data` in one rename; `durable` also fsyncs the bytes before the rename
    (for a file whose loss would cost the user something, like the lock file)."""
    with replacing(path, mode=mode) as temp, temp.open("wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
