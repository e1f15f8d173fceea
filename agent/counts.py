"""The controller side of the count columns: pools' and subnets' `allocatedIPCount`/`totalIPCount`
put right wherever they are missing or wrong.

Why it exists: the agent writes a pool's counts with every commit, and `spiderpool apply`
after creating or changing a pool or subnet; but a pool created by hand (or by another tool)
before its first allocation, a subnet whose pools changed, or a pool an older version left
with `allocatedIPs: "{}"` would keep a blank or wrong `kubectl get sp/ss` column. The IP GC
controller calls `repair_counts` on every pass, as upstream's pool and subnet informers do.
What the fields should say is decided in one place, `cni.allocation.counts`.

Why it is safe: each write is a PUT of the cached copy's status, carrying that copy's
resourceVersion; a commit by an agent meanwhile makes it fail with 409, and the next pass
decides again on the new copy. Only the count fields (and an empty `allocatedIPs`) change.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from agent import kube as k8s
from cni.allocation import status_repair

from .cache import Cache
from .logs import Log


def repair_counts(kube: k8s.Kube, cache: Cache, *, log: Log, writers: int = 1) -> tuple[list[str], list[str]]:
    """One round over the cached pools (and subnets, when watched); -> (repaired "Kind name", failures).
    `writers`: how many PUTs go out at once (the auto-pool pass, after writing many pools, uses several)."""
    names = cache.keys(k8s.POOLS)
    raws = {name: cache.raw(k8s.POOLS, name) for name in names}
    views = {name: cache.view(k8s.POOLS, name) for name in names}  # parsed by the cache, once per version
    due = [(k8s.POOLS, raw, views[name]) for name, raw in raws.items() if raw is not None and views[name] is not None]
    if k8s.SUBNETS.plural in cache.kinds:
        due += [(k8s.SUBNETS, s, None) for s in cache.raws(k8s.SUBNETS)]
    pools = [v for v in views.values() if v is not None]
    fixes = [(kind, obj, fix) for kind, obj, view in due
             if (fix := status_repair(kind.kind, obj, pools, view=view)) is not None]

    def write(item) -> tuple[str | None, str | None]:
        """-> ("Kind name" repaired, None), (None, failure) or (None, None): gone or changed meanwhile."""
        kind, obj, fix = item
        status = {k: v for k, v in {**(obj.get("status") or {}), **fix}.items() if v is not None}
        name = obj["metadata"]["name"]
        try:
            cache.offer(kind, kube.replace_status(kind, {**obj, "status": status}))
        except (k8s.NotFound, k8s.Conflict):
            return None, None  # gone, or changed since the cache saw it: the next pass decides again
        except k8s.ApiError as error:
            return None, f"{kind.kind} {name} status: {error}"
        log.info("repaired the count columns", kind=kind.kind, name=name,
                 **{k: v for k, v in fix.items() if v is not None})
        return f"{kind.kind} {name}", None

    if writers > 1 and len(fixes) > 1:
        with ThreadPoolExecutor(max_workers=writers) as pool:
            outcomes = list(pool.map(write, fixes))
    else:
        outcomes = [write(item) for item in fixes]
    return [done for done, _ in outcomes if done], [failure for _, failure in outcomes if failure]
