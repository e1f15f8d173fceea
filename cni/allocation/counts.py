"""WHAT THE COUNT COLUMNS SAY: `status.allocatedIPCount` / `totalIPCount` of pools and subnets.

Why it exists: `kubectl get sp` and `kubectl get ss` print these two status fields,
and upstream's controller keeps them right at all times. Every writer of a pool's or
a subnet's status (the agent's commits, `spiderpool apply` after creating or changing
one, the IP GC controller's repair pass, the SpiderSubnet auto-pool controller) takes
them from here, so they cannot disagree:

    pool    totalIPCount     = |ips - excludeIPs|              (capped at int64, see Pool.total_ip_count)
            allocatedIPCount = number of allocation records
            allocatedIPs     = the records; ABSENT when there are none, never "{}": upstream's
                               controller removes its finalizer only when the field is nil, so a
                               pool we emptied would stay Terminating under upstream for ever
    subnet  totalIPCount     = |ips - excludeIPs|
            allocatedIPCount = subnet addresses handed out to pools: the union of the usable
                               addresses of every pool with the subnet's CIDR and of the
                               subnet's ledger (`status.controlledIPPools`, which holds an auto
                               pool's IPs before the pool does), within the subnet's own usable
                               addresses (upstream: controlledIPPools alone)

Pure: objects in, status fields out.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .autopool import Controlled, decode_controlled, intersect, union
from .model import COUNT_MAX, Pool
from .records import Record, encode

def pool_status(records: Iterable[Record], *, cursor: str | None, total: int) -> dict[str, Any]:
    """A pool's whole status after its records changed (what the agent PUTs)."""
    records = list(records)
    status: dict[str, Any] = {"allocatedIPCount": len(records), "totalIPCount": total}
    if records:
        status["allocatedIPs"] = encode(records, cursor)
    return status


def pool_counts(pool: Mapping[str, Any] | Pool) -> dict[str, int]:
    """The count fields a pool object's status should carry now."""
    view = pool if isinstance(pool, Pool) else Pool.from_object(pool)
    return {"allocatedIPCount": len(view.records), "totalIPCount": view.total_ip_count}


def subnet_counts(subnet: Mapping[str, Any], pools: Iterable[Mapping[str, Any] | Pool],
                  ledger: Mapping[str, Controlled] | None = None) -> dict[str, int]:
    """The count fields a SpiderSubnet's status should carry, given every pool of the cluster and
    the subnet's ledger (read from its status unless the writer of a new one passes it)."""
    own = _as_pool(subnet)
    if ledger is None:
        ledger = decode_controlled((subnet.get("status") or {}).get("controlledIPPools"), own.version)
    views = (_as_pool(pool) for pool in pools)
    given = union([*(entry.ips for entry in ledger.values()),
                   *(v.usable for v in views if v.subnet == own.subnet and v.version == own.version and not v.broken)])
    handed_out = intersect(own.usable, given)
    return {"allocatedIPCount": min(handed_out.size, COUNT_MAX), "totalIPCount": own.total_ip_count}


def stale_counts(status: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Whether a status lacks the wanted counts or carries others (a blank `kubectl get` column)."""
    status = status or {}
    return any(status.get(key) != value for key, value in wanted.items())


def status_repair(kind: str, obj: Mapping[str, Any], pools: Iterable[Mapping[str, Any] | Pool] = (), *,
                  view: Pool | None = None) -> dict[str, Any] | None:
    """The status fields to merge into `obj` (a SpiderIPPool or SpiderSubnet) so its counts are right
    and an empty pool's `allocatedIPs` is absent (None: remove it), or None when nothing is wrong.
    A pool whose records cannot be read is left alone (`ipam check` reports it). `pools` (for a
    subnet) and `view` (a pool's parsed view, when the caller holds it) save parsing records again."""
    status = obj.get("status") or {}
    if kind == "SpiderSubnet":
        wanted: dict[str, Any] = subnet_counts(obj, pools)
    else:
        view = view if view is not None else Pool.from_object(obj)
        if view.broken:
            return None
        wanted = pool_counts(view)
        if not view.records and "allocatedIPs" in status:
            wanted["allocatedIPs"] = None
    if not stale_counts(status, {k: v for k, v in wanted.items() if v is not None}) and \
            not any(v is None for v in wanted.values()):
        return None
    return wanted


def _as_pool(obj: Mapping[str, Any] | Pool) -> Pool:
    if isinstance(obj, Pool):
        return obj
    # A subnet has the pool's spec fields (subnet, ips, excludeIPs); its status has no records.
    return Pool.from_object({"metadata": obj.get("metadata") or {}, "spec": obj.get("spec") or {}})
