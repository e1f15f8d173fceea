"""Fault injection: make a share of requests fail or crawl, deterministically.

Code that talks to a cluster must survive 409 Conflicts from concurrent writers, transient
500s and slow answers; the real server produces those only under load. Here a test can ask
for them: `configure(conflict_rate=, error_rate=, slow_rate=, slow_seconds=, seed=)` makes
that share of matching requests (writes by default) answer 409 Conflict, 500 InternalError
or wait before being served, drawing from a `random.Random(seed)` -- the same sequence of
requests gets the same faults. `fail_next()` queues exact faults for the next requests.
`verbs=` picks the requests: any of get, list, watch, create, update, patch, delete,
deletecollection (reads are perturbed only when named; a "conflict" drawn for a read is
answered 429 TooManyRequests, as a read cannot conflict); `resources=` (plural names such as
"spiderippools") narrows them to some resources. Everything is off until
configured; `reset()` turns it off again.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import dataclass

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Fault:
    kind: str  # "conflict" | "error" | "slow"
    seconds: float = 0.0


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[tuple[Fault, frozenset]] = deque()
        self.injected: Counter = Counter()
        self.reset()

    def configure(self, *, conflict_rate: float = 0.0, error_rate: float = 0.0, slow_rate: float = 0.0,
                  slow_seconds: float = 0.5, seed: int = 0, verbs=WRITE_VERBS, resources=None) -> None:
        if min(conflict_rate, error_rate, slow_rate) < 0 or conflict_rate + error_rate + slow_rate > 1:
            raise ValueError("fault rates must be >= 0 and sum to at most 1")
        with self._lock:
            self._rates = (conflict_rate, error_rate, slow_rate)
            self._slow_seconds = slow_seconds
            self._rng = random.Random(seed)
            self._verbs = frozenset(verbs)
            self._resources = frozenset(resources) if resources else None

    def fail_next(self, count: int = 1, *, kind: str = "conflict", seconds: float = 0.5,
                  verbs=WRITE_VERBS, resources=None) -> None:
        if kind not in ("conflict", "error", "slow"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._queue.extend([(Fault(kind, seconds), frozenset(verbs),
                                 frozenset(resources) if resources else None)] * count)

    def reset(self) -> None:
        with self._lock:
            self._rates = (0.0, 0.0, 0.0)
            self._slow_seconds = 0.0
            self._rng = random.Random(0)
            self._verbs = WRITE_VERBS
            self._resources = None
            self._queue.clear()
            self.injected.clear()

    def decide(self, verb: str, resource: str = "") -> Fault | None:
        """The fault for one request with this verb (on this resource), if any (called once per request)."""
        with self._lock:
            if self._queue and verb in self._queue[0][1] and (self._queue[0][2] is None or resource in self._queue[0][2]):
                fault = self._queue.popleft()[0]
            elif any(self._rates) and verb in self._verbs and (self._resources is None or resource in self._resources):
                fault = self._draw()
            else:
                return None
            if fault is not None:
                self.injected[fault.kind] += 1
            return fault

    def _draw(self) -> Fault | None:
        conflict, error, slow = self._rates
        roll = self._rng.random()
        if roll < conflict:
            return Fault("conflict")
        if roll < conflict + error:
            return Fault("error")
        if roll < conflict + error + slow:
            return Fault("slow", self._slow_seconds)
        return None
