"""Pruning a pool or subnet without ever losing live allocations, whatever the timing.

The plan is read once, at the start; an agent may allocate from a pool between that
read and the prune. So the prune of a SpiderIPPool or SpiderSubnet never trusts the
plan's copy:

    read the object fresh
    busy (IPs allocated; for a subnet: pools in its CIDR)  -> disable it, report draining
    idle -> DELETE with a resourceVersion precondition      -> 409 if it changed: read again
         -> the object is Terminating (our finalizer holds it): remove the finalizer by the
            rules of `cni.allocation.retirement`, with a guarded PUT -> 409: read again

An allocation that lands after the read bumps the resourceVersion, so the DELETE or the
finalizer removal fails and the next round sees the allocation. Once the deletionTimestamp
is set no agent allocates from the pool any more, so "empty" can only stay true. An object
someone else is deleting (Terminating, still busy) is reported as draining and left alone:
the finalizer keeps it until it is empty, and the IP GC controller then lets it go.
"""

from __future__ import annotations

import json
from typing import Any

from cni.allocation import autopool as ap
from cni.allocation import retirement

from .kube import Cluster, Conflict, NotFound
from .plan import DIGEST_ANNOTATION

Object = dict[str, Any]
SPIDER_API = "spiderpool.spidernet.io/v2beta1"
ROUNDS = 5  # fresh reads per prune before giving up until the next apply
DRAINED = "drained"  # the applied digest of a pool prune disabled: matches no spec



def allocated_ips(obj: Object) -> int:
    """How many IPs a live pool still has handed out to pods, by upstream's status fields. A subnet's
    `allocatedIPCount` counts the addresses its pools hold, not pods': whether a subnet is busy is
    asked of its pools (`in_use`), so here it counts 0."""
    if obj["kind"] == "SpiderSubnet":
        return 0
    status = obj.get("status") or {}
    count = status.get("allocatedIPCount") or 0
    if not count and obj["kind"] == "SpiderIPPool" and status.get("allocatedIPs"):
        try:
            count = len(json.loads(status["allocatedIPs"]))
        except (TypeError, ValueError):
            count = 1  # unreadable allocations: treat as in use, never delete
    return int(count)


def retire(cluster: Cluster, ref: Object, *, dry_run: bool) -> tuple[str, str]:
    """Prune one SpiderIPPool or SpiderSubnet safely; -> (action, message): deleted or draining."""
    for _ in range(ROUNDS):
        live = cluster.get(ref)
        if live is None:
            return "deleted", ""
        busy = in_use(cluster, live)
        if retirement.terminating(live):
            if busy:
                return "draining", f"being deleted; {busy}: it goes once they are released"
            if dry_run or release_finalizer(cluster, live):
                return "deleted", ""
            continue  # it changed under us: look again
        if busy:
            if live["kind"] == "SpiderIPPool" and not (live.get("spec") or {}).get("disable"):
                # the digest no longer says "as applied": should the spec take the pool back unchanged,
                # enabling it again is a spec change to apply, not drift for --self-heal only
                cluster.merge_patch(live, {"spec": {"disable": True},
                                           "metadata": {"annotations": {DIGEST_ANNOTATION: DRAINED}}},
                                    dry_run=dry_run)
            return "draining", f"{busy}: disabled, deleted by a later apply once empty"
        try:
            left = cluster.delete(live, dry_run=dry_run, resource_version=live["metadata"]["resourceVersion"])
        except Conflict:
            continue  # changed since the read (an allocation, say): decide again on a fresh copy
        if left is None or dry_run or release_finalizer(cluster, left):
            return "deleted", ""
    return "draining", f"kept changing while being pruned ({ROUNDS} fresh reads); a later apply tries again"


def in_use(cluster: Cluster, live: Object) -> str:
    """Why a live pool or subnet must not go yet ("" when it may)."""
    if live["kind"] == "SpiderSubnet":
        # a subnet's allocatedIPCount counts the IPs it handed to pools (upstream's meaning), which go
        # with the pools: the pools in its CIDR are what keep it
        auto = sorted(name for name, entry in ap.controlled_of(live).items() if entry.application)
        if auto:
            return f"it controls auto pool(s) {', '.join(auto[:5])}{' ...' if len(auto) > 5 else ''} of applications"
    count = allocated_ips(live)
    if count:
        return f"{count} IP(s) still allocated"
    if live["kind"] == "SpiderSubnet":
        pools = retirement.subnet_pools(live, cluster.list(SPIDER_API, "SpiderIPPool"))
        if pools:
            return (f"{len(pools)} SpiderIPPool(s) still in subnet {(live.get('spec') or {}).get('subnet')}: "
                    + ", ".join(pools[:5]) + (" ..." if len(pools) > 5 else ""))
    return ""


def release_finalizer(cluster: Cluster, live: Object) -> bool:
    """Remove our finalizer from a Terminating object if the rules allow, guarded by its resourceVersion.
    -> True when it is released (or not ours to hold), False when the object changed or is busy."""
    if not retirement.has_finalizer(live):
        return True
    if live["kind"] == "SpiderIPPool":
        may = retirement.pool_may_release(live)
    else:
        may = retirement.subnet_may_release(live, cluster.list(SPIDER_API, "SpiderIPPool"))
    if not may:
        return False
    try:
        cluster.replace(retirement.without_finalizer(live))
    except NotFound:
        return True
    except Conflict:
        return False
    return True
