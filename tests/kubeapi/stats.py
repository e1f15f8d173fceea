"""Request accounting, so tests can assert how a client talked to the server.

"A no-op apply makes zero write requests" is a property of the client, observable only at
the server: every request is counted by its Kubernetes verb (get, list, watch, create,
update, patch, delete, deletecollection; discovery/OpenAPI/version paths count as
`nonresource`), dry-run writes separately, and the last requests are kept in a bounded log.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

from .faults import WRITE_VERBS


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    verb: str
    resource: str
    code: int
    dry_run: bool
    content_type: str = ""


class Stats:
    def __init__(self, log_size: int = 2000):
        self._lock = threading.Lock()
        self.requests: Counter = Counter()  # verb -> requests (dry runs included)
        self.dry_runs: Counter = Counter()  # verb -> dry-run requests
        self.log: deque[RequestRecord] = deque(maxlen=log_size)

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self.requests[entry.verb] += 1
            if entry.dry_run:
                self.dry_runs[entry.verb] += 1
            self.log.append(entry)

    @property
    def writes(self) -> int:
        """Write requests that were not dry runs (whatever their outcome)."""
        with self._lock:
            return sum(self.requests[v] - self.dry_runs[v] for v in WRITE_VERBS)

    @property
    def reads(self) -> int:
        with self._lock:
            return self.requests["get"] + self.requests["list"] + self.requests["watch"]

    def write_log(self) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.log if r.verb in WRITE_VERBS and not r.dry_run]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.dry_runs.clear()
            self.log.clear()
