"""The agent side of the `gitops.spidernet.io/ip-release` finalizer: let go of emptied pools and subnets.

Why it exists: our pools and subnets carry a finalizer (`cni.allocation.retirement`)
so that no delete — ours, `kubectl delete`, another GitOps tool's prune — can drop
one that still holds IPs. Something must remove the finalizer once the object is
empty; that is the IP GC controller (`spiderpool controller`), which calls
`release_finalizers` on every pass and after a pool or subnet event.

Why it is safe: the rule is checked on the cached copy, and the removal is a PUT
carrying that copy's resourceVersion. Were the cache behind (an allocation it has
not seen yet), the PUT fails with 409 and the next pass decides on the new copy.
An agent allocates nothing from a terminating pool, so a pool found empty with a
deletionTimestamp stays empty.
"""

from __future__ import annotations

from agent import kube as k8s
from cni.allocation import retirement

from .cache import Cache
from .logs import Log


def release_finalizers(kube: k8s.Kube, cache: Cache, *, log: Log) -> tuple[list[str], list[str]]:
    """One round over the cached pools and subnets; -> (released "Kind name", failures)."""
    pools = cache.raws(k8s.POOLS)
    due = [(k8s.POOLS, p) for p in pools if retirement.pool_may_release(p)]
    if k8s.SUBNETS.plural in cache.kinds:
        due += [(k8s.SUBNETS, s) for s in cache.raws(k8s.SUBNETS) if retirement.subnet_may_release(s, pools)]
    released, failed = [], []
    for kind, obj in due:
        name = obj["metadata"]["name"]
        try:
            kube.replace(kind, retirement.without_finalizer(obj))
        except (k8s.NotFound, k8s.Conflict):
            continue  # gone already, or changed since the cache saw it: the next pass decides again
        except k8s.ApiError as error:
            failed.append(f"{kind.kind} {name}: {error}")
            continue
        released.append(f"{kind.kind} {name}")
        log.info("released the ip-release finalizer", kind=kind.kind, name=name)
    return released, failed
