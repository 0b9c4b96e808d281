"""The same histories on two machines sharing one bucket: every guarantee still holds.

Each machine is a checkout with a local cache of its own; both caches are `RemoteStore`s on one
bucket of the S3 server (moto over HTTP). Applies run on either machine, one slice of steps at a
time, so one machine's apply is under way (its claims held, its leases renewed as the simulated
clock passes) while the other's plans and claims; either may be killed. The hosts differ, so a
killed apply's claims in the bucket look alive to the other machine until their lease runs out.
At the end both machines catch up, and `invariants.py` judges each machine's view unchanged.

    pytest tests/stateful/test_shared_store_machine.py
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule, run_state_machine_as_test

from reconciler.store.location import Remote
from tests.conftest import S3Server
from tests.stateful.invariants import check
from tests.stateful.shared import Shared
from tests.stateful.sim import Sim
from tests.stateful.test_reconciler_machine import FILES, LONG, MODELS, NAMES, PROMPTS, ReconcilerHistory

OTHER = 1  # the second machine (the inherited rules run applies on machine 0)


class SharedStoreHistory(ReconcilerHistory):
    server: S3Server  # set by the test: Hypothesis makes the machines, one per example

    @initialize(
        seed=st.integers(0, 2**16),
        failure_rate=st.sampled_from([0.0, 0.0, 0.1]),
        first=st.lists(
            st.tuples(st.sampled_from(NAMES), st.sampled_from(PROMPTS), st.integers(0, 2)), min_size=1, max_size=4
        ),
        slices=st.integers(1, 4),
        turns=st.integers(1, 40),
    )
    def begin(self, seed: int, failure_rate: float, first: list[tuple[str, str, int]], slices: int, turns: int) -> None:
        """Two machines on a fresh bucket, a fake whose jobs fail now and then (or never), a few specs,
        and both machines already applying them at once (every history starts where they meet)."""
        self.client = self.server.client()
        shared = Shared(Remote(self.server.new_bucket(), "team"), self.client)
        self.sim = Sim(self.tmp, seed=seed, failure_rate=failure_rate, shared=shared, machines=2)
        for number, (name, prompt, spec_seed) in enumerate(first):
            self.sim.write_spec(name, model=MODELS[number % 2], prompt=prompt, seed=spec_seed, file=FILES[number % 2])
        self.apply_on_both_machines_at_once(slices, turns, concurrency=4)

    @rule(
        turns=st.integers(1, 80) | st.just(100_000),
        concurrency=st.integers(1, 4),
        retry_failed=st.sampled_from([False, False, False, True]),
    )
    def run_apply_on_the_other_machine(self, turns: int, concurrency: int, retry_failed: bool) -> None:
        """The other checkout's apply runs for a while (or starts), while this one's may stand mid-job."""
        self.world.run_engine(turns, machine=OTHER, concurrency=concurrency, retry_failed=retry_failed)

    @rule(slices=st.integers(1, 6), turns=st.integers(1, 40), concurrency=st.integers(1, 4))
    def apply_on_both_machines_at_once(self, slices: int, turns: int, concurrency: int) -> None:
        """Both checkouts apply the same specs at once, a slice of steps each in turn: they meet at the claims."""
        for _ in range(slices):
            for machine in (0, OTHER):
                self.world.run_engine(turns, machine=machine, concurrency=concurrency)

    @rule()
    @precondition(lambda self: self.world.current_on(OTHER) is not None)
    def kill_the_other_machines_apply(self) -> None:
        self.world.crash(OTHER)

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            if hasattr(self, "client"):
                self.client.close()

    def verdict(self, sim: Sim) -> dict[str, list[str]]:
        """Every guarantee broken, as either machine's store and out/ show the history."""
        failures: dict[str, list[str]] = {}
        for machine in range(sim.machines):
            sim.viewing = machine
            for name, problems in check(sim).items():
                failures[name] = list(dict.fromkeys([*failures.get(name, []), *problems]))
        return failures


@pytest.mark.slow
def test_two_machines_sharing_one_bucket_keep_every_guarantee(s3_server: S3Server) -> None:
    SharedStoreHistory.server = s3_server
    run_state_machine_as_test(
        SharedStoreHistory,
        settings=settings(
            max_examples=300 if LONG else 12,
            stateful_step_count=40 if LONG else 20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
