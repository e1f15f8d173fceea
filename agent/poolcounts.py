"""Pool counts (`spiderpool controller`): every SpiderIPPool's status.totalIPCount and allocatedIPCount.

Why it exists: the node agent writes a pool's status with its first allocation, so a pool nobody
allocated from yet has no status at all; upstream's controller fills in `totalIPCount` as soon as
a pool exists (and keeps it right when `ips`/`excludeIPs` change). Health checks need it: Flux's
`healthCheckExprs` (CEL) cannot read `status.*` of an object without a status, and Argo CD's
health check shows "0 of N IPs allocated". The write is a status PUT guarded by the
resourceVersion the counts were computed from, so it never overwrites an allocation; only when
a count is missing or wrong, so a steady cluster sees no writes.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from agent import kube as k8s
from cni.allocation import Pool

from .cache import Cache
from .logs import Log


def counted_status(obj: Mapping[str, Any]) -> dict | None:
    """The pool's status with the right counts, or None when it already has them (or is being
    deleted, or is too broken to count: the agent reports that)."""
    pool = Pool.from_object(obj)
    if pool.broken or pool.terminating:
        return None
    total, allocated = pool.total_ip_count, len(pool.records)
    if pool.status_total_count == total and pool.status_allocated_count == allocated:
        return None
    return {**(obj.get("status") or {}), "totalIPCount": total, "allocatedIPCount": allocated}


def write_counts(kube: k8s.Kube, cache: Cache, *, log: Log) -> tuple[list[str], list[str]]:
    """One round over the cached pools; -> (pools written, failures)."""
    written, failed = [], []
    for name in cache.keys(k8s.POOLS):
        obj = cache.raw(k8s.POOLS, name)
        status = counted_status(obj) if obj is not None else None
        if status is None:
            continue
        body = copy.deepcopy(dict(obj))
        body["status"] = status
        try:
            kube.replace_status(k8s.POOLS, body)
        except (k8s.NotFound, k8s.Conflict):
            continue  # gone, or changed since the cache saw it (an allocation): the next pass counts again
        except k8s.ApiError as error:
            failed.append(f"SpiderIPPool {name}: {error}")
            continue
        written.append(name)
        log.info("pool counts written", pool=name, total=status["totalIPCount"], allocated=status["allocatedIPCount"])
    return written, failed
