"""What an apply run tells the world: one event per state change of a generation, and a summary.

The engine decides; displays (a live table, log lines, JSON lines) only show these values. A
generation is one key: the specs that share a request share its events (`names`).

    Phase                 where one generation stands; the last five are final
    JobEvent              a generation moved to a phase (with request id, cost, detail)
    RunEvent              something about the whole run (stopping, rate limited, budget reached)
    Outcome, Summary      how each generation ended, and the run's totals and exit code
    Emit                  where events go (a display, a list in tests)
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class Phase(enum.Enum):
    """Where one generation stands in this run."""

    WAITING = "waiting"  # another run on this store holds its claim; waiting for that run
    UPLOADING = "uploading"  # uploading a local image it needs
    SUBMITTING = "submitting"  # the paid submit is on the wire
    LOOKING_UP = "looking-up"  # outcome of a submit unknown: searching the account's request history
    QUEUED = "queued"  # the API accepted it and has not started it
    PROCESSING = "processing"  # the API is generating it
    RECOVERING = "recovering"  # its result expired on the API: fetching it through the request history
    DOWNLOADING = "downloading"  # streaming the video into the store
    STORED = "stored"  # final: in the store and laid out
    FAILED = "failed"  # final: the API refused or failed it (see detail); not retried in this run
    SKIPPED = "skipped"  # final: not submitted (budget, credits, a stop, a bad key); nothing paid
    IN_DOUBT = "in-doubt"  # final: may have been submitted and the history could not tell; needs attention
    UNFINISHED = "unfinished"  # final: paid and recorded, not yet stored; the next apply resumes it

    @property
    def final(self) -> bool:
        return self in FINAL_PHASES


FINAL_PHASES = frozenset({Phase.STORED, Phase.FAILED, Phase.SKIPPED, Phase.IN_DOUBT, Phase.UNFINISHED})


class StopReason(enum.Enum):
    """Why a run stopped submitting before the plan was done."""

    BUDGET = "budget"  # the next submit would have passed --max-cost
    CREDITS = "credits"  # the API answered 406: the account cannot pay
    AUTH = "auth"  # the API answered 401/403: nothing can succeed with this key
    INTERRUPTED = "interrupted"  # Ctrl-C (or SIGTERM)


@dataclass(frozen=True)
class JobEvent:
    """A generation moved to `phase` at time `at`."""

    at: float
    key: str
    names: tuple[str, ...]
    model: str
    phase: Phase
    request_id: str | None = None
    detail: str = ""  # a sentence for people: the server's error, why it was skipped, what was adopted
    est_cost_usd: float = 0.0  # what submitting it was estimated to cost (0 when this run paid nothing)
    cost_usd: float | None = None  # what the API reported it cost, when it says


@dataclass(frozen=True)
class RunEvent:
    """Something about the whole run, e.g. `stopping` with a StopReason, or `rate-limited`."""

    at: float
    kind: str
    detail: str
    reason: StopReason | None = None


@dataclass(frozen=True)
class Outcome:
    """How one generation ended in this run."""

    key: str
    names: tuple[str, ...]
    model: str
    phase: Phase  # one of FINAL_PHASES
    request_id: str | None
    detail: str
    paid_here: bool  # this run submitted it (a new paid job), as opposed to resuming or adopting one
    est_cost_usd: float
    cost_usd: float | None
    digest: str | None = None


class ExitCode(enum.IntEnum):
    """What apply's exit status says, for scripts and CI (documented in docs/commands.md, "Exit codes")."""

    DONE = 0  # every targeted spec is stored
    FAILED = 1  # something failed (or could not be finished); see the summary
    STOPPED = 3  # submitting stopped early: --max-cost reached, or the account is out of credits
    IN_DOUBT = 4  # a submit's outcome is unknown and the history could not settle it
    INTERRUPTED = 130  # Ctrl-C; the next apply resumes what is in flight


@dataclass(frozen=True)
class Summary:
    """The totals of one apply run."""

    outcomes: tuple[Outcome, ...]
    up_to_date: int  # specs already stored when the run began
    stop: StopReason | None
    started_at: float
    finished_at: float
    laid_out: int = 0  # specs whose out/ file is in place at the end
    command: str = "apply"  # the command that ran (apply or watch), for the summary's first word

    @property
    def est_cost_usd(self) -> float:
        """Estimated cost of the jobs this run submitted."""
        return round(sum(o.est_cost_usd for o in self.outcomes if o.paid_here), 6)

    @property
    def cost_usd(self) -> float:
        """Cost the API reported for jobs this run submitted (those it reported)."""
        return round(sum(o.cost_usd or 0.0 for o in self.outcomes if o.paid_here), 6)

    @property
    def submitted(self) -> int:
        return sum(1 for o in self.outcomes if o.paid_here)

    def count(self, phase: Phase) -> int:
        return sum(1 for o in self.outcomes if o.phase is phase)

    @property
    def exit_code(self) -> ExitCode:
        if self.stop is StopReason.INTERRUPTED:
            return ExitCode.INTERRUPTED
        if self.stop is StopReason.AUTH or self.count(Phase.FAILED) or self.count(Phase.UNFINISHED):
            return ExitCode.FAILED
        if self.count(Phase.IN_DOUBT):
            return ExitCode.IN_DOUBT
        if self.stop in (StopReason.BUDGET, StopReason.CREDITS) or self.count(Phase.SKIPPED):
            return ExitCode.STOPPED
        return ExitCode.DONE


Emit = Callable[[JobEvent | RunEvent], None]
