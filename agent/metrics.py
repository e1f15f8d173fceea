"""Prometheus metrics in the text exposition format, standard library only.

Names follow upstream's documented ones (`spiderpool_ipam_allocation_counts`,
`..._failure_counts`, `..._update_ippool_conflict_counts`, `..._duration_seconds`,
and the `release` family), so upstream's Grafana board reads ours. Counters carry
the `_total` suffix in the exposition, as the OpenTelemetry exporter writes them.
"""

from __future__ import annotations

import bisect
import threading
from typing import Iterable

# Upstream's buckets (0.1 .. 15 s) with finer ones below: our ADDs take milliseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 1.0, 3.0, 5.0, 7.0, 10.0, 15.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _render_labels(labels: Labels, extra: Iterable[tuple[str, str]] = ()) -> str:
    pairs = list(labels) + list(extra)
    if not pairs:
        return ""
    escaped = (v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') for _, v in pairs)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(pairs, escaped)) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    def __init__(self, name: str, help_text: str):
        self.name, self.help = name, help_text
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(_labels(labels), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name}_total {self.help}", f"# TYPE {self.name}_total counter"]
        with self._lock:
            lines += [f"{self.name}_total{_render_labels(k)} {_number(v)}" for k, v in sorted(self._values.items())]
        return lines


class Gauge:
    def __init__(self, name: str, help_text: str):
        self.name, self.help = name, help_text
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def set(self, value: float, **labels: str) -> None:
        with self._lock:
            self._values[_labels(labels)] = value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        with self._lock:
            lines += [f"{self.name}{_render_labels(k)} {_number(v)}" for k, v in sorted(self._values.items())]
        return lines


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.name, self.help, self.buckets = name, help_text, tuple(sorted(buckets))
        self._series: dict[Labels, list[float]] = {}  # per label set: bucket counts..., +Inf count, sum
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            series[bisect.bisect_left(self.buckets, value)] += 1
            series[-1] += value

    def count(self, **labels: str) -> int:
        with self._lock:
            series = self._series.get(_labels(labels))
            return int(sum(series[:-1])) if series else 0

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for key, series in sorted(self._series.items()):
                running = 0.0
                for bound, n in zip(self.buckets, series):
                    running += n
                    labels = _render_labels(key, [("le", _number(bound))])
                    lines.append(f"{self.name}_bucket{labels} {_number(running)}")
                running += series[len(self.buckets)]
                lines.append(f"{self.name}_bucket{_render_labels(key, [('le', '+Inf')])} {_number(running)}")
                lines.append(f"{self.name}_sum{_render_labels(key)} {_number(series[-1])}")
                lines.append(f"{self.name}_count{_render_labels(key)} {_number(running)}")
        return lines


class AgentMetrics:
    """Everything the node agent exports on /metrics."""

    def __init__(self) -> None:
        p = "spiderpool_ipam_"
        self.allocations = Counter(p + "allocation_counts", "IP allocations (CNI ADD) by pool and result")
        self.allocation_failures = Counter(p + "allocation_failure_counts", "failed CNI ADDs by reason")
        self.allocation_conflicts = Counter(p + "allocation_update_ippool_conflict_counts",
                                            "409 Conflicts on pool status writes for ADDs, retried, by pool")
        self.allocation_seconds = Histogram(p + "allocation_duration_seconds", "CNI ADD latency in the agent")
        self.releases = Counter(p + "release_counts", "IP releases (CNI DEL, GC) by pool and result")
        self.release_failures = Counter(p + "release_failure_counts", "failed CNI DELs by reason")
        self.release_conflicts = Counter(p + "release_update_ippool_conflict_counts",
                                         "409 Conflicts on pool status writes for releases, retried, by pool")
        self.release_seconds = Histogram(p + "release_duration_seconds", "CNI DEL latency in the agent")
        self.pool_writes = Counter("spiderpool_agent_ippool_status_writes", "pool status updates sent, by result")
        self.endpoint_writes = Counter("spiderpool_agent_endpoint_writes", "SpiderEndpoint writes sent, by verb")
        self.batch_size = Histogram("spiderpool_agent_commit_batch_size",
                                    "requests committed together in one pool status update", BATCH_BUCKETS)
        self.requests = Counter("spiderpool_agent_cni_requests", "CNI requests served, by command and exit code")
        self.cache_synced = Gauge("spiderpool_agent_cache_synced", "1 when a watched kind has been listed")
        self.watch_restarts = Counter("spiderpool_agent_watch_restarts", "watch streams re-opened, by kind and why")

    def render(self) -> str:
        lines: list[str] = []
        for metric in vars(self).values():
            lines += metric.render()
        return "\n".join(lines) + "\n"
