"""Hypothesis drives the reconciler through edits, faults, crashes and the passing of time.

Each example is one history: specs are added, edited, renamed and removed; applies run for a
bounded number of steps and may be killed at any await; the clock jumps (past the fake's one-hour
retention too); one fault at a time is armed on the wire. Every history ends with a fault-free
catch-up (apply until nothing is left), and then every guarantee in `invariants.py` must hold.
A failing history is printed as the list of rules that produced it; keep it in
`test_regressions.py` as a plain test once it is understood.

    pytest tests/stateful                              # CI: a few dozen histories, derandomized
    pytest tests/stateful --hypothesis-profile=long    # nightly: hundreds, longer histories
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.stateful.invariants import check, report
from tests.stateful.sim import Fault, Sim

NAMES = ("cat", "dog", "owl", "fox", "elk", "bee")
# "nsfw" is on the fake's block list: that spec fails for good and must never be bought again.
PROMPTS = ("a red kite over hills", "a calm sea at dawn", "rain on a tin roof", "a nsfw scene")
MODELS = ("wan-2.2-t2v-fast", "wan2.1-t2v")
FILES = ("a", "b")
LONG = settings.default.max_examples >= 1000  # the nightly profile (tests/conftest.py)
pytestmark = pytest.mark.timeout(4 * 3600 if LONG else 300)


class ReconcilerHistory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="reconciler-sim-"))
        self.sim: Sim | None = None

    @initialize(
        seed=st.integers(0, 2**16),
        failure_rate=st.sampled_from([0.0, 0.0, 0.1]),
        first=st.lists(
            st.tuples(st.sampled_from(NAMES), st.sampled_from(PROMPTS), st.integers(0, 2)), min_size=1, max_size=4
        ),
    )
    def begin(self, seed: int, failure_rate: float, first: list[tuple[str, str, int]]) -> None:
        """A fake whose jobs fail now and then (or never), and a few specs to start from."""
        self.sim = Sim(self.tmp, seed=seed, failure_rate=failure_rate)
        for number, (name, prompt, spec_seed) in enumerate(first):
            self.sim.write_spec(name, model=MODELS[number % 2], prompt=prompt, seed=spec_seed, file=FILES[number % 2])

    @property
    def world(self) -> Sim:
        assert self.sim is not None
        return self.sim

    # ---- specs

    @rule(
        name=st.sampled_from(NAMES), model=st.sampled_from(MODELS), prompt=st.sampled_from(PROMPTS),
        seed=st.integers(0, 2), file=st.sampled_from(FILES),
    )  # fmt: skip
    def write_spec(self, name: str, model: str, prompt: str, seed: int, file: str) -> None:
        """Add a spec, or edit one (same name, new request): the old video stays in the store."""
        self.world.write_spec(name, model=model, prompt=prompt, seed=seed, file=file)

    @rule(data=st.data(), new=st.sampled_from(NAMES))
    @precondition(lambda self: bool(self.world.specs))
    def rename_spec(self, data: st.DataObject, new: str) -> None:
        old = data.draw(st.sampled_from(sorted(self.world.specs)))
        if new not in self.world.specs:
            self.world.rename_spec(old, new)

    @rule(data=st.data())
    @precondition(lambda self: bool(self.world.specs))
    def remove_spec(self, data: st.DataObject) -> None:
        self.world.remove_spec(data.draw(st.sampled_from(sorted(self.world.specs))))

    # ---- applies

    @rule(
        # A step is one turn of the loop (every ready task moves to its next await) or one jump of
        # the clock; an apply of a few specs takes some dozens, so most runs are cut off mid-way.
        turns=st.integers(1, 80) | st.just(100_000),
        max_cost=st.sampled_from([None, None, None, 0.1, 0.5, 1.0]),
        concurrency=st.integers(1, 4),
        retry_failed=st.sampled_from([False, False, False, True]),
    )
    def run_apply(self, turns: int, max_cost: float | None, concurrency: int, retry_failed: bool) -> None:
        """Run the current apply (or start one from the specs on disk) for a bounded number of steps."""
        self.world.run_engine(turns, max_cost_usd=max_cost, concurrency=concurrency, retry_failed=retry_failed)

    @rule(turns=st.integers(0, 40))
    def start_an_apply_and_kill_it(self, turns: int) -> None:
        """The common crash: an apply is under way (its first `turns` steps) when it is killed."""
        if self.world.current is None:
            self.world.start_engine()
        self.world.run_engine(turns)
        self.world.crash()

    @rule()
    @precondition(lambda self: self.world.current is not None)
    def kill_apply(self) -> None:
        """kill -9 at whatever await the apply stands: nothing of it runs again."""
        self.world.crash()

    @rule(seconds=st.sampled_from([1.0, 30.0, 120.0, 900.0, 3700.0]))
    def let_time_pass(self, seconds: float) -> None:
        """Time passes with nobody looking (3700 s: past the fake's one-hour retention of results)."""
        self.world.advance(seconds)

    # ---- the world misbehaves

    # Each kind of fault is a rule of its own; arming one replaces the one armed before.

    @rule()
    def rate_limit_the_next_request(self) -> None:
        self.world.arm(Fault.RATE_LIMITED)

    @rule(kind=st.sampled_from([Fault.SERVER_ERROR, Fault.BAD_GATEWAY, Fault.GARBAGE]))
    def fail_the_next_request_with_a_server_error(self, kind: Fault) -> None:
        self.world.arm(kind)

    @rule()
    def lose_the_next_submit_before_it_makes_a_job(self) -> None:
        self.world.arm(Fault.DROP_BEFORE)

    @rule()
    def lose_the_next_submit_after_it_makes_a_job(self) -> None:
        self.world.arm(Fault.DROP_AFTER)

    @rule()
    def refuse_the_next_connection(self) -> None:
        self.world.arm(Fault.REFUSED)

    @rule()
    def truncate_the_next_download(self) -> None:
        self.world.arm(Fault.TRUNCATED)

    @rule()
    def take_the_request_history_down(self) -> None:
        self.world.arm(Fault.HISTORY_DOWN)

    @rule(left=st.sampled_from([0.0, 0.15, 1.0]))
    @precondition(lambda self: not self.world.credits_drained)
    def run_low_on_credits(self, left: float) -> None:
        """The account is nearly empty: submits are refused with 406 until it is topped up."""
        self.world.drain_credits(left)

    @rule()
    @precondition(lambda self: self.world.credits_drained)
    def top_up(self) -> None:
        self.world.restore_credits()

    # ---- the end of every history

    @invariant()
    def nothing_seen_on_the_wire_is_wrong(self) -> None:
        if self.sim is not None and self.sim.violations:
            raise AssertionError("\n".join(f"{name}: {what}" for name, what in self.sim.violations))

    def teardown(self) -> None:
        try:
            if self.sim is not None:
                self.sim.catch_up()
                for what in self.sim.what_happened():
                    event(what)
                failures = self.verdict(self.sim)
                if failures:
                    raise AssertionError(report(failures))
        finally:
            if self.sim is not None:
                self.sim.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def verdict(self, sim: Sim) -> dict[str, list[str]]:
        """Every guarantee the finished history broke (invariants.py)."""
        return check(sim)


ReconcilerHistory.TestCase.settings = settings(
    max_examples=1000 if LONG else 100,
    stateful_step_count=60 if LONG else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestReconcilerHistory = ReconcilerHistory.TestCase
