"""The pure part of the IP garbage collector: which allocation records are leaked.

A record is LEAKED when the pod it names
- is gone (and is not a StatefulSet ordinal its set still wants),
- was re-created with another UID (unless it is a StatefulSet pod its set wants
  that has no address of its own yet: it will take this one over on ADD),
- has finished for good (upstream's `IsPodAlive`: Succeeded unless restartPolicy
  Always, Failed with Never or evicted; a pod the kubelet restarts keeps it), or
- is terminating past its deletion deadline (`deletionTimestamp`),
and never when the pod with that UID is alive.

Level-triggered with DOUBLE OBSERVATION: `find_leaks` returns every record that
looks leaked now, with the time it was first seen so (`suspects`); the caller
passes that map back on its next pass, and a record is released only once it has
looked leaked for at least `grace` (peers §6 #3: a lagging pod cache must not
free a new pod's IP). A restarted collector starts the clock again: slower, never
wrong. Releasing goes through `GcPlan.pool_changes`, which removes a record only
if it still has the same UID (`render_status` checks it on the fresh pool).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from . import reuse
from .model import Pool
from .picker import Ledger
from .records import PoolChange, Record
from .snapshot import Snapshot
from .workload import STATEFULSET, statefulset_keeps

LeakKey = tuple[str, str, str]  # (pool, ip, podUid)


@dataclass(frozen=True)
class Leak:
    pool: str
    record: Record
    reason: str
    since: datetime  # first seen leaked


@dataclass(frozen=True)
class GcPlan:
    release: tuple[Leak, ...]  # leaked for at least the grace period: free these
    suspects: Mapping[LeakKey, datetime] = field(default_factory=dict)  # pass back on the next pass

    def pool_changes(self, snapshot: Snapshot) -> tuple[PoolChange, ...]:
        ledger = Ledger(snapshot.reserved.family)
        for leak in self.release:
            ledger.remove(snapshot.pools[leak.pool], leak.record)
        return ledger.changes()


def leak_reason(snapshot: Snapshot, pool: Pool, record: Record, now: datetime) -> str | None:
    """Why `record` is leaked now, or None while its pod (or its StatefulSet slot) still owns it."""
    pod = snapshot.pods.get((record.namespace, record.name))
    if _statefulset_wants(snapshot, record, pod):
        if pod is None or pod.uid == record.uid:
            return None
        if reuse.held(snapshot, pod.uid, pool.version, snapshot.record_nic(record)) is None:
            return None  # the re-created pod will take this record over on its ADD
    if pod is None:
        return f"pod {record.pod} is gone"
    if pod.uid != record.uid:
        return f"pod {record.pod} was re-created (UID {pod.uid}, record has {record.uid})"
    if pod.deletion_timestamp is None and not pod.alive:  # upstream's IsPodAlive: a pod that restarts keeps it
        return f"pod {record.pod} has finished ({pod.why_dead()})"
    if pod.deletion_timestamp is not None and now >= pod.deletion_timestamp:
        return f"pod {record.pod} is terminating past its deadline {pod.deletion_timestamp.isoformat()}"
    return None


def _statefulset_wants(snapshot: Snapshot, record: Record, pod) -> bool:
    if pod is not None:
        owner = pod.owner_name if pod.of_statefulset else None
    else:
        endpoint = snapshot.endpoints.get((record.namespace, record.name))
        owner = endpoint.owner_name if endpoint is not None and endpoint.owner_kind == STATEFULSET else None
    return bool(owner) and statefulset_keeps(record.namespace, record.name, owner, snapshot.statefulsets)


def find_leaks(snapshot: Snapshot, *, now: datetime, grace: timedelta,
               suspects: Mapping[LeakKey, datetime] | None = None) -> GcPlan:
    suspects = suspects or {}
    seen: dict[LeakKey, datetime] = {}
    due: list[Leak] = []
    for pool in sorted(snapshot.pools.values(), key=lambda p: p.name):
        for record in sorted(pool.records.values()):
            reason = leak_reason(snapshot, pool, record, now)
            if reason is None:
                continue
            key = (pool.name, record.ip, record.uid)
            seen[key] = since = suspects.get(key, now)
            if now - since >= grace:
                due.append(Leak(pool.name, record, reason, since))
    return GcPlan(tuple(due), seen)
