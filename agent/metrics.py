"""Prometheus metrics for the agent and the IPAM controllers, through `prometheus_client`.

Names follow upstream's documented ones (`spiderpool_ipam_allocation_counts`,
`..._failure_counts`, `..._update_ippool_conflict_counts`, `..._duration_seconds`,
and the `release` family), so upstream's Grafana board reads ours. Counters carry
the `_total` suffix in the exposition, as prometheus_client (and the OpenTelemetry
exporter upstream uses) write them.

Why the small wrappers: callers say `metrics.allocations.inc(pool=..., result=...)` with
keyword labels, as before the switch to prometheus_client; each `AgentMetrics` (one per
agent or controller, several in one test process) owns its own `CollectorRegistry`, so
two agents never share counts and no global registry collides on names. The `*_created`
series prometheus_client adds by default are switched off: upstream's board has none.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as _Counter
from prometheus_client import Gauge as _Gauge
from prometheus_client import Histogram as _Histogram

prometheus_client.disable_created_metrics()

# Upstream's buckets (0.1 .. 15 s) with finer ones below: our ADDs take milliseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 1.0, 3.0, 5.0, 7.0, 10.0, 15.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST


class _Metric:
    """A prometheus_client metric taking its labels as keywords; unlabelled when `labels` is empty."""

    def __init__(self, metric, registry: CollectorRegistry):
        self._metric, self.registry = metric, registry

    def _child(self, labels: dict[str, str]):
        return self._metric.labels(**{k: str(v) for k, v in labels.items()}) if labels else self._metric

    def render(self) -> list[str]:
        """This metric alone in the text format (tests)."""
        one = CollectorRegistry(auto_describe=False)
        one.register(self._metric)
        return generate_latest(one).decode().splitlines()


class Counter(_Metric):
    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = (), *,
                 registry: CollectorRegistry | None = None):
        registry = registry if registry is not None else CollectorRegistry()
        super().__init__(_Counter(name, help_text, labels, registry=registry), registry)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).inc(amount)


class Gauge(_Metric):
    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = (), *,
                 registry: CollectorRegistry | None = None):
        registry = registry if registry is not None else CollectorRegistry()
        super().__init__(_Gauge(name, help_text, labels, registry=registry), registry)

    def set(self, value: float, **labels: str) -> None:
        self._child(labels).set(value)


class Histogram(_Metric):
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS,
                 labels: tuple[str, ...] = (), *, registry: CollectorRegistry | None = None):
        registry = registry if registry is not None else CollectorRegistry()
        super().__init__(_Histogram(name, help_text, labels, registry=registry, buckets=buckets), registry)

    def observe(self, value: float, **labels: str) -> None:
        self._child(labels).observe(value)


class AgentMetrics:
    """Everything the node agent exports on /metrics (the IPAM controllers use the same set)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, p = self.registry, "spiderpool_ipam_"
        self.allocations = Counter(p + "allocation_counts", "IP allocations (CNI ADD) by pool and result",
                                   ("pool", "result"), registry=r)
        self.allocation_failures = Counter(p + "allocation_failure_counts", "failed CNI ADDs by reason", ("reason",),
                                           registry=r)
        self.allocation_conflicts = Counter(p + "allocation_update_ippool_conflict_counts",
                                            "409 Conflicts on pool status writes for ADDs, retried, by pool",
                                            ("pool",), registry=r)
        self.allocation_seconds = Histogram(p + "allocation_duration_seconds", "CNI ADD latency in the agent",
                                            labels=("result",), registry=r)
        self.releases = Counter(p + "release_counts", "IP releases (CNI DEL, GC) by pool and result",
                                ("pool", "result"), registry=r)
        self.release_failures = Counter(p + "release_failure_counts", "failed CNI DELs by reason", ("reason",),
                                        registry=r)
        self.release_conflicts = Counter(p + "release_update_ippool_conflict_counts",
                                         "409 Conflicts on pool status writes for releases, retried, by pool",
                                         ("pool",), registry=r)
        self.release_seconds = Histogram(p + "release_duration_seconds", "CNI DEL latency in the agent",
                                         labels=("result",), registry=r)
        self.pool_writes = Counter("spiderpool_agent_ippool_status_writes", "pool status updates sent, by result",
                                   ("result",), registry=r)
        self.endpoint_writes = Counter("spiderpool_agent_endpoint_writes", "SpiderEndpoint writes sent, by verb",
                                       ("verb",), registry=r)
        self.batch_size = Histogram("spiderpool_agent_commit_batch_size",
                                    "requests committed together in one pool status update", BATCH_BUCKETS,
                                    registry=r)
        self.requests = Counter("spiderpool_agent_cni_requests", "CNI requests served, by command and exit code",
                                ("command", "code"), registry=r)
        self.cache_synced = Gauge("spiderpool_agent_cache_synced", "1 when a watched kind has been listed", ("kind",),
                                  registry=r)
        self.watch_restarts = Counter("spiderpool_agent_watch_restarts", "watch streams re-opened, by kind and why",
                                      ("kind", "why"), registry=r)

    def render(self) -> str:
        return generate_latest(self.registry).decode()
