"""The count columns right after an apply: `kubectl get sp` / `kubectl get ss` never blank.

Why it exists: the CRDs print `status.allocatedIPCount` and `totalIPCount`, and a status is
not part of what `apply` writes (server-side apply of the spec ignores it). Without this a
new pool would show blank columns until its first allocation, and a pool whose `ips`
changed would show the old total until the next one. So after its writes, `apply` puts
the counts of this spec's pools and subnets right (`cni.allocation.counts` says what they
must be; the IP GC controller repairs the same fields in the cluster later, for objects
created by anybody).

Each write is a status merge patch guarded by the resourceVersion the counts were
computed on: an agent committing meanwhile makes it fail with 409, and the counts are
computed again on a fresh read (an agent's commit writes right counts anyway).
"""

from __future__ import annotations

from cni.allocation import Pool, status_repair

from .kube import Cluster, ClusterError, Conflict
from .model import Object
from .render import SPEC_LABEL

SPIDER_API = "spiderpool.spidernet.io/v2beta1"
KINDS = ("SpiderIPPool", "SpiderSubnet")
ROUNDS = 3


def refresh_counts(cluster: Cluster, rendered: list[Object], *, spec_name: str) -> list[str]:
    """Write the count fields of this spec's pools and subnets where they are missing or wrong;
    -> what could not be written ("SpiderIPPool name: why"), for the caller to report."""
    kinds = {o["kind"] for o in rendered if o["apiVersion"] == SPIDER_API and o["kind"] in KINDS}
    if not kinds:
        return []
    problems: list[str] = []
    pools = cluster.list(SPIDER_API, "SpiderIPPool")
    subnets = cluster.list(SPIDER_API, "SpiderSubnet") if "SpiderSubnet" in kinds else []
    ours = [o for o in pools + subnets if ((o.get("metadata") or {}).get("labels") or {}).get(SPEC_LABEL) == spec_name]
    views = [Pool.from_object(p) for p in pools] if any(o["kind"] == "SpiderSubnet" for o in ours) else []
    for obj in ours:
        try:
            _refresh_one(cluster, obj, views)
        except ClusterError as error:
            problems.append(f"{obj['kind']} {obj['metadata']['name']}: {error}")
    return problems


def _refresh_one(cluster: Cluster, obj: Object, pools: list[Pool]) -> None:
    for _ in range(ROUNDS):
        fix = status_repair(obj["kind"], obj, pools)
        if fix is None:
            return
        try:
            cluster.update_status(obj, fix, resource_version=obj["metadata"].get("resourceVersion"))
            return
        except Conflict:
            fresh = cluster.get(obj)
            if fresh is None:
                return
            fresh.setdefault("apiVersion", obj["apiVersion"])
            fresh.setdefault("kind", obj["kind"])
            obj = fresh
    raise ClusterError(f"the status of {obj['kind']} {obj['metadata']['name']} kept changing; "
                       "the controller puts its counts right later")
