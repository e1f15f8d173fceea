"""Sending a request again while the API is away: one policy, jittered exponential backoff.

`RetryPolicy()` is the one set of defaults (a command on a laptop or in CI may wait
half a minute for an API server to come back). A process on the hot path of pod
creation names its own, tighter policy (`agent.kube.AGENT_RETRY`).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from .errors import ApiError, retryable

T = TypeVar("T")


@dataclass
class RetryPolicy:
    budget_seconds: float = 30.0  # how long one request is retried before its error is raised
    request_timeout: float = 20.0  # seconds for one request to connect and answer
    first_delay: float = 0.1
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep


class RunBudget:
    """One retry window for every request of a run (an apply of N objects, say): it opens at the
    run's first retryable failure and lasts the policy's budget in wall time, however many requests
    back off at once. So N requests failing alike cost one budget, not N, and `--retry-budget 30`
    rides out a 30-second outage whatever the concurrency. Thread-safe; `reset()` starts a new run."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.opened: float | None = None  # when the run first backed off

    def reset(self) -> None:
        with self._lock:
            self.opened = None

    def take(self, seconds: float, limit: float) -> bool:
        """Back off `seconds`? False when that would end past `limit` seconds after the window opened."""
        with self._lock:
            now = self._clock()
            if self.opened is None:
                self.opened = now
            return now + seconds - self.opened <= limit


def retrying(call: Callable[[], T], policy: RetryPolicy, *, budget: float | None = None,
             unguarded: bool = False, shared: RunBudget | None = None) -> T:
    """`call()` again while its ApiError is `retryable`, for up to `budget` (default: the policy's)
    seconds — or, with `shared`, while the run's shared backoff stays within the policy's budget."""
    deadline = time.monotonic() + (policy.budget_seconds if budget is None else budget)
    delay = policy.first_delay
    while True:
        try:
            return call()
        except ApiError as error:
            if not retryable(error, unguarded=unguarded):
                raise
            pause = delay * (0.5 + random.random())
            if shared is not None:
                if not shared.take(pause, policy.budget_seconds):
                    raise
            elif time.monotonic() + delay > deadline:
                raise
        policy.sleep(pause)
        delay = min(delay * 2, policy.max_delay)
