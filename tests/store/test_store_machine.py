"""A Hypothesis state machine drives a real store and a plain-dict model side by side; they must agree.

Rules: put blobs, record outputs, claim keys (as this live process or as a dead one), move attempts,
crash mid-write (a dead writer's temp file left behind), lose or corrupt a blob on disk, switch to a
second connection, reopen, verify, gc, and rebuild from the receipts. After every step the outputs,
the latest attempts, the objects on disk and the temp directory match the model, every object that
was not deliberately damaged is named by its hash, and the orphans' count, bytes and keys, for roots
in either namespace or both (kept by the store as outputs come and go), are what the outputs table
itself says.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from reconciler.store import AttemptState, FailureReason, ProblemKind, RemovalKind, Store, current_owner
from tests.conftest import put_blob

KEYS = ["sha256:" + hashlib.sha256(f"key-{n}".encode()).hexdigest() for n in range(4)]
OPEN = {AttemptState.CLAIMED, AttemptState.SUBMITTED, AttemptState.COMPLETED}

keys = st.sampled_from(KEYS)
contents = st.sampled_from([b"alpha", b"beta", b""]) | st.binary(max_size=24)
picks = st.integers(min_value=0, max_value=1_000)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class ModelAttempt:
    id: int
    key: str
    state: AttemptState
    request_id: str | None
    live: bool


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-machine-"))
        self.root = self.dir / ".reconciler"
        self.store = Store.open(self.root)
        self.other = Store.open(self.root)  # a second connection, as a second run on the same store would have
        self.me = current_owner()
        self.dead = dataclasses.replace(self.me, started=self.me.started + 1)
        self.blobs: dict[str, bytes] = {}
        self.outputs: dict[str, str] = {}
        self.receipts: dict[str, str] = {}  # key -> digest of its last recorded output (gc removes it)
        self.attempts: list[ModelAttempt] = []
        self.damaged: set[str] = set()
        self.stray_temps = 0

    def teardown(self) -> None:
        self.store.close()
        self.other.close()
        shutil.rmtree(self.dir)

    @initialize()
    def start_empty(self) -> None:
        assert self.store.all_outputs() == []

    # Blobs and outputs

    @rule(data=contents)
    def put(self, data: bytes) -> None:
        info = put_blob(self.store, [data[:3], data[3:]])
        assert info.digest == digest_of(data)
        self.blobs[info.digest] = data
        self.damaged.discard(info.digest)  # writing damaged bytes' content again heals the object

    @precondition(lambda self: any(d not in self.damaged for d in self.blobs))
    @rule(key=keys, pick=picks, namespace=st.sampled_from(["f", "g"]))
    def record_output(self, key: str, pick: int, namespace: str) -> None:
        healthy = sorted(d for d in self.blobs if d not in self.damaged)
        digest = healthy[pick % len(healthy)]
        self.store.record_output(
            key, digest=digest, size=len(self.blobs[digest]), model="m", request_id=None, cost_usd=None,
            namespace=namespace,
        )  # fmt: skip
        self.outputs[key] = self.receipts[key] = digest

    # Attempts

    @rule(key=keys, dead=st.booleans())
    def claim(self, key: str, dead: bool) -> None:
        held = [a for a in self.attempts if a.key == key and a.state in OPEN]
        if key in self.outputs and self.outputs[key] not in self.blobs:
            del self.outputs[key]  # its blob is gone: the output is forgotten and the key claimed again
        # As a run given --retry-failed: a key failed for good is claimable (its refusal without the
        # flag is tested in test_attempts.py).
        got = self.store.claim(
            key, namespace="f", model="m", request_body={"k": key}, owner=self.dead if dead else None,
            retry_failed=True,
        )  # fmt: skip
        if key in self.outputs or any(a.live for a in held):
            assert got is None
            return
        assert got is not None
        inherited = next((a for a in reversed(held) if a.request_id is not None), None)
        state = inherited.state if inherited else AttemptState.CLAIMED
        supersedes = held[-1].id if held else None
        for old in held:
            old.state = AttemptState.SUPERSEDED
        last = next((a for a in reversed(self.attempts) if a.key == key), None)
        if not held and last and last.state is AttemptState.STORED and last.request_id:
            inherited, state, supersedes = last, AttemptState.COMPLETED, last.id  # fetch the lost result again
        assert got.supersedes == supersedes
        assert got.in_doubt == (bool(held) and inherited is None)
        assert got.request_id == (inherited.request_id if inherited else None)
        assert got.state is state
        self.attempts.append(ModelAttempt(got.id, key, state, got.request_id, live=not dead))

    def _pick(self, pick: int, states: set[AttemptState]) -> ModelAttempt:
        candidates = [a for a in self.attempts if a.state in states]
        return candidates[pick % len(candidates)]

    def _any(self, *states: AttemptState) -> bool:
        return any(a.state in states for a in self.attempts)

    @precondition(lambda self: self._any(AttemptState.CLAIMED))
    @rule(pick=picks)
    def submit(self, pick: int) -> None:
        attempt = self._pick(pick, {AttemptState.CLAIMED})
        attempt.request_id = f"req-{attempt.id}"
        attempt.state = AttemptState.SUBMITTED
        assert self.store.record_submitted(attempt.id, attempt.request_id).state is AttemptState.SUBMITTED

    @precondition(lambda self: self._any(AttemptState.CLAIMED, AttemptState.SUBMITTED))
    @rule(pick=picks)
    def complete(self, pick: int) -> None:
        attempt = self._pick(pick, {AttemptState.CLAIMED, AttemptState.SUBMITTED})
        attempt.state = AttemptState.COMPLETED
        self.store.record_state(attempt.id, AttemptState.COMPLETED)

    @precondition(lambda self: self._any(*OPEN))
    @rule(pick=picks, data=contents)
    def store_result(self, pick: int, data: bytes) -> None:
        attempt = self._pick(pick, OPEN)
        info = put_blob(self.store, [data])
        self.blobs[info.digest] = data
        self.damaged.discard(info.digest)
        self.store.record_output(
            attempt.key, digest=info.digest, size=info.size, model="m", request_id=attempt.request_id,
            cost_usd=0.3, namespace="f", attempt_id=attempt.id,
        )  # fmt: skip
        attempt.state = AttemptState.STORED
        self.outputs[attempt.key] = self.receipts[attempt.key] = info.digest

    @precondition(lambda self: self._any(*OPEN))
    @rule(pick=picks)
    def fail(self, pick: int) -> None:
        attempt = self._pick(pick, OPEN)
        attempt.state = AttemptState.FAILED
        self.store.record_state(attempt.id, AttemptState.FAILED, error="500", reason=FailureReason.TEMPORARY)

    @precondition(lambda self: self._any(AttemptState.CLAIMED))
    @rule(pick=picks)
    def release(self, pick: int) -> None:
        attempt = self._pick(pick, {AttemptState.CLAIMED})
        attempt.state = AttemptState.RELEASED
        self.store.release(attempt.id)

    # Crashes and damage

    @rule(data=contents)
    def crash_mid_write(self, data: bytes) -> None:
        """A writer killed with -9 leaves its temp file; one abandoned in-process leaves nothing."""
        with self.store.blob_writer() as writer:
            writer.write(data)
        name = f"{self.dead.pid}-{self.dead.started}-{secrets.token_hex(8)}.part"
        (self.root / "tmp" / name).write_bytes(data)
        self.stray_temps += 1

    @precondition(lambda self: any(d not in self.damaged for d in self.blobs))
    @rule(pick=picks)
    def corrupt_blob(self, pick: int) -> None:
        healthy = sorted(d for d in self.blobs if d not in self.damaged)
        digest = healthy[pick % len(healthy)]
        path = self.store.blob_path(digest)
        os.chmod(path, 0o644)
        path.write_bytes(self.blobs[digest] + b"!")
        self.damaged.add(digest)

    @precondition(lambda self: bool(self.blobs))
    @rule(pick=picks)
    def lose_blob(self, pick: int) -> None:
        digest = sorted(self.blobs)[pick % len(self.blobs)]
        self.store.blob_path(digest).unlink()
        del self.blobs[digest]
        self.damaged.discard(digest)

    @rule()
    def switch_connection(self) -> None:
        """Carry on through the other connection: what one commits, the other must see."""
        self.store, self.other = self.other, self.store

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = Store.open(self.root)
        assert len(self.store.removed_temp_files) == self.stray_temps
        self.stray_temps = 0

    # Maintenance

    @rule()
    def verify(self) -> None:
        report = self.store.verify()
        lost = {k for k, d in self.outputs.items() if d not in self.blobs}
        corrupt = {k for k, d in self.outputs.items() if d in self.damaged}
        expected = {(ProblemKind.CORRUPT_BLOB, d) for d in self.damaged}
        expected |= {(ProblemKind.MISSING_BLOB, self.outputs[k]) for k in lost}
        assert {(p.kind, p.digest) for p in report.problems} == expected
        assert report.clean == (not expected)
        for key in lost | corrupt:
            del self.outputs[key]
        for digest in self.damaged:
            del self.blobs[digest]
        self.damaged.clear()
        assert {o.digest for o in report.orphans} == set(self.blobs) - set(self.outputs.values())

    @rule(roots=st.frozensets(keys), dry_run=st.booleans())
    def gc(self, roots: frozenset[str], dry_run: bool) -> None:
        report = self.store.gc(set(roots), dry_run=dry_run)
        open_attempts = [a for a in self.attempts if a.state in OPEN]
        keep = set(roots) | {a.key for a in open_attempts}
        running = any(a.live for a in open_attempts)
        gone_outputs = {k for k in self.outputs if k not in keep}
        gone_attempts = [a for a in self.attempts if a.key not in keep]
        referenced = {d for k, d in self.outputs.items() if k in keep}
        unreferenced = {d for d in self.blobs if d not in referenced}
        removed = {(r.kind, r.name) for r in report.removed}
        assert {n for k, n in removed if k is RemovalKind.OUTPUT} == gone_outputs
        assert len([n for k, n in removed if k is RemovalKind.ATTEMPT]) == len(gone_attempts)
        assert {n for k, n in removed if k is RemovalKind.BLOB} == (set() if running else unreferenced)
        assert {d.name for d in report.deferred} == (unreferenced if running else set())
        if dry_run:
            return
        for key in gone_outputs:
            del self.outputs[key]
            del self.receipts[key]
        self.attempts = [a for a in self.attempts if a.key in keep]
        if not running:
            for digest in unreferenced:
                del self.blobs[digest]
                self.damaged.discard(digest)

    @rule()
    def rebuild(self) -> None:
        """Put back, from its receipt, each output dropped (by verify or a claim) whose blob is whole again."""
        restored = self.store.rebuild()
        back = {
            k: d
            for k, d in self.receipts.items()
            if k not in self.outputs and d in self.blobs and d not in self.damaged
        }
        assert {o.key: o.digest for o in restored.restored} == back
        self.outputs.update(back)

    # What must always hold

    @invariant()
    def outputs_agree(self) -> None:
        found = self.store.outputs_for(KEYS)
        assert {k: o.digest for k, o in found.items()} == {k: d for k, d in self.outputs.items() if d in self.blobs}
        lost = self.store.lost_outputs(KEYS)
        assert {k: o.digest for k, o in lost.items()} == {k: d for k, d in self.outputs.items() if d not in self.blobs}
        observed = self.store.observe(KEYS)
        assert (observed.stored, observed.lost) == (
            {k: o.digest for k, o in found.items()},
            {k: o.digest for k, o in lost.items()},
        )

    @invariant()
    def orphans_are_counted_as_the_outputs_table_sums(self) -> None:
        query = "SELECT key, namespace, size FROM outputs ORDER BY key"
        with closing(sqlite3.connect(self.root / "state.sqlite")) as raw:  # the file itself, not the store
            rows = raw.execute(query).fetchall()
        held = {namespace for _, namespace, _ in rows}
        everything = (len(rows), sum(size for _, _, size in rows))
        unnamed = self.store.orphans({}, limit=0)
        assert (unnamed.count, unnamed.size) == everything
        # Roots of a namespace the store holds nothing of name nothing; those of one it holds name every key.
        for namespace in ("f", "g"):
            named = self.store.orphans({namespace: KEYS}, limit=0)
            assert (named.count, named.size) == ((0, 0) if namespace in held else everything)
        # Some keys named in one namespace, in the other, in both: the rest are the orphans, listed in key order.
        for roots in ({"f": KEYS[:2]}, {"g": KEYS[1:3]}, {"f": KEYS[:2], "g": KEYS[1:3]}, {"f": KEYS[3:], "g": []}):
            named_keys = {key for namespace, keys in roots.items() if namespace in held for key in keys}
            stray = [(key, size) for key, _, size in rows if key not in named_keys]
            found = self.store.orphans(roots, limit=None)
            assert (found.count, found.size) == (len(stray), sum(size for _, size in stray)), roots
            assert [o.key for o in found.listed] == [key for key, _ in stray], roots

    @invariant()
    def latest_attempts_agree(self) -> None:
        latest: dict[str, ModelAttempt] = {}
        for attempt in self.attempts:
            latest[attempt.key] = attempt
        found = self.store.attempts_for(KEYS)
        assert {k: (a.id, a.state, a.request_id) for k, a in found.items()} == {
            k: (a.id, a.state, a.request_id) for k, a in latest.items()
        }
        assert {a.id for a in self.store.open_attempts()} == {a.id for a in self.attempts if a.state in OPEN}

    @invariant()
    def every_object_is_named_by_its_hash(self) -> None:
        on_disk = {}
        for path in (self.root / "objects" / "sha256").glob("*/*"):
            digest = f"sha256:{path.parent.name}{path.name}"
            on_disk[digest] = path.read_bytes()
        assert set(on_disk) == set(self.blobs)
        for digest, data in on_disk.items():
            assert (digest_of(data) == digest) != (digest in self.damaged)

    @invariant()
    def only_crashed_writers_leave_temp_files(self) -> None:
        assert len(list((self.root / "tmp").iterdir())) == self.stray_temps


StoreMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoreAgreesWithModel = StoreMachine.TestCase
