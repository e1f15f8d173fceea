"""WHEN A POOL OR SUBNET MAY GO: the finalizer that keeps a busy pool or subnet alive.

Why it exists: deleting a SpiderIPPool that still holds allocations forgets them,
and the next pod gets an address a running pod already has (a duplicate IP).
Whoever deletes it — `spiderpool apply`'s prune, `kubectl delete`, another GitOps
tool pruning a `spiderpool render` output — the object must outlive its
allocations. So every SpiderIPPool and SpiderSubnet we render carries the
finalizer `FINALIZER`; DELETE then only sets `deletionTimestamp`, and the
object goes when the finalizer is removed, which happens only by these rules:

    a pool    has a deletionTimestamp and status.allocatedIPs is empty
              (absent, null, "" or "{}")
    a subnet  has a deletionTimestamp, no SpiderIPPool lies in its CIDR (or names
              it as owner), and its status hands no IPs to pools

Why that is safe whatever the timing: the removal is a PUT carrying the
resourceVersion the rule was checked on, so an allocation written after the
check fails the removal (409); and the agent never allocates from a pool with a
deletionTimestamp (`candidates.refusal`: "terminating"), so once deletion started
the allocations can only shrink. The IP GC controller (`spiderpool controller`)
applies the rules to every terminating pool and subnet; `spiderpool apply` applies
the same rules, the same guarded way, right after its own prune deletes.

Pure: dicts in, answers out; the callers do the I/O.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterable, Mapping

FINALIZER = "gitops.spidernet.io/ip-release"
RETIRED_KINDS = ("SpiderIPPool", "SpiderSubnet")
OWNER_SUBNET_LABEL = "ipam.spidernet.io/owner-spider-subnet"

Object = Mapping[str, Any]


def terminating(obj: Object) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def has_finalizer(obj: Object) -> bool:
    return FINALIZER in ((obj.get("metadata") or {}).get("finalizers") or ())


def pool_allocations(obj: Object) -> int | None:
    """How many records a pool's status.allocatedIPs holds; None when it cannot be read (count it as busy)."""
    text = (obj.get("status") or {}).get("allocatedIPs")
    if text is None or text == "":
        return 0
    try:
        records = json.loads(text)
    except (TypeError, ValueError):
        return None
    return len(records) if isinstance(records, dict) else None


def pool_is_empty(obj: Object) -> bool:
    return pool_allocations(obj) == 0


def subnet_pools(subnet: Object, pools: Iterable[Object]) -> list[str]:
    """Names of the pools a subnet controls: same CIDR, or labelled with the subnet as owner."""
    name = (subnet.get("metadata") or {}).get("name")
    cidr = (subnet.get("spec") or {}).get("subnet")
    out = []
    for pool in pools:
        meta = pool.get("metadata") or {}
        if (pool.get("spec") or {}).get("subnet") == cidr or (meta.get("labels") or {}).get(OWNER_SUBNET_LABEL) == name:
            out.append(meta.get("name", ""))
    return sorted(out)


def subnet_hands_out_ips(subnet: Object) -> bool:
    status = subnet.get("status") or {}
    controlled = status.get("controlledIPPools")
    if controlled not in (None, "", "{}"):
        try:
            if json.loads(controlled):
                return True
        except (TypeError, ValueError):
            return True  # unreadable: assume it does
    # not status.allocatedIPCount: it counts the addresses of the subnet's pools (upstream), and
    # whether pools remain is asked of the pools themselves (`subnet_pools`), not of a count that
    # lags behind their deletion
    return False


def pool_may_release(obj: Object) -> bool:
    return terminating(obj) and has_finalizer(obj) and pool_is_empty(obj)


def subnet_may_release(subnet: Object, pools: Iterable[Object]) -> bool:
    return (terminating(subnet) and has_finalizer(subnet) and not subnet_pools(subnet, pools)
            and not subnet_hands_out_ips(subnet))


def without_finalizer(obj: Object) -> dict:
    """A copy for a guarded PUT: our finalizer removed, resourceVersion kept (the precondition)."""
    out = copy.deepcopy(dict(obj))
    meta = out["metadata"]
    meta["finalizers"] = [f for f in meta.get("finalizers") or () if f != FINALIZER]
    meta.pop("managedFields", None)
    return out
