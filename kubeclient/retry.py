"""Sending a request again while the API is away: one policy, jittered exponential backoff.

`RetryPolicy()` is the one set of defaults (a command on a laptop or in CI may wait
half a minute for an API server to come back). A process on the hot path of pod
creation names its own, tighter policy (`agent.kube.AGENT_RETRY`).
"""

from __future__ import annotations

import random
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


def retrying(call: Callable[[], T], policy: RetryPolicy, *, budget: float | None = None,
             unguarded: bool = False) -> T:
    """`call()` again while its ApiError is `retryable`, for up to `budget` (default: the policy's) seconds."""
    deadline = time.monotonic() + (policy.budget_seconds if budget is None else budget)
    delay = policy.first_delay
    while True:
        try:
            return call()
        except ApiError as error:
            if not retryable(error, unguarded=unguarded) or time.monotonic() + delay > deadline:
                raise
        policy.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, policy.max_delay)
