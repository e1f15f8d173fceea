"""When the GitOps loop acts, and why: pure decisions over the loop's memory and the clock's reading.

The loop (`loop.py`) wakes on a timer, a webhook, a watched directory or SIGHUP, reads its
source, and asks `decide` whether to reconcile:

    the source shows a fingerprint not seen before      -> "new"        (a push, an edit)
    the last attempt failed and its backoff has elapsed  -> "retry"      (same revision again)
    someone asked (SIGHUP)                               -> "requested"
    an interval passed since the last check              -> "drift"      (re-plan the applied revision)
    otherwise                                            -> nothing

A revision that did not validate is never retried and never drift-checked: the working copy
holds that revision, the cluster holds the last good one, and only a new revision moves on.
Failures (apply or API errors, an unreadable source) back off exponentially, bounded by
`backoff_max`; polling for new revisions goes on at the interval meanwhile, so a fix pushed
during a backoff is applied at once. Nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    interval: float = 60.0          # seconds between polls / drift checks
    jitter: float = 0.1             # +- fraction of the interval, so many loops do not poll in step
    backoff_first: float = 1.0      # first retry delay after a failure
    backoff_max: float = 300.0      # retries never wait longer than this


@dataclass(frozen=True)
class Memory:
    """What the loop remembers between wake-ups."""

    fingerprint: str | None = None  # the snapshot last acted on
    invalid: bool = False           # ... and it did not validate
    failures: int = 0               # consecutive failed attempts (apply/API errors, unreadable source)
    retry_at: float = 0.0           # monotonic time of the next retry after a failure
    checked_at: float | None = None  # monotonic time of the last reconcile or drift check


def decide(memory: Memory, *, fingerprint: str, now: float, timing: Timing, requested: bool = False) -> str | None:
    if fingerprint != memory.fingerprint:
        return "new"
    if memory.invalid:
        return None
    if memory.failures:
        return "retry" if now >= memory.retry_at else None
    if requested:
        return "requested"
    if memory.checked_at is None or now - memory.checked_at >= timing.interval * (1 - timing.jitter):
        return "drift"
    return None


def backoff(failures: int, timing: Timing) -> float:
    """Seconds before retry number `failures` (1, 2, 4, ... capped)."""
    if failures <= 0:
        return 0.0
    return min(timing.backoff_max, timing.backoff_first * 2 ** min(failures - 1, 30))


def after_attempt(memory: Memory, *, fingerprint: str, outcome: str, now: float, timing: Timing) -> Memory:
    """Memory after acting on `fingerprint`; outcome is ok | invalid | failed."""
    if outcome == "failed":
        failures = memory.failures + 1 if fingerprint == memory.fingerprint else 1
        return Memory(fingerprint, False, failures, now + backoff(failures, timing), now)
    return Memory(fingerprint, outcome == "invalid", 0, 0.0, now)


def after_source_error(memory: Memory, *, now: float, timing: Timing) -> Memory:
    failures = memory.failures + 1
    return dataclasses.replace(memory, failures=failures, retry_at=now + backoff(failures, timing))


def next_wait(memory: Memory, *, now: float, timing: Timing, unit_random: float) -> float:
    """Seconds to sleep before the next look at the source; `unit_random` is uniform in [0, 1)."""
    jittered = timing.interval * (1 + timing.jitter * (2 * unit_random - 1))
    if memory.failures:
        return max(0.0, min(jittered, memory.retry_at - now))
    return max(0.0, jittered)
