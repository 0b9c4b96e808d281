"""Benchmark: store lookups for a plan of 10,000 keys against a store holding 100,000 outputs.

    python bench/store_lookups.py [--outputs 100000] [--keys 10000] [--runs 7] [--dir DIR] [--write]

Fills a fresh store in one transaction (executemany through the store's own db module, with one
attempt row per output plus a few open ones), then times, on a read-only view as `plan` opens it,
`outputs_for`, `attempts_for`, `observe` (both in one snapshot) and `orphans` on 10,000 keys
(half stored, half not): the first run, and the median of the warm runs. Prints its section of
RESULTS.md, and with --write replaces it there.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from sqlite3 import sqlite_version

from machine import describe_machine, publish

from reconciler.records import OUTPUT_COLUMNS
from reconciler.store import Store, current_owner
from reconciler.store.db import Database


def key(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"bench-key-{n}".encode()).hexdigest()


def fill(root: Path, outputs: int) -> float:
    Store.open(root).close()
    me = current_owner()
    now = time.time()
    started = time.perf_counter()
    with Database.open(root / "state.sqlite", readonly=False) as db, db.write() as tx:
        tx.executemany(
            f"INSERT INTO outputs ({OUTPUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (key(n), key(-n - 1), 5_000_000, "wan2.7-t2v", f"req-{n}", 0.5, "segmind", f"video-{n}", now)
                for n in range(outputs)
            ),
        )
        tx.executemany(
            "INSERT INTO attempts (key, namespace, model, state, request_json, request_id, owner_host, owner_boot,"
            " owner_pid, owner_started, claimed_at, submitted_at, completed_at, updated_at)"
            " VALUES (?, 'segmind', 'wan2.7-t2v', ?, '{}', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (key(n), "stored" if n < outputs else "submitted", f"req-{n}", me.host, me.boot, me.pid,
                 me.started, now, now + 1, now + 200 if n < outputs else None, now)
                for n in range(outputs + 100)
            ),
        )  # fmt: skip
    elapsed = time.perf_counter() - started
    # The store counts an output as stored only while its blob is in objects/: give each one a file.
    with Store.open(root) as store:
        for n in range(outputs):
            path = store.blob_path(key(-n - 1))
            path.parent.mkdir(exist_ok=True)
            path.touch()
    return elapsed


def timed(fn: object, runs: int) -> tuple[float, float, int]:
    samples = []
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        size = len(fn())  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return samples[0], statistics.median(samples[1:]), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the store (default: a temp dir)")
    parser.add_argument("--write", action="store_true", help="replace the `## store: lookups` section of RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp) / ".reconciler"
        fill_s = fill(root, args.outputs)
        # Half the wanted keys are stored, half are new (spread over the key space).
        half = args.keys // 2
        wanted = [key(n * (args.outputs // half)) for n in range(half)]
        wanted += [key(args.outputs + 1_000 + n) for n in range(args.keys - half)]
        open_started = time.perf_counter()
        view = Store.open_readonly(root)
        open_s = time.perf_counter() - open_started
        with view:
            o_first, o_warm, o_found = timed(lambda: view.outputs_for(wanted), args.runs)
            a_first, a_warm, a_found = timed(lambda: view.attempts_for(wanted), args.runs)
            both_first, both_warm, _ = timed(lambda: view.observe(wanted).stored, args.runs)
            r_first, r_warm, r_listed = timed(lambda: view.orphans({"segmind": wanted}, limit=100).listed, args.runs)
            orphan_count = view.orphans({"segmind": wanted}, limit=0).count
            all_first, all_warm, all_found = timed(view.all_outputs, 3)
    command = "python bench/store_lookups.py" + (" --write" if args.write else "")
    section = "\n".join(
        [
            "## store: lookups",
            "",
            describe_machine() + f", SQLite {sqlite_version}",
            "",
            f"Command: `{command}` (store of {args.outputs:,} outputs and {args.outputs + 100:,} attempts,"
            f" filled in {fill_s:.1f} s; {args.keys:,} keys, half of them stored; read-only view as plan opens"
            f" it, {open_s * 1000:.1f} ms to open; {args.runs} runs each, warm = median of runs 2..{args.runs})",
            "",
            "| lookup | found | first run | warm median |",
            "| --- | --- | --- | --- |",
            f"| `outputs_for` | {o_found:,} | {o_first * 1000:.1f} ms | {o_warm * 1000:.1f} ms |",
            f"| `attempts_for` (latest per key) | {a_found:,} | {a_first * 1000:.1f} ms | {a_warm * 1000:.1f} ms |",
            f"| `observe` (both in one snapshot: what plan calls) | | {both_first * 1000:.1f} ms"
            f" | {both_warm * 1000:.1f} ms |",
            f"| `orphans` (count and bytes of {orphan_count:,}, first {r_listed} listed) | {orphan_count:,}"
            f" | {r_first * 1000:.1f} ms | {r_warm * 1000:.1f} ms |",
            f"| for scale: `all_outputs` (every row as a value; not for plan) | {all_found:,}"
            f" | {all_first * 1000:.1f} ms | {all_warm * 1000:.1f} ms |",
            "",
            "One query per lookup whatever the number of keys (`json_each(?)` joined to the primary key or"
            " the `(key, id)` index), keys sorted so the probes walk the B-tree in order; about a third of the"
            " time is turning rows into frozen values, and each output found costs a stat of its blob (an"
            " output whose blob is gone is not stored). Orphans are counted as all minus those named, so plan"
            " never reads the rows it does not list.",
        ]
    )
    publish(section, write=args.write)


if __name__ == "__main__":
    main()
