"""The fake's whole configuration: one pydantic model, validated, partially updatable.

Everything a test or a user can turn (keys and credits, timing, block list, faults, rate limit,
retention, media size) lives here, so `PUT /_mock/config`, `--config FILE` and `create_app` all
speak the same shape. A partial update is deep-merged into the current configuration and
validated as a whole, so a bad patch changes nothing; a null in a patch removes what it names.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconciler.catalog import SLUGS

FAILURE_ERROR = "Inference failed: the worker crashed while generating the video (simulated failure)."


class Route(enum.Enum):
    """The public routes a fault rule can target."""

    ANY = "any"  # every public route
    SYNC = "sync"  # POST /v1/{slug}
    SUBMIT = "submit"  # POST /v2/{slug}
    STATUS = "status"  # GET /v2/requests/{id}/status
    RESULT = "result"  # GET /v2/requests/{id}
    FILES = "files"  # GET|HEAD /files/{name}
    HISTORY = "history"  # GET /inference-request/request-history[/{id}]
    UPLOAD = "upload"  # POST /upload-asset


class FaultKind(enum.Enum):
    """What can go wrong on the wire."""

    RATE_LIMITED = "429"  # 429 with Retry-After, as a busy gateway answers
    SERVER_ERROR = "500"  # 500 with a JSON error
    BAD_GATEWAY = "502"  # 502 with a JSON error
    GATEWAY_TIMEOUT = "504"  # 504 with a JSON error
    LATENCY = "latency"  # the real answer, after an added wall-clock delay
    DROP = "drop"  # headers arrive, then the connection closes before the body
    TRUNCATE = "truncate"  # the real answer cut in half (correctly framed, so the body is broken)
    GARBAGE = "garbage"  # 200 with bytes that are not what the route serves


class Phase(enum.Enum):
    """When a fault strikes a submit (other routes create nothing, so phase does not matter)."""

    BEFORE = "before"  # before the job is created: nothing happened
    AFTER = "after"  # after the job is created: it exists but the client never hears so
    EITHER = "either"  # before or after, drawn from the seed for each fault


class ClockMode(enum.Enum):
    """How the server's time passes."""

    VIRTUAL = "virtual"  # only when told: POST /_mock/clock {"advance": s}, or a sync call's wait
    REAL = "real"  # with the wall clock, from wherever the virtual clock stood


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class FaultRule(_Strict):
    """One seeded source of faults for the requests that match it.

    Either `script` (the n-th matching request gets the n-th entry, null meaning no fault; past its
    end nothing more happens) or `probabilities` (each matching request draws independently).
    """

    route: Route = Route.ANY
    model: str | None = None  # a slug; None matches every model (and routes without one)
    probabilities: dict[FaultKind, float] = Field(default_factory=dict)
    script: list[FaultKind | None] | None = None
    phase: Phase = Phase.BEFORE
    latency_s: float = Field(default=0.5, ge=0, le=120)
    retry_after_s: int = Field(default=1, ge=0, le=3600)

    @model_validator(mode="after")
    def _one_source(self) -> FaultRule:
        if self.script is not None and self.probabilities:
            raise ValueError("a fault rule has either a script or probabilities, not both")
        if any(not 0 <= p <= 1 for p in self.probabilities.values()):
            raise ValueError("fault probabilities must be between 0 and 1")
        if sum(self.probabilities.values()) > 1 + 1e-9:
            raise ValueError("fault probabilities of one rule must add up to at most 1")
        if self.model is not None and self.model not in SLUGS:
            raise ValueError(f"unknown model {self.model!r}: one of {', '.join(SLUGS)}")
        return self


class RateLimit(_Strict):
    """A token bucket per key: `per_minute` refill, `burst` capacity; None means no limit."""

    per_minute: float | None = Field(default=None, gt=0)
    burst: int = Field(default=10, ge=1)


class Media(_Strict):
    """How the generated videos look: tiny, low frame rate, optionally padded for size tests."""

    longest_side: int = Field(default=160, ge=16, le=1920)
    fps: int = Field(default=8, ge=1, le=30)
    pad_output_bytes: int = Field(default=0, ge=0)
    cache_entries: int = Field(default=256, ge=1)


class MockConfig(_Strict):
    """The whole configuration of one fake server."""

    keys: dict[str, float] = Field(default_factory=lambda: {"mock-key": 1000.0})  # key -> credits in USD
    seed: int = 0
    time_scale: float = Field(default=0.01, ge=0)  # job time = model latency * time_scale
    queue_share: float = Field(default=0.2, ge=0, le=1)  # share of a job's time spent QUEUED
    jitter: float = Field(default=0.2, ge=0, lt=1)  # +/- share of seeded noise on job times
    latency_s: dict[str, float] = Field(default_factory=dict)  # per-model override of avg latency
    cost_usd: dict[str, float] = Field(default_factory=dict)  # per-model override of avg cost
    failure_rate: float = Field(default=0.0, ge=0, le=1)  # share of jobs that fail for no reason
    # The error those jobs report: a crash by default; a moderation refusal's words to play a filter.
    failure_error: str = Field(default=FAILURE_ERROR, min_length=1, max_length=2000)
    block_list: list[str] = Field(default_factory=lambda: ["nsfw"])  # case-insensitive words
    retention_s: float = Field(default=3600.0, ge=0)  # results readable until finish + retention
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    faults: list[FaultRule] = Field(default_factory=list)
    media: Media = Field(default_factory=Media)
    journal_limit: int = Field(default=100_000, ge=0)  # oldest entries are dropped beyond it
    public_url: str | None = None  # base of the URLs handed out; None: the request's own base

    @model_validator(mode="after")
    def _known_models(self) -> MockConfig:
        for table in (self.latency_s, self.cost_usd):
            for slug, value in table.items():
                if slug not in SLUGS:
                    raise ValueError(f"unknown model {slug!r}: one of {', '.join(SLUGS)}")
                if value < 0:
                    raise ValueError(f"{slug}: must not be negative")
        if any(v < 0 for v in self.keys.values()):
            raise ValueError("credits must not be negative")
        return self

    def merged(self, patch: dict[str, Any]) -> MockConfig:
        """A new configuration with `patch` deep-merged in; raises pydantic.ValidationError."""
        return MockConfig.model_validate(deep_merge(self.model_dump(mode="json"), patch))

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) is replaced whole.

    A null removes what it names: an entry of a mapping (a key, a per-model override), or a
    field, which then takes its default (so `{"rate_limit": {"per_minute": null}}` lifts the limit).
    """
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
