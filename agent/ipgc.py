"""The IP garbage collector (`spiderpool controller`): leaked records go back to their pools.

Level-triggered, as peers' complaints ask (§6 #3, #4, #11): a pass compares every
pool record with the pods it names (`cni.allocation.find_leaks`) at start, every
`interval`, and soon after a pod is deleted or finishes. A record is released only
after it has looked leaked for `grace` (DOUBLE OBSERVATION: the suspects of one
pass are handed to the next), and only after a fresh, uncached LIST of pods still
says so: a lagging watch never frees a new pod's IP, and a live pod's record is
never a leak. Releases go through the same committer as the agent's (guarded
status updates, 409 -> refresh and decide again), so a record re-taken meanwhile
is left alone. SpiderEndpoints carry no ownerReference (see `endpoint`), so the
collector also deletes those whose pod is gone (or re-created) and whose UID no
pool record holds any more, with the same grace. And it removes the ip-release
finalizer of pools and subnets being deleted once they are empty (`finalizers`), and
puts right the count columns of pools and subnets (`counts`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

from agent import kube as k8s
from cni.allocation import GcPlan, Leak, PodInfo, PoolChange, Snapshot, find_leaks

from .cache import Cache, controller_kinds
from .commit import CommitError, Committer
from .counts import repair_counts
from .finalizers import release_finalizers
from .logs import Log
from .metrics import AgentMetrics, Counter
from .wakeup import pause


@dataclass(frozen=True)
class _Releases:
    pool_changes: tuple[PoolChange, ...]


@dataclass
class PassResult:
    released: list[Leak] = field(default_factory=list)
    endpoints_deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    finalizers_released: list[str] = field(default_factory=list)  # "SpiderIPPool name": emptied, deleted
    counts_repaired: list[str] = field(default_factory=list)  # "SpiderSubnet name": count columns put right
    suspects: int = 0
    next_due: float | None = None  # seconds until the earliest suspect is due


class IpGc:
    def __init__(self, kube: k8s.Kube, *, interval: float = 120.0, grace: float = 30.0, log: Log | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), metrics: AgentMetrics | None = None):
        self.kube, self.interval, self.grace, self.clock = kube, interval, timedelta(seconds=grace), clock
        self.log = log or Log("ipgc")
        self.metrics = metrics or AgentMetrics()
        self.gc_counts = Counter("spiderpool_ip_gc_counts", "IPs released by the garbage collector, by pool", ("pool",),
                                 registry=self.metrics.registry)
        self.gc_failures = Counter("spiderpool_ip_gc_failure_counts", "garbage collector releases that failed",
                                   ("pool",), registry=self.metrics.registry)
        self._wake = threading.Event()
        self.cache = Cache(kube, controller_kinds(), log=Log("cache", role="ipgc"), on_event=self._on_event)
        self.committer = Committer(kube, self.cache, metrics=self.metrics, log=Log("commit", role="ipgc"))
        self.suspects: dict = {}
        self.orphans: dict[tuple[str, str, str], datetime] = {}  # endpoint (ns, name, uid) -> first seen orphaned

    def _on_event(self, plural: str, event: str, obj: dict) -> None:
        if plural in (k8s.POOLS.plural, k8s.SUBNETS.plural):
            if (obj.get("metadata") or {}).get("deletionTimestamp"):
                self._wake.set()  # a pool or subnet being deleted: maybe its finalizer can go
            elif plural == k8s.POOLS.plural and event != "DELETED" and "totalIPCount" not in (obj.get("status") or {}):
                self._wake.set()  # a new pool: its status counts are due (a changed `ips` waits for the interval)
            return
        if plural != "pods":
            return
        phase = (obj.get("status") or {}).get("phase")
        deleting = bool((obj.get("metadata") or {}).get("deletionTimestamp"))
        if event == "DELETED" or phase in ("Succeeded", "Failed") or deleting:
            self._wake.set()

    # -- one pass ---------------------------------------------------------------------------------

    def run_pass(self) -> PassResult:
        now = self.clock()
        snapshot = self.cache.snapshot()
        plan = find_leaks(snapshot, now=now, grace=self.grace, suspects=self.suspects)
        self.suspects = dict(plan.suspects)
        result = PassResult(suspects=len(plan.suspects))
        if plan.release:
            self._release(plan, now, result)
        self._sweep_endpoints(now, result)
        result.finalizers_released, failures = release_finalizers(self.kube, self.cache, log=self.log)
        result.failed += failures
        result.counts_repaired, failures = repair_counts(self.kube, self.cache, log=self.log)
        result.failed += failures
        pending = list(self.suspects.values()) + list(self.orphans.values())
        if pending:
            earliest = min(pending) + self.grace
            result.next_due = max(0.0, (earliest - self.clock()).total_seconds())
        self.log.info("gc pass", records=sum(len(p.records) for p in snapshot.pools.values()),
                      suspects=result.suspects, released=len(result.released),
                      endpoints_deleted=len(result.endpoints_deleted), failed=len(result.failed))
        return result

    def _release(self, plan: GcPlan, now: datetime, result: PassResult) -> None:
        fresh = self._with_fresh_pods(self.cache.snapshot())
        confirmed = find_leaks(fresh, now=now, grace=self.grace, suspects=self.suspects)
        still = {(leak.pool, leak.record.ip, leak.record.uid) for leak in confirmed.release}
        due = [leak for leak in plan.release if (leak.pool, leak.record.ip, leak.record.uid) in still]
        for pool in sorted({leak.pool for leak in due}):
            leaks = [leak for leak in due if leak.pool == pool]
            try:
                outcome = self.committer.commit(lambda snap: _still_held(snap, leaks), purpose="release")
            except (CommitError, k8s.ApiError) as error:
                self.gc_failures.inc(pool=pool)
                result.failed.append(f"{pool}: {error}")
                self.log.warning("gc release failed", pool=pool, error=str(error))
                continue
            freed = {(r.ip, r.uid) for c in outcome.pool_changes for r in c.remove}
            for leak in leaks:
                if (leak.record.ip, leak.record.uid) in freed:
                    result.released.append(leak)
                    self.suspects.pop((leak.pool, leak.record.ip, leak.record.uid), None)
                    self.gc_counts.inc(pool=pool)
                    self.log.info("released a leaked IP", pool=pool, ip=leak.record.ip, pod=leak.record.pod,
                                  uid=leak.record.uid, reason=leak.reason)

    def _with_fresh_pods(self, snapshot: Snapshot) -> Snapshot:
        items, _ = k8s.retrying(lambda: self.kube.list(k8s.PODS), budget=10.0)
        pods = {(p.namespace, p.name): p for p in map(PodInfo.from_object, items)}
        return replace(snapshot, pods=pods)

    def _sweep_endpoints(self, now: datetime, result: PassResult) -> None:
        """Delete endpoints no record backs whose pod is gone or re-created, once seen so for `grace`
        (at once when this pass released their records: those were seen leaked for the grace already)."""
        snapshot = self.cache.snapshot()
        holding = {r.uid for p in snapshot.pools.values() for r in p.records.values()}
        seen = {}
        for (namespace, name), endpoint in snapshot.endpoints.items():
            pod = snapshot.pods.get((namespace, name))
            if endpoint.uid in holding or (pod is not None and pod.uid == endpoint.uid):
                continue
            key = (namespace, name, endpoint.uid)
            seen[key] = self.orphans.get(key, now)
        self.orphans = seen
        released = {leak.record.uid for leak in result.released}  # already seen leaked for the grace period
        due = [key for key, since in seen.items() if now - since >= self.grace or key[2] in released]
        if not due:
            return
        fresh = self._with_fresh_pods(snapshot)
        due = [key for key in due if (pod := fresh.pods.get(key[:2])) is None or pod.uid != key[2]]
        with ThreadPoolExecutor(max_workers=8) as pool:  # as many as the client sends at once
            outcomes = list(pool.map(lambda key: self._delete_endpoint(snapshot, key), due))
        for key, error in zip(due, outcomes):
            if error is None:
                result.endpoints_deleted.append(f"{key[0]}/{key[1]}")
                self.orphans.pop(key, None)
            else:
                result.failed.append(f"endpoint {key[0]}/{key[1]}: {error}")

    def _delete_endpoint(self, snapshot: Snapshot, key: tuple[str, str, str]) -> str | None:
        namespace, name, uid = key
        endpoint = snapshot.endpoints[(namespace, name)]
        try:
            self.kube.delete(k8s.ENDPOINTS, name, namespace, resource_version=endpoint.resource_version)
        except (k8s.NotFound, k8s.Conflict):
            return None  # gone already, or rewritten for a new pod: not ours to delete
        except k8s.ApiError as error:
            return str(error)
        self.cache.forget(k8s.ENDPOINTS, (namespace, name))
        self.log.info("deleted an endpoint no record backs", endpoint=f"{namespace}/{name}", uid=uid)
        return None

    # -- loops ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Pass at start (once synced), every `interval`, when a suspect is due, and after pod events."""
        self.cache.start()
        while not stop.is_set() and not self.cache.wait_synced(5.0):
            self.log.warning("cache not synced yet", problems=self.cache.problems())
        while not stop.is_set():
            self._wake.clear()
            try:
                result = self.run_pass()
            except k8s.ApiError as error:  # the API is away: keep the suspects, try again soon
                self.log.warning("gc pass failed", error=str(error))
                result = PassResult(next_due=min(self.interval, 5.0))
            wait = self.interval if result.next_due is None else min(self.interval, result.next_due + 0.05)
            pause(stop, self._wake, wait, settle=0.5)  # a burst of deletions: one pass
        self.cache.stop()

    def run_until_clean(self, *, max_passes: int = 20) -> list[PassResult]:
        """Passes until no suspect is left (or `max_passes`): `spiderpool controller --once`."""
        self.cache.start()
        if not self.cache.wait_synced(30.0):
            raise k8s.Unreachable("the cache did not sync: " + "; ".join(self.cache.problems()))
        results = []
        try:
            for _ in range(max_passes):
                result = self.run_pass()
                results.append(result)
                if result.next_due is None:
                    break
                time.sleep(result.next_due + 0.05)
        finally:
            self.cache.stop()
        return results


def _still_held(snapshot: Snapshot, leaks: list[Leak]) -> _Releases:
    """The leaks whose record is still there with the same UID, as pool changes on this snapshot."""
    held = [leak for leak in leaks if leak.pool in snapshot.pools
            and (record := snapshot.pools[leak.pool].holder(leak.record.ip)) is not None
            and record.uid == leak.record.uid]
    return _Releases(GcPlan(tuple(held)).pool_changes(snapshot) if held else ())
