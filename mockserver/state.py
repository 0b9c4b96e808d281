"""Everything one fake server knows, held in one object that its app owns.

There is no module-level state: `create_app` builds one `MockState` and every route reads and
changes it. All changes happen in synchronous steps on the event loop, so a check and the change
it guards (a balance and the reservation taken against it) can never interleave with another
request.
"""

from __future__ import annotations

from mockserver.clock import VirtualClock
from mockserver.config import MockConfig
from mockserver.credits import Ledger
from mockserver.faults import FaultSchedule
from mockserver.jobs import Job, JobTable
from mockserver.journal import Journal
from mockserver.media import MediaCache, Video, picture_for
from mockserver.ratelimit import RateLimiter
from mockserver.uploads import AssetStore
from reconciler import catalog


class MockState:
    """Configuration, clock, jobs, balances, journal, limits, faults, media and uploads."""

    def __init__(self, *, config: MockConfig, clock: VirtualClock) -> None:
        self.config = config
        self.clock = clock
        self.jobs = JobTable(seed=config.seed)
        self.ledger = Ledger()
        self.journal = Journal(limit=config.journal_limit)
        self.limiter = RateLimiter()
        self.faults = FaultSchedule(seed=config.seed)
        self.media = MediaCache(entries=config.media.cache_entries)
        self.assets = AssetStore()
        self.garbage_served = 0

    def reconfigure(self, config: MockConfig, *, rearm: bool = False) -> None:
        """Take a new configuration; `rearm` restarts the fault schedule even if its rules are unchanged."""
        previous, self.config = self.config, config
        if rearm or config.faults != previous.faults or config.seed != previous.seed:
            self.faults.reset(seed=config.seed)
        if config.journal_limit != previous.journal_limit:
            self.journal.resize(config.journal_limit)
        if config.media.cache_entries != previous.media.cache_entries:
            self.media = MediaCache(entries=config.media.cache_entries)

    def reset(self) -> None:
        """Forget every job, journal entry, balance change, upload and fault count."""
        self.jobs.reset(seed=self.config.seed)
        self.ledger.reset()
        self.journal.clear()
        self.limiter.reset()
        self.faults.reset(seed=self.config.seed)
        self.assets.clear()
        self.garbage_served = 0

    def balance(self, key: str) -> float:
        return self.ledger.balance(key, start=self.config.keys.get(key, 0.0), now=self.clock.now())

    def video(self, job: Job) -> Video:
        model = catalog.BY_SLUG[job.model]
        media = self.config.media
        picture = picture_for(model, job.params, job.seed, media)
        return self.media.video(picture, request_id=job.id, digest=job.digest, pad_to=media.pad_output_bytes)
