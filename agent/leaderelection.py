"""Leader election on a `coordination.k8s.io/v1` Lease: the I/O around `leasedecision`.

Why it exists: `spiderpool controller` runs as two (or more) replicas, and only one may
apply specs and release IPs. `LeaderElector.run` reads the Lease every `retry_period`,
asks `leasedecision.decide`, and writes what it says with a guarded request (a create, or
a PUT carrying the resourceVersion it decided on: a 409 means someone else wrote first,
and we simply read again). It calls `on_started_leading` once it holds the Lease, and
returns as soon as it stops leading — it failed to renew within `renew_deadline`, or found
another holder — after calling `on_stopped_leading`, so the caller stops acting at once.
On a clean stop it releases the Lease so a standby takes over without waiting it out.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timezone
from typing import Callable

from agent import kube as k8s

from . import leasedecision as ld
from .logs import Log

LEASES = k8s.Kind("coordination.k8s.io", "v1", "leases", "Lease", True)


def micro_time(at: datetime | None = None) -> str:
    """A Kubernetes MicroTime: RFC 3339 with microseconds, in UTC."""
    return (at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_record(lease: dict) -> ld.Record:
    spec = lease.get("spec") or {}
    return ld.Record(holder=spec.get("holderIdentity") or "", duration=int(spec.get("leaseDurationSeconds") or 0),
                     acquire_time=spec.get("acquireTime"), renew_time=spec.get("renewTime"),
                     transitions=int(spec.get("leaseTransitions") or 0))


def to_spec(record: ld.Record) -> dict:
    spec = {"holderIdentity": record.holder, "leaseDurationSeconds": record.duration,
            "leaseTransitions": record.transitions}
    if record.acquire_time:
        spec["acquireTime"] = record.acquire_time
    if record.renew_time:
        spec["renewTime"] = record.renew_time
    return spec


class LeaderElector:
    def __init__(self, kube: k8s.Kube, *, name: str, namespace: str, identity: str,
                 timing: ld.Timing = ld.Timing(), log: Log | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], str] = micro_time):
        self.kube, self.name, self.namespace, self.identity = kube, name, namespace, identity
        self.timing, self.clock, self.wall = timing, clock, wall
        self.log = log or Log("leaderelection", lease=f"{namespace}/{name}", identity=identity)
        self.observation: ld.Observation | None = None
        self.holder = ""                      # the holder as last seen ("" unknown or nobody)
        self.last_renewed: float | None = None
        self.leading = threading.Event()
        self._lease: dict | None = None       # the Lease object as last read or written

    # -- one round ------------------------------------------------------------------------------

    def try_once(self) -> bool:
        """Read the Lease, decide, write if we should; -> whether we hold it now. API errors are
        answered with False (and the caller's deadline); a 409 means another candidate won."""
        try:
            lease = self.kube.get(LEASES, self.name, self.namespace)
            now = self.clock()
            if lease is None:
                self.observation = None
            else:
                self._lease = lease
                self.observation = ld.observe(self.observation, record=to_record(lease),
                                              resource_version=lease["metadata"].get("resourceVersion", ""), now=now)
            decision = ld.decide(self.observation, identity=self.identity, now=now, wall_now=self.wall(),
                                 timing=self.timing)
            self.holder = decision.holder
            if decision.action == "wait":
                return False
            written = self._write(decision)
        except k8s.ApiError as error:
            if not isinstance(error, (k8s.Conflict, k8s.AlreadyExists)):
                self.log.warning("lease request failed", error=str(error))
            return False
        self._lease = written
        self.observation = ld.observe(self.observation, record=to_record(written),
                                      resource_version=written["metadata"].get("resourceVersion", ""), now=now)
        self.last_renewed = now
        if decision.action != "renew":
            self.log.info("acquired the lease", action=decision.action, transitions=decision.record.transitions)
        return True

    def _write(self, decision: ld.Decision) -> dict:
        assert decision.record is not None
        if decision.action == "create":
            return self.kube.create(LEASES, {"apiVersion": LEASES.api_version, "kind": "Lease",
                                             "metadata": {"name": self.name, "namespace": self.namespace},
                                             "spec": to_spec(decision.record)})
        assert self._lease is not None and self.observation is not None
        body = {**self._lease, "spec": to_spec(decision.record)}
        body["metadata"] = {**self._lease["metadata"], "resourceVersion": self.observation.resource_version}
        return self.kube.replace(LEASES, body)  # guarded: a 409 when anyone wrote since we read

    def release(self) -> None:
        """Step down: write an empty holder if we still hold the Lease (best effort)."""
        if not self.leading.is_set() or self._lease is None or self.observation is None:
            return
        self.leading.clear()
        body = {**self._lease, "spec": to_spec(ld.released(self.observation.record))}
        body["metadata"] = {**self._lease["metadata"], "resourceVersion": self.observation.resource_version}
        try:
            self.kube.replace(LEASES, body)
            self.log.info("released the lease")
        except k8s.ApiError as error:
            self.log.warning("could not release the lease", error=str(error))

    # -- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, on_started_leading: Callable[[], None],
            on_stopped_leading: Callable[[], None] = lambda: None) -> bool:
        """Campaign until we lead, lead until we cannot renew (or `stop`); -> whether leadership was
        lost (True) rather than given up on `stop` (False)."""
        self.log.info("campaigning", lease_duration=self.timing.lease_duration,
                      renew_deadline=self.timing.renew_deadline, retry_period=self.timing.retry_period)
        while not stop.is_set():
            if self.try_once():
                break
            stop.wait(self.timing.retry_period * (1 + 0.2 * random.random()))  # client-go's JitterFactor 1.2
        else:
            return False
        self.leading.set()
        self.log.info("started leading")
        on_started_leading()
        while not stop.wait(self.timing.retry_period):
            renewed = self.try_once()
            if renewed:
                continue
            if self.holder and self.holder != self.identity or not ld.still_leading(
                    last_renewed=self.last_renewed, now=self.clock(), timing=self.timing):
                self.leading.clear()
                self.log.error("leader election lost", holder=self.holder or None)
                on_stopped_leading()
                return True
        on_stopped_leading()  # the caller's work stops first; only then may a standby start
        self.release()
        return False
