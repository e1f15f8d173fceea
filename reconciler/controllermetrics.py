"""The controller's Prometheus metrics and its HTTP endpoint: /metrics, /healthz, /readyz.

Why it exists: a GitOps loop that has silently stopped converging looks, from the outside,
exactly like one with nothing to do. These series tell them apart:

    spiderpool_gitops_applied_revision_info{spec,revision} 1   what the cluster holds now
    spiderpool_gitops_reconciles_total{result}                 every reported outcome, by result
    spiderpool_gitops_reconcile_failures_total{reason}         the failed ones, by Event reason
    spiderpool_gitops_apply_duration_seconds                   load -> ... -> NetworkSync, per attempt
    spiderpool_gitops_last_success_timestamp_seconds           unix time of the last good reconcile
    spiderpool_controller_leader                               1 while this replica holds the Lease

The IP GC's series (agent/metrics.py) share the registry, so one scrape covers the process.
`/readyz` answers 200 once the replica has either taken the lead or seen who holds it.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .errors import ReconcilerError
from .events import REASONS

APPLY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class LoopMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        p = "spiderpool_gitops_"
        self.revision = Info(p + "applied_revision", "the revision the cluster holds, per spec", ("spec",),
                             registry=registry)
        self.reconciles = Counter(p + "reconciles", "reconcile outcomes, by result", ("result",), registry=registry)
        self.failures = Counter(p + "reconcile_failures", "failed reconciles, by reason", ("reason",),
                                registry=registry)
        self.duration = Histogram(p + "apply_duration_seconds", "seconds one reconcile attempt took",
                                  buckets=APPLY_BUCKETS, registry=registry)
        self.last_success = Gauge(p + "last_success_timestamp_seconds", "unix time of the last good reconcile",
                                  registry=registry)
        self.leader = Gauge("spiderpool_controller_leader", "1 while this replica holds the leader Lease",
                            registry=registry)

    def observe(self, outcome, *, now: Callable[[], float] = time.time) -> None:
        """Count one Outcome (reconciler.loop.Outcome)."""
        self.reconciles.labels(result=outcome.result).inc()
        if outcome.result != "source-error":
            self.duration.observe(outcome.seconds)
        if outcome.ok:
            self.last_success.set(now())
        else:
            self.failures.labels(reason=REASONS.get(outcome.result, ("", outcome.result))[1]).inc()
        if outcome.spec and outcome.applied_revision:
            self.revision.labels(spec=outcome.spec).info({"revision": outcome.applied_revision})


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise ReconcilerError(f"--metrics-listen {listen!r}: expected HOST:PORT") from None


class MetricsServer:
    """/metrics from `registry`; /healthz always 200; /readyz 200 when `ready()` is true."""

    def __init__(self, listen: str, registry: CollectorRegistry, *, ready: Callable[[], bool]):
        host, port = _split(listen)
        handler = _handler(registry, ready)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ReconcilerError(f"cannot serve metrics on {listen}: {exc}") from None
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "MetricsServer":
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(registry: CollectorRegistry, ready: Callable[[], bool]):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?")[0]
            if path == "/metrics":
                return self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            if path == "/healthz":
                return self._send(200, b"ok\n")
            if path == "/readyz":
                ok = ready()
                return self._send(200 if ok else 503, b"ok\n" if ok else b"not ready\n")
            self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:  # scrapes are not news
            pass

    return Handler
