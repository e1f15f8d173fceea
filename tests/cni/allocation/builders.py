"""Small builders for allocation tests: raw pool objects, typed pods, and an in-memory "agent"
(`commit`) that applies decisions the way the real agent does (render_status, then re-read)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

from cni.allocation import (Decision, Endpoint, NamespaceInfo, NodeInfo, PodInfo, Pool, Release, ReservedIPs,
                            Snapshot, StatefulSetInfo, render_status)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def pool(name, ips=("10.6.168.60-10.6.168.69",), *, subnet=None, exclude=(), gateway="auto", routes=(),
         records=None, cursor=None, rv="1", deleting=False, status=None, **spec):
    """A raw SpiderIPPool. `records`: {"ip": ("ns/pod", "uid"[, "nic"])} written as upstream would."""
    v6 = ":" in ips[0] if ips else False
    subnet = subnet or ("fd00::/64" if v6 else "10.6.0.0/16")
    if gateway == "auto":
        gateway = "fd00::1" if v6 else "10.6.0.1"
    body = {"subnet": subnet, "ips": list(ips), "excludeIPs": list(exclude), "routes": [dict(r) for r in routes]}
    if gateway:
        body["gateway"] = gateway
    body.update(spec)
    meta = {"name": name, "resourceVersion": rv}
    if deleting:
        meta["deletionTimestamp"] = "2026-05-01T11:00:00Z"
    obj = {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool", "metadata": meta, "spec": body}
    if records is not None or status is not None:
        encoded = {}
        for ip, holder in (records or {}).items():
            encoded[ip] = {"pod": holder[0], "podUid": holder[1]}
            if len(holder) > 2:
                encoded[ip]["nic"] = holder[2]
        if cursor:
            first = sorted(encoded)[0]
            encoded[first]["poolCursor"] = cursor
        obj["status"] = dict(status or {}, allocatedIPs=json.dumps(encoded))
    return obj


def pod(name="web-0", namespace="default", *, uid=None, node="worker1", labels=None, annotations=None,
        owner=None, phase="Running", deleting=False, restart_policy="Always", reason=""):
    return PodInfo(namespace, name, uid or f"uid-{name}", node, dict(labels or {}), dict(annotations or {}),
                   phase, NOW if deleting else None, owner[0] if owner else None, owner[1] if owner else None,
                   restart_policy, reason)


def snapshot(*pools, reserved=(), namespaces=(), nodes=(), endpoints=(), statefulsets=(), pods=()):
    views = [p if isinstance(p, Pool) else Pool.from_object(p) for p in pools]
    return Snapshot(
        pools={p.name: p for p in views},
        reserved=ReservedIPs.from_objects({"metadata": {"name": f"r{i}"}, "spec": {"ips": list(r)}}
                                          for i, r in enumerate(reserved)),
        namespaces={n.name: n for n in namespaces},
        nodes={n.name: n for n in nodes or (NodeInfo("worker1", {"node-subnet": "subnet-6"}),)},
        pods={(p.namespace, p.name): p for p in pods},
        endpoints={(e.namespace, e.name): e for e in endpoints},
        statefulsets={(s.namespace, s.name): s for s in statefulsets},
    )


def commit(snap: Snapshot, outcome: Decision | Release) -> Snapshot:
    """Apply a decision as the agent does: each pool change as a guarded status write, then the endpoint."""
    pools = dict(snap.pools)
    for change in outcome.pool_changes:
        current = pools[change.pool]
        status = render_status(current, change)
        pools[change.pool] = current.with_status(status, str(int(current.resource_version or 0) + 1))
    endpoints = dict(snap.endpoints)
    change = outcome.endpoint
    if change is not None:
        key = (change.namespace, change.name)
        if change.delete:
            endpoints.pop(key, None)
        else:
            endpoints[key] = Endpoint.from_object({"metadata": {"namespace": change.namespace, "name": change.name,
                                                                "resourceVersion": "1"}, "status": change.status})
    return replace(snap, pools=pools, endpoints=endpoints)


def ips(decision: Decision) -> list[str]:
    return [a.ip for a in decision.result.addresses]


def holders(snap: Snapshot, pool_name: str) -> dict[str, str]:
    return {r.ip: r.uid for r in snap.pools[pool_name].records.values()}


__all__ = ["NOW", "pool", "pod", "snapshot", "commit", "ips", "holders", "NamespaceInfo", "NodeInfo",
           "StatefulSetInfo", "Endpoint"]
