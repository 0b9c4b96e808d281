"""The world apply and watch run on, opened in one place for both, so they cannot drift apart.

    site = Site(backend, store_root, remote, lease_s)     what the command line names (the backend checked)
    result = run_on(site, main, clock=clock)              `main(world)` on one event loop, inside the world

Opening connects the backend (the bundled fake is served from this process for --mock), opens the
store (a bucket with its local cache, or a directory), makes the client inside the event loop, and
closes all of it again in reverse order when `main` returns or fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from reconciler.api.backend import Backend, connect
from reconciler.clock import Clock
from reconciler.engine.context import Runtime
from reconciler.store.connect import open_store
from reconciler.store.location import Remote

T = TypeVar("T")


@dataclass(frozen=True)
class Site:
    """Where a command acts: the backend and the store, as the command line names them."""

    backend: Backend
    store_root: Path  # the store, or the local cache of `remote`
    remote: Remote | None = None  # a shared bucket
    lease_s: float | None = None  # how long a claim in the bucket lasts without renewal


@dataclass(frozen=True)
class World:
    """The opened site: what the engine acts on, and how fast jobs are known to run there."""

    runtime: Runtime
    latency_scale: float | None  # None: each model's latency is learned on the backend


def run_on(site: Site, main: Callable[[World], Awaitable[T]], *, clock: Clock) -> T:
    """Open `site`, run `main` on it on a fresh event loop, close it; what `main` returns."""
    with (
        connect(site.backend) as endpoint,
        open_store(site.store_root, site.remote, clock=clock, lease_s=site.lease_s) as store,
    ):

        async def inside() -> T:
            async with endpoint.client() as api:
                runtime = Runtime(api=api, store=store, clock=clock, namespace=endpoint.namespace)
                return await main(World(runtime, endpoint.latency_scale))

        return asyncio.run(inside())
