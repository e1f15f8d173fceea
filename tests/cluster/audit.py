"""Request accounting on the real API server, read from its audit log.

`tests/kubeapi` counts requests as it serves them; the real kube-apiserver does not, but it
audits them. The control plane audits exactly two users at Metadata level: the product's
kubeconfig user (`kubernetes-admin`) and the tests' helpers (`test-setup`). `AuditStats`
counts the product's requests with the same surface as `tests.kubeapi.stats.Stats`
(`requests`, `dry_runs`, `writes`, `reads`, `write_log()`, `reset()`), so a test asserting
"a no-op apply makes zero writes" runs unchanged on either server.

Ordering: the log backend writes an event in the request's own goroutine before the response
completes, and `sync()` additionally waits for a sentinel request of the helpers' user to
appear, so everything the product finished before a read of the stats is counted.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from pathlib import Path

from tests.kubeapi.stats import RequestRecord

from . import pki

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
_sentinels = itertools.count()


class AuditStats:
    def __init__(self, cluster):
        self._cluster = cluster
        self._log: Path = cluster.cp.audit_log
        self._offset = 0
        self._records: list[RequestRecord] = []
        self.reset()

    # -- reading the log ---------------------------------------------------------------------------

    def sync(self) -> None:
        """Read every event logged so far, after a sentinel request proves the log caught up."""
        marker = f"audit-sentinel-{next(_sentinels)}-{time.monotonic_ns()}"
        self._cluster.get("configmaps", marker, "default")
        deadline = time.monotonic() + 5
        while True:
            if self._read_new(marker) or time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def _read_new(self, marker: str) -> bool:
        seen = False
        with open(self._log, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            event = json.loads(line)
            if event.get("user", {}).get("username") != pki.ADMIN:
                if marker in event.get("requestURI", ""):
                    seen = True
                continue
            record = _record(event)
            if record is not None:
                self._records.append(record)
        return seen

    # -- the tests.kubeapi Stats surface -------------------------------------------------------------

    def reset(self) -> None:
        self.sync()
        self._records = []

    @property
    def requests(self) -> Counter:
        self.sync()
        return Counter(r.verb for r in self._records)

    @property
    def dry_runs(self) -> Counter:
        self.sync()
        return Counter(r.verb for r in self._records if r.dry_run)

    @property
    def writes(self) -> int:
        self.sync()
        return sum(1 for r in self._records if r.verb in WRITE_VERBS and not r.dry_run)

    @property
    def reads(self) -> int:
        self.sync()
        return sum(1 for r in self._records if r.verb in ("get", "list", "watch"))

    def write_log(self) -> list[RequestRecord]:
        self.sync()
        return [r for r in self._records if r.verb in WRITE_VERBS and not r.dry_run]

    @property
    def log(self) -> list[RequestRecord]:
        self.sync()
        return list(self._records)


def _record(event: dict) -> RequestRecord | None:
    stage = event.get("stage")
    verb = event.get("verb", "")
    # a watch is logged when it starts (ResponseStarted) and again when it ends: count it once
    if stage not in ("ResponseComplete", "ResponseStarted", "Panic"):
        return None
    if verb == "watch" and stage != "ResponseStarted":
        return None
    if verb != "watch" and stage == "ResponseStarted":
        return None
    ref = event.get("objectRef")
    uri = event.get("requestURI", "")
    path, _, query = uri.partition("?")
    resource = ""
    if ref:
        resource = ref.get("resource", "")
        resource += f".{ref['apiGroup']}" if ref.get("apiGroup") else ""
    else:
        verb = "nonresource"
    code = (event.get("responseStatus") or {}).get("code", 0)
    return RequestRecord(_METHODS.get(verb, "GET"), path, verb, resource, code,
                         "dryRun=All" in query and verb in WRITE_VERBS)


_METHODS = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE",
            "deletecollection": "DELETE"}
