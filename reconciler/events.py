"""Kubernetes Events on a spec's NetworkSync, one per reconcile outcome, deduplicated as client-go does.

Why it exists: `kubectl describe networksync NAME` (and `kubectl get events`) is where an
operator looks first when a cluster stopped following git. Each Outcome the loop reports
becomes a core/v1 Event on the NetworkSync:

    applied | unchanged | drifted   Normal   Applied
    failed                          Warning  ApplyFailed
    invalid                         Warning  InvalidSpec
    source-error                    Warning  SourceUnavailable

`event_for` is the pure mapping. `EventRecorder` writes them: an Event equal to one written
before (same object, type, reason and message) is not created again; the earlier one's
`count` goes up and its `lastTimestamp` moves, as client-go's EventCorrelator does. The
memory of what was written is bounded (least recently used dropped first), so a loop that
runs for months keeps a fixed footprint. NetworkSync is cluster-scoped: its Events live in
the `default` namespace, where client-go puts a cluster-scoped object's. Recording is best
effort — a failure is returned, never raised, so an Event never stops a reconcile.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from . import syncstatus

COMPONENT = "spiderpool-controller"
EVENT_MANAGER = "spiderpool-controller-events"
MAX_REMEMBERED = 256
MAX_MESSAGE = 1024  # the API server refuses messages past 1 KiB in events.k8s.io; core/v1 is laxer, we are not

REASONS = {"applied": ("Normal", "Applied"), "unchanged": ("Normal", "Applied"), "drifted": ("Normal", "Applied"),
           "failed": ("Warning", "ApplyFailed"), "invalid": ("Warning", "InvalidSpec"),
           "source-error": ("Warning", "SourceUnavailable")}


@dataclass(frozen=True)
class Event:
    spec: str        # the NetworkSync's name
    type: str        # Normal | Warning
    reason: str
    message: str


def event_for(outcome) -> Event | None:
    """The Event an Outcome (reconciler.loop.Outcome) calls for; None when there is no spec to name."""
    if not outcome.spec or outcome.result not in REASONS:
        return None
    type_, reason = REASONS[outcome.result]
    revision = outcome.revision or "-"
    if outcome.ok:
        plan = outcome.plan or {}
        message = (f"revision {revision} applied (+{plan.get('add', 0)} ~{plan.get('change', 0)} "
                   f"-{plan.get('destroy', 0)}, {outcome.result}) in {outcome.seconds:.2f}s")
    else:
        kept = f"revision {outcome.applied_revision} stays applied" if outcome.applied_revision \
            else "nothing was applied"
        first = outcome.errors[0] if outcome.errors else outcome.result
        more = f" (+{len(outcome.errors) - 1} more)" if len(outcome.errors) > 1 else ""
        what = f"revision {revision}" if outcome.revision else "the source"
        message = f"{what}: {first}{more}; {kept}"
    return Event(outcome.spec, type_, reason, message[:MAX_MESSAGE])


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Writes Events through a reconciler `Cluster` (server-side apply under its own field manager)."""

    def __init__(self, cluster_of: Callable[[], object], *, namespace: str = "default", instance: str = "",
                 max_remembered: int = MAX_REMEMBERED, clock: Callable[[], str] = _now):
        self.cluster_of, self.namespace, self.instance = cluster_of, namespace, instance
        self.max_remembered, self.clock = max_remembered, clock
        self._seen: OrderedDict[tuple[Event, str], tuple[str, int, str]] = OrderedDict()  # -> (name, count, firstTimestamp)
        self._lock = threading.Lock()

    def record(self, event: Event) -> str | None:
        """Create the Event, or count it again; -> an error message when it could not be written."""
        def involved(cluster) -> dict:
            sync = cluster.get(syncstatus.sync_object(event.spec, source_path="", prune=True, self_heal=False)) or {}
            ref = {"apiVersion": syncstatus.API_VERSION, "kind": syncstatus.KIND, "name": event.spec}
            uid = (sync.get("metadata") or {}).get("uid")
            return {**ref, "uid": uid} if uid else ref

        problem = self._write(event, involved, self.namespace, prefix=event.spec)
        return f"could not record event {event.reason} on NetworkSync {event.spec}: {problem}" if problem else None

    def record_on(self, involved: dict, event: Event) -> str | None:
        """An Event on another object (`involved`: apiVersion, kind, namespace, name, uid), in its namespace:
        the auto-pool controller's on the apps it serves."""
        problem = self._write(event, lambda cluster: involved, involved.get("namespace") or self.namespace,
                              prefix=involved.get("name") or event.spec)
        return f"could not record event {event.reason} on {involved.get('kind')} {involved.get('name')}: {problem}" \
            if problem else None

    def _write(self, event: Event, involved: Callable[[object], dict], namespace: str, *, prefix: str) -> str | None:
        now = self.clock()
        key = (event, namespace)
        with self._lock:
            name, count, first = self._seen.pop(key, (None, 0, now))
            name = name or f"{prefix}.{time.time_ns():x}"
            self._seen[key] = (name, count + 1, first)
            while len(self._seen) > self.max_remembered:
                self._seen.popitem(last=False)
        try:
            cluster = self.cluster_of()
            cluster.apply(self._object(event, name=name, count=count + 1, first=first, now=now,
                                       involved=involved(cluster), namespace=namespace),
                          force=True, manager=EVENT_MANAGER)
        except Exception as exc:  # noqa: BLE001 - an Event is best effort
            return str(exc)
        return None

    def _object(self, event: Event, *, name: str, count: int, first: str, now: str, involved: dict,
                namespace: str) -> dict:
        return {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": involved, "type": event.type, "reason": event.reason, "message": event.message,
                "source": {"component": COMPONENT, **({"host": self.instance} if self.instance else {})},
                "reportingComponent": COMPONENT, "reportingInstance": self.instance or COMPONENT,
                "firstTimestamp": first, "lastTimestamp": now, "count": count, "action": "Reconcile"}
