"""The job table: every accepted request, and its state as a pure function of time.

A job's whole life is decided when it is created: when a worker picks it up, when it finishes,
and whether it completes or fails (a blocked prompt, or the configured failure rate). Its state at
any moment is then read off those timestamps and the clock, so there are no background tasks and
a test that advances the clock sees exactly the states a model of the server predicts.
"""

from __future__ import annotations

import enum
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mockserver.config import MockConfig
from reconciler.catalog import Model


class JobState(enum.Enum):
    """The states of the real service, in the only order they can happen."""

    QUEUED = "QUEUED"  # accepted, waiting for a worker
    PROCESSING = "PROCESSING"  # a worker is generating the video
    COMPLETED = "COMPLETED"  # the video is ready
    FAILED = "FAILED"  # it errored; content-policy blocks included

    @property
    def terminal(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED)


class Api(enum.Enum):
    """How the job was submitted."""

    V1 = "v1"  # synchronous: the submitting request waited for the video
    V2 = "v2"  # asynchronous: submit, then poll


@dataclass(frozen=True)
class Job:
    """One accepted request and its predetermined life."""

    id: str
    index: int  # creation order since the last reset
    model: str
    api_key: str
    api: Api
    body: dict[str, Any]  # exactly as sent, for the request history
    params: dict[str, Any]  # coerced, every default filled in
    digest: str  # reconciler.catalog.request_digest of params
    seed: int  # the seed the video used (drawn when the request left it null)
    cost_usd: float
    submitted_at: float
    started_at: float
    finished_at: float
    outcome: JobState  # COMPLETED or FAILED
    error: str | None
    blocked_term: str | None = None  # the block-list term that failed it, if moderation did

    def state_at(self, now: float) -> JobState:
        if now >= self.finished_at:
            return self.outcome
        if now >= self.started_at:
            return JobState.PROCESSING
        return JobState.QUEUED

    def expires_at(self, retention_s: float) -> float:
        """The first moment its status and result are no longer served."""
        return self.finished_at + retention_s

    @property
    def file_name(self) -> str:
        return f"{self.id}.mp4"


def blocked_term(prompt: str, block_list: list[str]) -> str | None:
    """The first block-list term the prompt contains as a whole word, ignoring case."""
    for term in block_list:
        if term.strip() and re.search(rf"(?<!\w){re.escape(term.strip())}(?!\w)", prompt, re.IGNORECASE):
            return term.strip()
    return None


def policy_message(term: str) -> str:
    # Worded like the refusals of real moderation filters; the term is named so a user can fix the prompt.
    return (
        "Input data may contain inappropriate content: the prompt was blocked by the content policy's"
        f" moderation filter (flagged term: {term!r}). Revise the prompt and submit again."
    )


class JobTable:
    """Jobs by id, created with seeded ids and seeded timings so a seed replays a whole run."""

    def __init__(self, *, seed: int) -> None:
        self._seed = seed
        self._ids = random.Random(seed)
        self._jobs: dict[str, Job] = {}

    def reset(self, *, seed: int) -> None:
        self._seed = seed
        self._ids = random.Random(seed)
        self._jobs.clear()

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs.values())

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def create(
        self,
        *,
        model: Model,
        api_key: str,
        api: Api,
        body: dict[str, Any],
        params: dict[str, Any],
        digest: str,
        now: float,
        config: MockConfig,
    ) -> Job:
        index = len(self._jobs)
        job_id = self._fresh_id()
        # One generator per job, seeded by the run's seed and the job's place in it: the same
        # sequence of submits replays the same timings, failures and drawn seeds.
        draw = random.Random(f"{self._seed}/{index}")
        latency = config.latency_s.get(model.slug, model.avg_latency_s) * config.time_scale
        queue = latency * config.queue_share * (1 + draw.uniform(-config.jitter, config.jitter))
        run = latency * (1 - config.queue_share) * (1 + draw.uniform(-config.jitter, config.jitter))
        fails_randomly = draw.random() < config.failure_rate
        drawn_seed = draw.randrange(2**31)
        seed_value = params.get(model.seed_param)
        started = now + queue
        finished = started + run
        outcome, error = JobState.COMPLETED, None
        term = blocked_term(str(params.get("prompt", "")), config.block_list)
        if term is not None:
            # Moderation runs when a worker picks the job up: it fails without ever processing.
            outcome, error, finished = JobState.FAILED, policy_message(term), started
        elif fails_randomly:
            outcome, error = JobState.FAILED, config.failure_error
        job = Job(
            id=job_id,
            index=index,
            model=model.slug,
            api_key=api_key,
            api=api,
            body=body,
            params=params,
            digest=digest,
            seed=seed_value if isinstance(seed_value, int) else drawn_seed,
            cost_usd=config.cost_usd.get(model.slug, model.avg_cost_usd),
            submitted_at=now,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            error=error,
            blocked_term=term,
        )
        self._jobs[job_id] = job
        return job

    def _fresh_id(self) -> str:
        while True:
            candidate = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
            if candidate not in self._jobs:
                return candidate
