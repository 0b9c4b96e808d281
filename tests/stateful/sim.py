"""`Sim(root, seed)`: the reconciler's whole world in one process, on one simulated clock.

    sim = Sim(tmp_path, seed=3)
    sim.write_spec("cat", prompt="a red kite", seed=1)
    sim.arm(Fault.DROP_AFTER)          # the next submit makes its job, then the answer is lost
    sim.run_engine(turns=400)          # an `apply` runs for 400 steps...
    sim.crash()                        # ...and dies where it stands, as under kill -9
    sim.catch_up()                     # faults off; apply until nothing is left to do
    failures = invariants.check(sim)

What it holds:
  * the fake (`mockserver.create_app`) reached through `httpx.ASGITransport`, wrapped in `Wire`,
    which can refuse connections, watches every request against the store as it is sent, and
    keeps the order of events the invariants need (the fake's own journal keeps the rest);
  * one `SimClock` for the fake and every engine, so hours of polling take milliseconds;
  * the spec files on disk, the store on disk, and `out/`;
  * the engines ("applies"). Each runs the same path as `reconciler apply` (load the specs, plan
    against the store, `reconcile`) on an event loop of its own, with an `Identity` of its own.
    A crash stops driving the loop and never resumes it: no `finally`, no `except` runs, the store
    connection is closed as the kernel would close it, and the next engine finds the dead one's
    claims exactly as a new process finds a killed one's.

Faults are the fake's own seeded fault rules (PUT /_mock/config), armed one at a time so the next
matching request meets it; a refused connection is the one fault the fake cannot make itself
(nothing reaches the server), so `Wire` raises it.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mockserver.app import create_app
from mockserver.config import MockConfig
from reconciler import catalog, keys
from reconciler.api.client import SegmindApi
from reconciler.engine.context import Options, Runtime
from reconciler.engine.events import JobEvent, RunEvent, Summary
from reconciler.engine.reconcile import reconcile
from reconciler.engine.work import works_for
from reconciler.plan.assemble import assemble
from reconciler.plan.diff import Desired, Plan
from reconciler.records import Owner
from reconciler.spec import load
from reconciler.store import Store, StoreView
from reconciler.store.owner import Identity
from tests.engine.simulation import SimClock
from tests.stateful.shared import ClockRenewer, Shared, inline

API_KEY = "mock-key"
CREDITS = 1000.0
NAMESPACE = keys.SEGMIND
BASE = "https://fake"  # not a loopback fake: its outputs must be https, as the real API's
# The engines' pids: far above any real pid (Linux allows at most 2**22), so none is ever alive.
FIRST_PID = 1 << 23
# Turns of the loop a healthy run of a few specs needs is in the thousands; far more means a hang.
CATCH_UP_TURNS = 100_000
CATCH_UP_SLICE = 500  # turns each running apply gets in turn while several finish at once
# The most turns one apply is driven while another machine's apply is alive: that one renews its
# leases as the clock passes, so this one may wait on its claims for as long as it is driven (as a
# real run waits on a live one). A history's "run to the end" stops here; catch_up drives both.
PEER_ALIVE_TURNS = 2_000

# A killed apply's coroutines must not run again while the history goes on: were its loop collected,
# Python would close them and run the `finally` blocks a killed process never runs. So the loop is
# kept (on its Engine) until `Sim.close`, after the verdict, when its tasks are cancelled and the
# loop closed: whatever their cleanup does then (against a closed store) no longer matters.
BURIAL_TURNS = 1000


class Fault(enum.Enum):
    """What can be armed to strike the next matching request."""

    RATE_LIMITED = "429 on any request"
    SERVER_ERROR = "500 on any request"
    BAD_GATEWAY = "502 on a status poll"
    DROP_BEFORE = "submit: connection lost before the job is created"
    DROP_AFTER = "submit: connection lost after the job is created"
    TRUNCATED = "download cut in half"
    HISTORY_DOWN = "request history unavailable (every retry of one lookup)"
    REFUSED = "connection refused (nothing reaches the server)"
    GARBAGE = "result: 200 with garbage"

    def rules(self) -> list[dict[str, Any]]:
        one = {
            Fault.RATE_LIMITED: {"route": "any", "script": ["429"], "retry_after_s": 7},
            Fault.SERVER_ERROR: {"route": "any", "script": ["500"]},
            Fault.BAD_GATEWAY: {"route": "status", "script": ["502"]},
            Fault.DROP_BEFORE: {"route": "submit", "script": ["drop"], "phase": "before"},
            Fault.DROP_AFTER: {"route": "submit", "script": ["drop"], "phase": "after"},
            Fault.TRUNCATED: {"route": "files", "script": ["truncate"]},
            # More failures than one lookup retries (RetryPolicy.max_attempts), so it gives up.
            Fault.HISTORY_DOWN: {"route": "history", "script": ["504"] * 12},
            Fault.GARBAGE: {"route": "result", "script": ["garbage"]},
        }
        return [one[self]] if self in one else []


@dataclass
class Sent:
    """One request as the wire saw it: when it left, from which engine, and what came back."""

    at: float
    engine: int
    method: str
    path: str
    body: Any
    status: int | None = None  # None: no answer (dropped, refused)
    refused: bool = False  # never reached the fake
    retry_after: float | None = None
    answered_at: float | None = None


@dataclass
class Engine:
    """One apply: its loop, its task, its identity, and how it ended."""

    number: int
    identity: Identity
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[Summary]
    store: Store
    max_cost_usd: float | None
    retry_failed: bool  # --retry-failed: a key whose last job failed for good may be bought again
    machine: int = 0  # which checkout (local cache) it runs in
    crashed: bool = False
    steps: int = 0  # steps of the simulation it has run
    summary: Summary | None = None
    events: list[JobEvent | RunEvent] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return not self.crashed and self.summary is None


@dataclass
class Spec:
    model: str
    prompt: str
    seed: int
    file: str


class Wire(httpx.AsyncBaseTransport):
    """The transport between every engine and the fake: records, checks write-ahead, refuses."""

    def __init__(self, sim: Sim, inner: httpx.AsyncBaseTransport) -> None:
        self.sim = sim
        self.inner = inner
        self.refuse_next = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sim = self.sim
        body = _json(request.content) if request.method == "POST" else None
        sent = Sent(sim.clock.now(), sim.engine_number, request.method, request.url.path, body)
        sim.sent.append(sent)
        if request.method == "GET" and request.url.path.startswith("/v2/requests/"):
            jobs = await self.inner.handle_async_request(httpx.Request("GET", f"{BASE}/_mock/jobs"))
            sim.check_poll(sent, json.loads(await jobs.aread())["jobs"])
        sim.check_send(sent)
        if self.refuse_next:
            self.refuse_next -= 1
            sent.refused = True
            raise httpx.ConnectError("[Errno 111] Connection refused (simulated)", request=request)
        response = await self.inner.handle_async_request(request)
        sent.status = response.status_code
        sent.answered_at = sim.clock.now()
        if response.status_code == 429:
            sent.retry_after = float(response.headers.get("retry-after", "0"))
        return response


class Sim:
    """The world of one simulated history: fake, clock, specs, store, engines, wire log."""

    def __init__(
        self,
        root: Path,
        *,
        seed: int = 0,
        failure_rate: float = 0.0,
        adopt: bool = True,
        shared: Shared | None = None,
        machines: int = 1,
    ) -> None:
        self.root = root
        # Adoption reads the history once per model before the first submit of a run; regression
        # tests that cut a run off after a set number of steps or at the first request turn it off.
        self.adopt = adopt
        self.specs_dir = root / "specs"
        self.specs_dir.mkdir(parents=True, exist_ok=True)
        # Each machine is a checkout of the same specs with a local store (and out/) of its own; with
        # `shared`, every one of those stores is the cache of one bucket.
        self.shared = shared
        self.machines = machines
        self.viewing = 0  # the machine whose store and out/ `store_root` and `out_dir` name
        self.driving: Engine | None = None  # the engine whose loop runs now (its requests are its own)
        self.seed = seed
        self.clock = SimClock()
        config = MockConfig(keys={API_KEY: CREDITS}, seed=seed, time_scale=1.0, jitter=0.2, failure_rate=failure_rate)
        self.app = create_app(config, self.clock)  # type: ignore[arg-type]
        self.wire = Wire(self, httpx.ASGITransport(app=self.app))
        self._control_loop = asyncio.new_event_loop()
        self._control = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)
        self.specs: dict[str, Spec] = {}
        self.ever_wanted: dict[str, str] = {}  # request digest -> key, of every spec ever written
        self.engines: list[Engine] = []
        self.sent: list[Sent] = []
        self.violations: list[tuple[str, str]] = []  # (invariant, what happened), seen on the wire
        self.armed: Fault | None = None
        self.credits_drained = False
        self.catch_up_from: int | None = None  # index into `sent` where the fault-free catch-up began
        self.final_check_from: int | None = None  # index into `sent` of the last, idle apply

    def close(self) -> None:
        """Close what the test owns, killed applies included (see BURIAL_TURNS)."""
        for machine in range(self.machines):
            self.crash(machine)
        for engine in self.engines:
            if engine.crashed and not engine.loop.is_closed():
                _bury(engine.loop)
        self._control_loop.run_until_complete(self._control.aclose())
        self._control_loop.close()

    # ---- the fake's control surface (public /_mock routes)

    def control(self, method: str, path: str, payload: Any = None) -> Any:
        async def call() -> Any:
            response = await self._control.request(method, path, json=payload)
            response.raise_for_status()
            return response.json()

        return self._control_loop.run_until_complete(call())

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/_mock/jobs")["jobs"])

    def journal(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "/_mock/journal")["entries"])

    def file_bytes(self, request_id: str) -> bytes:
        async def call() -> bytes:
            response = await self._control.get(f"/files/{request_id}.mp4", headers={"x-api-key": API_KEY})
            response.raise_for_status()
            return response.content

        return self._control_loop.run_until_complete(call())

    def balance(self) -> float:
        return float(self.control("GET", "/_mock/credits")["balances"][API_KEY])

    # ---- specs

    def write_spec(self, name: str, *, model: str, prompt: str, seed: int, file: str = "a") -> None:
        self.specs[name] = Spec(model, prompt, seed, file)
        self._write_files()

    def remove_spec(self, name: str) -> None:
        del self.specs[name]
        self._write_files()

    def rename_spec(self, old: str, new: str) -> None:
        self.specs[new] = self.specs.pop(old)
        self._write_files()

    def _write_files(self) -> None:
        by_file: dict[str, list[str]] = {}
        for name, spec in sorted(self.specs.items()):
            by_file.setdefault(spec.file, []).append(name)
        for path in self.specs_dir.glob("*.yaml"):
            if path.stem not in by_file:
                path.unlink()
        for file, names in by_file.items():
            lines = ["videos:"]
            for name in names:
                spec = self.specs[name]
                lines += [
                    f"  {name}:",
                    f"    model: {spec.model}",
                    f"    prompt: {spec.prompt}",
                    f"    seed: {spec.seed}",
                ]
            (self.specs_dir / f"{file}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for entry in self.desired_entries():
            digest = catalog.request_digest(catalog.BY_SLUG[entry.entry.model], dict(entry.entry.params))
            self.ever_wanted[digest] = entry.key

    def desired_entries(self) -> list[Desired]:
        if not self.specs:
            return []
        specs = load([self.specs_dir])
        return [Desired(e, keys.entry_key(NAMESPACE, e)) for e in specs.entries]

    # ---- faults

    def arm(self, fault: Fault | None) -> None:
        """Arm one fault (replacing any still armed), or none."""
        self.armed = fault
        self.wire.refuse_next = 1 if fault is Fault.REFUSED else 0
        self.control("PUT", "/_mock/config", {"faults": [] if fault is None else fault.rules()})

    def drain_credits(self, left: float) -> None:
        self.credits_drained = True
        spent = CREDITS - self.balance()
        self.control("PUT", "/_mock/config", {"keys": {API_KEY: spent + left}})

    def restore_credits(self) -> None:
        self.credits_drained = False
        self.control("PUT", "/_mock/config", {"keys": {API_KEY: CREDITS}})

    # ---- engines

    def machine_root(self, machine: int) -> Path:
        return self.root if machine == 0 else self.root / f"machine-{machine}"

    @property
    def store_root(self) -> Path:
        return self.machine_root(self.viewing) / ".reconciler"

    @property
    def out_dir(self) -> Path:
        return self.machine_root(self.viewing) / "out"

    @property
    def current(self) -> Engine | None:
        return self.current_on(0)

    def current_on(self, machine: int) -> Engine | None:
        mine = [engine for engine in self.engines if engine.machine == machine]
        return mine[-1] if mine and mine[-1].running else None

    @property
    def engine_number(self) -> int:
        if self.driving is not None:
            return self.driving.number
        return self.engines[-1].number if self.engines else -1

    def host(self, machine: int) -> str:
        return socket.gethostname() if self.machines == 1 else f"sim-machine-{machine}"

    def alive_from(self, machine: int, owner: Owner) -> bool:
        """As a process on `machine` sees `owner`: on another host it cannot tell, so alive (the lease decides)."""
        if owner.host != self.host(machine):
            return True
        return any(engine.running and engine.identity.me == owner for engine in self.engines)

    def identity(self, machine: int, number: int) -> Identity:
        me = Owner(host=self.host(machine), boot="sim", pid=FIRST_PID + number, started=number)
        return Identity(me, lambda owner: self.alive_from(machine, owner))

    def open_store(self, machine: int, identity: Identity) -> Store:
        root = self.machine_root(machine) / ".reconciler"
        if self.shared is None:
            return Store.open(root, clock=self.clock, identity=identity)
        from reconciler.store.remote import RemoteStore
        from reconciler.store.s3 import Bucket

        shared = self.shared
        bucket = Bucket(shared.remote.bucket, shared.remote.prefix, client=shared.client)
        return RemoteStore.open_remote(
            root, shared.remote, clock=self.clock, identity=identity, lease_s=shared.lease_s, bucket=bucket,
            renewer=ClockRenewer(self.clock), offload=inline,
        )  # fmt: skip

    def plan_view(self) -> StoreView:
        """What `reconciler plan` reads on the machine viewed (see `view`)."""
        return self.view(self.viewing)

    def view(self, machine: int) -> StoreView:
        """What `reconciler plan` on `machine` reads: its local store, and the bucket it caches."""
        root = self.machine_root(machine) / ".reconciler"
        if self.shared is None:
            return Store.open_readonly(root, clock=self.clock)
        local = Store.open_readonly(root, clock=self.clock, identity=self.identity(machine, -1))
        from reconciler.store.listing import RemoteView
        from reconciler.store.s3 import Bucket

        shared = self.shared
        return RemoteView(local, lambda: Bucket(shared.remote.bucket, shared.remote.prefix, client=shared.client))

    def start_engine(
        self, *, max_cost_usd: float | None = None, concurrency: int = 4, retry_failed: bool = False, machine: int = 0
    ) -> Engine:
        """A new `apply`, as a new process would start it: plan from the specs on disk, then run."""
        assert self.current_on(machine) is None, "one engine at a time on a machine"
        number = len(self.engines)
        identity = self.identity(machine, number)
        loop = asyncio.new_event_loop()
        store = self.open_store(machine, identity)
        engine = Engine(number, identity, loop, None, store, max_cost_usd, retry_failed, machine)  # type: ignore[arg-type]
        self.engines.append(engine)
        out_dir = self.machine_root(machine) / "out"
        options = Options(
            concurrency=concurrency, max_cost_usd=max_cost_usd, out_dir=out_dir, seed=self.seed * 1000 + number,
            handle_signals=False, held_poll_s=5.0, adopt=self.adopt, retry_failed=retry_failed,
            latency_scale=1.0,  # the fake runs at the catalog's speed, and says so (as the e2e tests do)
        )  # fmt: skip
        engine.task = loop.create_task(self._apply(engine, options))
        return engine

    async def _apply(self, engine: Engine, options: Options) -> Summary:
        desired = self.desired_entries()
        plan = self.plan(engine.store, desired, retry_failed=engine.retry_failed)
        api = SegmindApi(api_key=API_KEY, base_url=BASE, history_url=BASE, upload_url=BASE, transport=self.wire)
        async with api:
            runtime = Runtime(api=api, store=engine.store, clock=self.clock, namespace=NAMESPACE)
            every_name = {d.entry.name: d.key for d in desired}
            return await reconcile(
                plan, works_for(plan, desired), every_name, runtime=runtime, options=options, emit=engine.events.append
            )

    def plan(self, store: StoreView, desired: list[Desired], *, retry_failed: bool = False) -> Plan:
        """What `reconciler plan` shows (reconciler.plan.assemble, as the CLI and watch plan), without orphans."""
        return assemble(desired, desired, store, namespace=NAMESPACE, retry_failed=retry_failed, orphans=False)[0]

    def run_engine(self, turns: int, *, machine: int = 0, **start: Any) -> Engine:
        """Run the current apply of `machine` (starting one if none runs) for at most `turns` steps."""
        engine = self.current_on(machine) or self.start_engine(machine=machine, **start)
        if any(other.running for other in self.engines if other.machine != machine):
            turns = min(turns, PEER_ALIVE_TURNS)
        self.driving = engine
        try:
            engine.steps += engine.loop.run_until_complete(self.clock.drive(engine.task, turns))
        finally:
            self.driving = None
        if engine.task.done():
            engine.summary = engine.task.result()  # an exception here is a bug: let it out
            engine.store.close()
            engine.loop.close()
        return engine

    def crash(self, machine: int = 0) -> None:
        """The running apply of `machine` dies where it stands (kill -9): nothing of it runs again."""
        engine = self.current_on(machine)
        if engine is None:
            return
        engine.crashed = True
        engine.store.close()  # as the kernel closes a dead process's files
        self.clock.forget(engine.loop)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ---- the end of every history

    def catch_up(self, *, max_runs: int = 5) -> None:
        """Faults off, credits back; the running applies finish, then each machine applies until nothing is left."""
        self.arm(None)
        if self.credits_drained:
            self.restore_credits()
        self.catch_up_from = len(self.sent)
        self.finish_running()
        for machine in range(self.machines):
            for _ in range(max_runs):
                with self.view(machine) as view:
                    plan = self.plan(view, self.desired_entries())
                if not plan.has_changes():
                    break
                self.finish(self.start_engine(machine=machine))
        self.final_check_from = len(self.sent)
        for machine in range(self.machines):
            self.finish(self.start_engine(machine=machine))

    def finish_running(self) -> None:
        """Drive every running apply, a slice of turns each in turn, until all have ended (none waits forever
        on a claim another holds: the holder runs too)."""
        for _ in range(CATCH_UP_TURNS // CATCH_UP_SLICE):
            running = [engine for engine in self.engines if engine.running]
            if len(running) <= 1:
                for engine in running:
                    self.finish(engine)
                return
            for engine in running:
                self.run_engine(CATCH_UP_SLICE, machine=engine.machine)
        stuck = [engine.number for engine in self.engines if engine.running]
        if stuck:
            raise AssertionError(f"applies {stuck} did not finish within {CATCH_UP_TURNS} steps")

    def finish(self, engine: Engine) -> None:
        self.run_engine(CATCH_UP_TURNS, machine=engine.machine)
        if engine.running:
            raise AssertionError(f"apply {engine.number} did not finish within {CATCH_UP_TURNS} steps")

    # ---- what the wire checks as each request leaves

    def check_send(self, sent: Sent) -> None:
        """Write-ahead of submits and Retry-After, judged the moment a request leaves (see invariants.py)."""
        engine = self.driving or self.engines[-1]
        path = sent.path
        if sent.method == "POST" and path.startswith("/v2/") and not path.startswith("/v2/requests/"):
            model = path.removeprefix("/v2/")
            key = keys.request_key(NAMESPACE, model, sent.body)
            root = self.machine_root(engine.machine) / ".reconciler"
            with Store.open_readonly(root, clock=self.clock, identity=engine.identity) as view:
                attempt = view.attempts_for([key]).get(key)
            body = catalog.canonical_json(sent.body)
            if attempt is None or attempt.state.value != "claimed" or attempt.request_json != body:
                self.violations.append(("write_ahead", f"submit of {key[:19]} left with no claim holding its body"))
            elif attempt.owner != engine.identity.me:
                self.violations.append(("write_ahead", f"submit of {key[:19]} left under a claim of another engine"))
        for earlier in reversed(self.sent[:-1]):
            if earlier.engine != sent.engine:
                break
            if (
                earlier.retry_after is not None
                and earlier.answered_at is not None
                and earlier.answered_at <= sent.at < earlier.answered_at + earlier.retry_after - 1e-6
            ):
                self.violations.append(
                    ("polite", f"{sent.method} {path} sent {sent.at - earlier.answered_at:.2f} s after a 429"
                     f" that asked for {earlier.retry_after:g} s")
                )  # fmt: skip
                break

    def check_poll(self, sent: Sent, jobs: list[dict[str, Any]]) -> None:
        """A status or result request: its id must be durable, its job not settled on disk."""
        request_id = sent.path.removeprefix("/v2/requests/").removesuffix("/status")
        job = next((j for j in jobs if j["id"] == request_id), None)
        key = None if job is None else self.ever_wanted.get(job["key"])
        if key is None:
            self.violations.append(("write_ahead", f"polled {request_id}, a job no spec ever asked for"))
            return
        engine = self.driving or self.engines[-1]
        with Store.open_readonly(self.machine_root(engine.machine) / ".reconciler", clock=self.clock) as view:
            known = view.request_ids(key)
            output = view.outputs_for([key]).get(key)
            latest = view.attempts_for([key]).get(key)
        if request_id not in known:
            self.violations.append(("write_ahead", f"polled {request_id} before its id was durable in the store"))
        if output is not None and output.request_id == request_id:
            self.violations.append(("polite", f"polled {request_id}, whose video is already stored"))
        if latest is not None and latest.request_id == request_id and latest.state.value == "failed":
            self.violations.append(("polite", f"polled {request_id}, already failed on disk"))

    # ---- reading the outcome

    def what_happened(self) -> set[str]:
        """The paths this history took, for Hypothesis' statistics (is the machine reaching them?)."""
        seen = {
            f"fault met: {e['fault']['kind']} {e['fault']['phase'] or ''}".strip() for e in self.journal() if e["fault"]
        }
        seen |= {"connection refused"} if any(s.refused for s in self.sent) else set()
        seen |= {"an apply was killed"} if any(e.crashed for e in self.engines) else set()
        for engine in self.engines:
            for event in engine.events:
                if isinstance(event, JobEvent) and event.detail:
                    for marker in ("adopted", "searching the request history", "no longer on the API", "waiting"):
                        if marker in event.detail:
                            seen.add(f"job event: {marker}")
                if isinstance(event, JobEvent) and event.phase.value in ("in-doubt", "failed", "unfinished", "skipped"):
                    seen.add(f"outcome: {event.phase.value}")
                if isinstance(event, RunEvent):
                    seen.add(f"run event: {event.kind}")
        return seen

    def stored_blob(self, digest: str) -> Path:
        with Store.open_readonly(self.store_root, clock=self.clock) as view:
            return view.blob_path(digest)

    def submits(self, since: int = 0) -> Iterator[Sent]:
        for sent in self.sent[since:]:
            if sent.method == "POST" and sent.path.startswith("/v2/") and not sent.path.startswith("/v2/requests/"):
                yield sent


def _bury(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()

    async def settle() -> None:
        for _ in range(BURIAL_TURNS):
            if all(task.done() for task in tasks):
                return
            await asyncio.sleep(0)

    loop.run_until_complete(settle())
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it
    loop.close()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None
