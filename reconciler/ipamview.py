"""`spiderpool ipam pools|subnets|endpoints|check`: the allocation state as kubectl-style tables.

Columns are upstream's printer columns (`kubectl get sp`, `ss`, `se`), so the
output reads like the seeds' examples; `-o json` gives the same rows as objects.
`check` runs the engine's auditor (`cni.allocation.audit`, in `auditor`) over one consistent
read of the cluster: duplicates, leaks, records of missing pods, count drift.
Pure formatting over raw objects, plus `load` (the one function that reads).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from agent import kube as k8s
from cni.allocation import Finding, Snapshot, audit, autopool, subnet_counts
from cni.ipranges import compact, parse_range

from .tables import table

POOL_COLUMNS = ("NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT", "DEFAULT", "DISABLE")
SUBNET_COLUMNS = ("NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT", "POOLS")
SHOWN_POOLS = 3
ENDPOINT_COLUMNS = ("NAME", "INTERFACE", "IPV4POOL", "IPV4", "IPV6POOL", "IPV6", "NODE")
FINDING_COLUMNS = ("KIND", "SUBJECT", "MESSAGE")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def pool_rows(pools: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for obj in sorted(pools, key=lambda o: o["metadata"]["name"]):
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        rows.append({"name": obj["metadata"]["name"], "version": spec.get("ipVersion") or _version(spec.get("subnet")),
                     "subnet": spec.get("subnet"), "allocatedIPCount": status.get("allocatedIPCount", 0),
                     "totalIPCount": status.get("totalIPCount"), "default": bool(spec.get("default")),
                     "disable": bool(spec.get("disable"))})
    return rows


def subnet_rows(subnets: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Upstream's columns, counted from the subnet itself (its ledger and ips) when no controller wrote them
    yet, and the pools it controls: `application` names the app of an auto pool."""
    rows = []
    for obj in sorted(subnets, key=lambda o: o["metadata"]["name"]):
        spec = obj.get("spec") or {}
        version = autopool.subnet_version(obj)
        ledger = autopool.controlled_of(obj)
        counts = subnet_counts(obj, (), ledger)
        pools = {name: {"ips": compact(entry.ips, version), **({"application": entry.application}
                                                                if entry.application else {})}
                 for name, entry in sorted(ledger.items())}
        rows.append({"name": obj["metadata"]["name"], "version": version, "subnet": spec.get("subnet"),
                     **counts, "controlledIPPools": pools})
    return rows


def endpoint_rows(endpoints: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for obj in sorted(endpoints, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])):
        current = (obj.get("status") or {}).get("current") or {}
        first = (current.get("ips") or [{}])[0]
        rows.append({"namespace": obj["metadata"].get("namespace", ""), "name": obj["metadata"]["name"],
                     "interface": first.get("interface"), "ipv4Pool": first.get("ipv4Pool"), "ipv4": first.get("ipv4"),
                     "ipv6Pool": first.get("ipv6Pool"), "ipv6": first.get("ipv6"), "node": current.get("node"),
                     "uid": current.get("uid")})
    return rows


def render_pools(rows: list[dict[str, Any]]) -> str:
    return table(POOL_COLUMNS, ([r["name"], r["version"], r["subnet"], r["allocatedIPCount"], r["totalIPCount"],
                                 _text(r["default"]), _text(r["disable"])] for r in rows))


def render_subnets(rows: list[dict[str, Any]]) -> str:
    return table(SUBNET_COLUMNS, ([r["name"], r["version"], r["subnet"], r["allocatedIPCount"], r["totalIPCount"],
                                  _pools(r["controlledIPPools"])] for r in rows))


def _pools(pools: Mapping[str, Any]) -> str:
    """`auto4-nginx-eth0-1a2b3 (5), manual (10), +2 more`: each pool with the number of the subnet's IPs it holds."""
    names = [f"{name} ({sum(_span_size(t) for t in entry['ips'])})" for name, entry in pools.items()]
    more = len(names) - SHOWN_POOLS
    return ", ".join(names[:SHOWN_POOLS]) + (f", +{more} more" if more > 0 else "") if names else "<none>"


def _span_size(text: str) -> int:
    span = parse_range(text)
    return span.last - span.first + 1


def render_endpoints(rows: list[dict[str, Any]], *, all_namespaces: bool) -> str:
    keys = ("name", "interface", "ipv4Pool", "ipv4", "ipv6Pool", "ipv6", "node")
    if all_namespaces:
        return table(("NAMESPACE",) + ENDPOINT_COLUMNS, ([r["namespace"]] + [r[k] for k in keys] for r in rows))
    return table(ENDPOINT_COLUMNS, ([r[k] for k in keys] for r in rows))


def render_findings(findings: Iterable[Finding]) -> str:
    findings = list(findings)
    if not findings:
        return "No problems found: every record has one owner and a live pod.\n"
    return table(FINDING_COLUMNS, ([f.kind, f.subject, f.message] for f in findings)) + \
        f"{len(findings)} problem{'s' if len(findings) != 1 else ''} found.\n"


def findings_json(findings: Iterable[Finding]) -> str:
    items = [{"kind": f.kind, "subject": f.subject, "message": f.message} for f in findings]
    return json.dumps({"ok": not items, "findings": items}, indent=2) + "\n"


def _version(subnet: Any) -> int | None:
    if not isinstance(subnet, str) or not subnet:
        return None
    return 6 if ":" in subnet else 4


# -- reading the cluster ---------------------------------------------------------------------------

def load(kube: k8s.Kube, kind: k8s.Kind, *, namespace: str | None = None, budget: float = 10.0) -> list[dict]:
    items, _ = k8s.retrying(lambda: kube.list(kind, namespace=namespace), budget=budget)
    return items


def load_snapshot(kube: k8s.Kube, *, budget: float = 10.0) -> Snapshot:
    """Everything `audit` compares, read once. Pools first: a pod that got a record before the pools
    were read is still there when the pods are read, unless it was deleted meanwhile."""
    objects = {kind.plural: load(kube, kind, budget=budget) for kind in (k8s.POOLS, k8s.RESERVED_IPS, k8s.ENDPOINTS,
                                                           k8s.STATEFULSETS, k8s.NAMESPACES, k8s.NODES, k8s.PODS)}
    return Snapshot.from_objects(pools=objects["spiderippools"], reserved_ips=objects["spiderreservedips"],
                                 namespaces=objects["namespaces"], nodes=objects["nodes"], pods=objects["pods"],
                                 endpoints=objects["spiderendpoints"], statefulsets=objects["statefulsets"])


def check(kube: k8s.Kube, *, now: datetime | None = None, budget: float = 10.0) -> tuple[Finding, ...]:
    return audit(load_snapshot(kube, budget=budget), now=now or datetime.now(timezone.utc))
