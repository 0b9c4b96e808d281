"""Blobs are named by their content, written atomically, and never left half-written."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.errors import BlobRejectedError
from reconciler.store import Store
from tests.conftest import put_blob


def temp_files(root: Path) -> list[Path]:
    return sorted((root / "tmp").iterdir())


def test_a_blob_is_stored_under_the_sha256_of_its_bytes(store: Store, root: Path) -> None:
    data = b"a small video" * 1000
    info = put_blob(store, [data[:5000], data[5000:]])
    hexdigest = hashlib.sha256(data).hexdigest()
    assert info.digest == f"sha256:{hexdigest}"
    assert info.size == len(data)
    assert info.path == root / "objects" / "sha256" / hexdigest[:2] / hexdigest[2:]
    assert info.path.read_bytes() == data
    assert store.has_blob(info.digest)
    assert store.blob_path(info.digest) == info.path


def test_a_blob_is_read_only_once_written(store: Store) -> None:
    info = put_blob(store, [b"immutable"])
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o444


def test_a_file_like_source_is_read_in_chunks(store: Store) -> None:
    data = os.urandom(3 << 20)
    with store.blob_writer() as writer:
        shutil.copyfileobj(io.BytesIO(data), writer)
        info = writer.commit()
    assert info.path.read_bytes() == data


def test_the_same_bytes_twice_make_one_object(store: Store, root: Path) -> None:
    first = put_blob(store, [b"same"])
    second = put_blob(store, [b"sa", b"me"])
    assert first == second
    assert len(list((root / "objects" / "sha256").rglob("*"))) == 2  # one shard dir, one file
    assert temp_files(root) == []


def test_an_incremental_writer_makes_an_object_only_on_commit(store: Store, root: Path) -> None:
    with store.blob_writer() as writer:
        writer.write(b"part one, ")
        writer.write(b"part two")
        assert writer.temp_path.exists()
        assert list((root / "objects" / "sha256").iterdir()) == []
        info = writer.commit()
    assert info.path.read_bytes() == b"part one, part two"
    assert temp_files(root) == []


def test_an_abandoned_writer_leaves_no_object_and_no_temp_file(store: Store, root: Path) -> None:
    class Interrupted(Exception):
        pass

    def download() -> None:
        with store.blob_writer() as writer:
            writer.write(b"half a download")
            raise Interrupted

    with pytest.raises(Interrupted):
        download()
    assert list((root / "objects" / "sha256").iterdir()) == []
    assert temp_files(root) == []


def test_a_blob_larger_than_the_limit_is_refused_and_discarded(store: Store, root: Path) -> None:
    with pytest.raises(BlobRejectedError, match="limit of 10 bytes"):
        put_blob(store, [b"123456", b"7890", b"1"], max_bytes=10)
    assert temp_files(root) == []
    assert list((root / "objects" / "sha256").iterdir()) == []


def test_a_truncated_download_never_becomes_an_object(store: Store, root: Path) -> None:
    with pytest.raises(BlobRejectedError, match="truncated"):
        put_blob(store, [b"only half"], expected_size=100)
    assert list((root / "objects" / "sha256").iterdir()) == []
    assert temp_files(root) == []


def test_a_temp_file_left_by_a_killed_writer_is_removed_on_the_next_open(root: Path, clock) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from reconciler.store import Store
        store = Store.open(Path({str(root)!r}))
        writer = store.blob_writer()
        writer.write(b"x" * 100_000)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert killed.returncode == -9
    assert len(temp_files(root)) == 1
    with Store.open(root, clock=clock) as reopened:
        assert len(reopened.removed_temp_files) == 1
    assert temp_files(root) == []
    assert list((root / "objects" / "sha256").iterdir()) == []


def test_a_temp_file_of_a_live_writer_survives_another_open(store: Store, root: Path, clock) -> None:
    with store.blob_writer() as writer:
        writer.write(b"still downloading")
        with Store.open(root, clock=clock) as other:
            assert other.removed_temp_files == ()
        assert writer.temp_path.exists()
        info = writer.commit()
    assert info.path.read_bytes() == b"still downloading"


def test_a_temp_file_older_than_a_day_is_removed_even_if_its_pid_is_alive(store: Store, root: Path, clock) -> None:
    writer = store.blob_writer()
    writer.write(b"forgotten")
    day_old = clock.now() - 2 * 24 * 3600
    os.utime(writer.temp_path, (day_old, day_old))
    with Store.open(root, clock=clock) as other:
        assert other.removed_temp_files == (writer.temp_path,)
    writer.abort()


def test_writing_the_bytes_of_a_damaged_object_again_heals_it(store: Store) -> None:
    info = put_blob(store, [b"original"])
    os.chmod(info.path, 0o644)
    info.path.write_bytes(b"damaged!")
    again = put_blob(store, [b"original"])
    assert again.path.read_bytes() == b"original"
    assert stat.S_IMODE(again.path.stat().st_mode) == 0o444


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from reconciler.store import Store
    store = Store.open(Path(sys.argv[1]))
    chunk = bytes(range(256)) * 4096
    n = 0
    while True:  # until killed: one blob after another, each 1-8 MiB
        n += 1
        with store.blob_writer() as writer:
            for part in [chunk] * (1 + n % 8) + [str(n).encode()]:
                writer.write(part)
            writer.commit()
        print(n, flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5, 0.9])
def test_a_writer_killed_at_any_moment_leaves_only_whole_objects(root: Path, clock, delay: float) -> None:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None
        writer.stdout.readline()  # the store is open and one blob is written
        time.sleep(delay)
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    with Store.open(root, clock=clock) as store:
        report = store.verify()
    assert report.clean, [str(p) for p in report.problems]
    assert report.blobs_checked >= 1
    assert temp_files(root) == []
