"""The guarantees, each a named check over a finished `Sim`: what it found wrong, as sentences.

    failures = check(sim)      # {"no_duplicate_purchase": [...], ...}, only the broken ones

The verdict comes from outside the engine: the fake's jobs, journal and files (what was paid for,
what was made), the store read back from disk, `out/`, the tags the fake embeds in every video,
and what the wire saw as each request left (sim.violations, sim.sent).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from mockserver.media import read_tags
from reconciler import catalog
from reconciler.records import AttemptState
from reconciler.store import Store
from reconciler.store.layout import output_path
from tests.stateful.sim import CREDITS, FIRST_PID, Sim, sha256

# Status polls one job may take in the fault-free catch-up: the first look comes at the model's
# expected latency, later ones at 10 %, 16 %, 26 % ... of it, and the fake's jobs end within
# +/-20 % (plus queueing) of that latency: three or four looks, and six leaves room for jitter.
POLLS_PER_JOB = 6
NEVER_RETRIED = {400, 401, 403, 406}
# Temporary failures of one key that apply may buy again in a row before it shows it failed for good.
FAILURES_IN_A_ROW = 3


def _failed_for_good(jobs: list[dict[str, Any]]) -> bool:
    """Judged from the fake's own records: its moderation blocked the last job (the prompt was on its
    block list), or the last FAILURES_IN_A_ROW jobs all failed. Never from the engine's classifier."""
    if not jobs or jobs[-1]["outcome"] != "FAILED":
        return False
    tail = jobs[-FAILURES_IN_A_ROW:]
    return jobs[-1]["blocked_term"] is not None or (
        len(tail) == FAILURES_IN_A_ROW and all(job["outcome"] == "FAILED" for job in tail)
    )


def _jobs_by_key(sim: Sim) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    strays = []
    for job in sim.jobs():
        key = sim.ever_wanted.get(job["key"])
        if key is None:
            strays.append(f"job {job['id']} was made for a request no spec ever asked for")
        else:
            grouped[key].append(job)
    return grouped, strays


def no_duplicate_purchase(sim: Sim) -> list[str]:
    """Each key has one job on the fake, unless every earlier one failed (for good: only with --retry-failed)."""
    grouped, problems = _jobs_by_key(sim)
    maker = {job["id"]: engine for engine, job in _job_makers(sim)}
    for key, jobs in grouped.items():
        jobs.sort(key=lambda j: j["submitted_at"])
        for index, (earlier, later) in enumerate(itertools.pairwise(jobs)):
            if earlier["outcome"] != "FAILED":
                problems.append(f"{key[:19]} bought {len(jobs)} times although job {earlier['id']} succeeded")
            elif _failed_for_good(jobs[: index + 1]) and not _asked_to_retry(
                sim, maker[later["id"]], key, after=earlier["submitted_at"]
            ):
                why = "a content block" if earlier["blocked_term"] else f"{FAILURES_IN_A_ROW} failures in a row"
                problems.append(f"{key[:19]} bought again after {why}, without --retry-failed")
    return problems


def _asked_to_retry(sim: Sim, engine: int, key: str, *, after: float) -> bool:
    """Did an apply with --retry-failed intend this purchase? The one that made it, or one whose claim
    on the key (after the failed job) it carried on: an in-doubt claim that the history showed never
    reached the API is submitted by the next apply, finishing what was asked."""
    if sim.engines[engine].retry_failed:
        return True
    with sqlite3.connect(f"file:{sim.store_root / 'state.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT owner_pid FROM attempts WHERE key = ? AND claimed_at >= ?", (key, after))
        owners = [pid for (pid,) in rows]
    claimants = {pid - FIRST_PID for pid in owners if pid >= FIRST_PID}
    return any(sim.engines[n].retry_failed for n in claimants if n < engine)


def no_lost_result(sim: Sim) -> list[str]:
    """Every completed job the store knows of is stored, byte for byte as the fake made it."""
    grouped, _ = _jobs_by_key(sim)
    problems = []
    with Store.open_readonly(sim.store_root, clock=sim.clock) as view:
        for key, jobs in grouped.items():
            known = view.request_ids(key)
            output = view.outputs_for([key]).get(key)
            for job in jobs:
                if job["outcome"] != "COMPLETED" or job["id"] not in known:
                    continue
                if output is None:
                    problems.append(f"job {job['id']} completed and was recorded, but {key[:19]} is not stored")
                elif output.request_id != job["id"]:
                    problems.append(f"{key[:19]} is stored from {output.request_id}, not from its job {job['id']}")
                elif sha256(sim.file_bytes(job["id"])) != output.digest:
                    problems.append(f"{key[:19]}'s stored bytes differ from what the fake made for {job['id']}")
                elif sha256(view.blob_path(output.digest).read_bytes()) != output.digest:
                    problems.append(f"blob {output.digest[:19]} on disk does not hash to its name")
    return problems


def no_phantom_result(sim: Sim) -> list[str]:
    """Every stored video carries its key's request id and request digest; out/ shows the right one."""
    digest_of = {key: digest for digest, key in sim.ever_wanted.items()}
    problems = []
    with Store.open_readonly(sim.store_root, clock=sim.clock) as view:
        for output in view.all_outputs():
            tags = read_tags(view.blob_path(output.digest))
            if tags.get("request_id") != output.request_id:
                problems.append(
                    f"{output.key[:19]}'s video was made by {tags.get('request_id')}, not {output.request_id}"
                )
            if tags.get("request_digest") != digest_of.get(output.key):
                problems.append(f"{output.key[:19]}'s video answers another request ({tags.get('request_digest')})")
        for desired in sim.desired_entries():
            stored = view.outputs_for([desired.key]).get(desired.key)
            if stored is None:
                continue
            path = output_path(sim.out_dir, desired.entry.name)
            if not path.is_file() or sha256(path.read_bytes()) != stored.digest:
                problems.append(f"out/{desired.entry.name}.mp4 is not the video stored for its spec")
    return problems


def write_ahead(sim: Sim) -> list[str]:
    """The intent was committed before each submit left; each request id before its first poll."""
    return [what for name, what in sim.violations if name == "write_ahead"]


def convergence(sim: Sim) -> list[str]:
    """After the catch-up every spec is stored or failed for good, and one more apply sends nothing."""
    problems = []
    desired = sim.desired_entries()
    grouped, _ = _jobs_by_key(sim)
    with sim.plan_view() as view:  # what `reconciler plan` reads (with a shared store, the bucket too)
        observed = view.observe({d.key for d in desired})
    for d in desired:
        if d.key in observed.stored:
            continue
        attempt = observed.attempts.get(d.key)
        jobs = sorted(grouped.get(d.key, []), key=lambda j: j["submitted_at"])
        if attempt is None or attempt.state is not AttemptState.FAILED or not _failed_for_good(jobs):
            state = "never attempted" if attempt is None else f"{attempt.state.value} ({attempt.error})"
            problems.append(f"spec {d.entry.name} did not settle: {state}")
    assert sim.final_check_from is not None, "catch_up() was not run"
    idle = sim.sent[sim.final_check_from :]
    if idle:
        shown = ", ".join(f"{s.method} {s.path}" for s in idle[:5])
        problems.append(f"an apply with nothing to do still sent {len(idle)} requests: {shown}")
    return problems


def polite(sim: Sim) -> list[str]:
    """Retry-After honoured; no poll of a settled job; 400/401/403/406 never repeated; few polls per job."""
    problems = [what for name, what in sim.violations if name == "polite"]
    refused: dict[tuple[int, str, str, str], int] = {}
    for sent in sim.sent:
        same = (sent.engine, sent.method, sent.path, repr(sent.body))
        if same in refused:
            problems.append(f"{sent.method} {sent.path} sent again by apply {sent.engine} after a {refused[same]}")
        if sent.status in NEVER_RETRIED:
            refused[same] = sent.status
    assert sim.catch_up_from is not None
    assert sim.final_check_from is not None
    polls: dict[tuple[int, str], int] = defaultdict(int)
    for sent in sim.sent[sim.catch_up_from : sim.final_check_from]:
        if sent.path.endswith("/status"):
            polls[(sent.engine, sent.path)] += 1
    problems += [
        f"apply {engine} polled {path} {count} times in the fault-free catch-up (at most {POLLS_PER_JOB})"
        for (engine, path), count in polls.items()
        if count > POLLS_PER_JOB
    ]
    return problems


def budget(sim: Sim) -> list[str]:
    """The account is charged at most once per key, and no apply spends past its --max-cost."""
    grouped, _ = _jobs_by_key(sim)
    problems = []
    charged = round(CREDITS - sim.balance(), 6)
    once_each = round(sum(catalog.BY_SLUG[jobs[0]["model"]].avg_cost_usd for jobs in grouped.values()), 6)
    if charged > once_each + 1e-6:
        problems.append(f"the account was charged ${charged:.3f}, more than once per key (${once_each:.3f})")
    spent: dict[int, float] = defaultdict(float)
    for engine, job in _job_makers(sim):
        spent[engine] += job["cost_usd"]
    for engine in sim.engines:
        if engine.max_cost_usd is not None and spent[engine.number] > engine.max_cost_usd + 1e-6:
            problems.append(
                f"apply {engine.number} bought ${spent[engine.number]:.3f} of jobs with --max-cost {engine.max_cost_usd}"
            )
    return problems


def _job_makers(sim: Sim) -> list[tuple[int, dict[str, Any]]]:
    """Which apply's submit made each job: the wire's submits that reached the fake, in order, against its journal."""
    reached = [s for s in sim.submits() if not s.refused]
    made = [e for e in sim.journal() if e["method"] == "POST" and e["path"] in {s.path for s in reached}]
    jobs = {job["id"]: job for job in sim.jobs()}
    if len(reached) != len(made):
        raise AssertionError(f"the wire sent {len(reached)} submits and the fake's journal holds {len(made)}")
    return [(s.engine, jobs[e["request_id"]]) for s, e in zip(reached, made, strict=True) if e["created_job"]]


INVARIANTS: tuple[Callable[[Sim], list[str]], ...] = (
    no_duplicate_purchase,
    no_lost_result,
    no_phantom_result,
    write_ahead,
    convergence,
    polite,
    budget,
)


def check(sim: Sim) -> dict[str, list[str]]:
    """Every invariant that failed, by name, with what it found."""
    found = {check.__name__: check(sim) for check in INVARIANTS}
    return {name: problems for name, problems in found.items() if problems}


def report(failures: dict[str, list[str]]) -> str:
    return "\n".join(
        f"invariant {name} broken:\n" + "\n".join(f"  - {p}" for p in problems) for name, problems in failures.items()
    )
