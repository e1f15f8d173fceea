"""WHERE POOLS ARE CHOSEN: which pools may serve one interface of a pod, in which order.

1. `select` finds the first rule that names pools (upstream §3.2):
   pod annotation `ipam.spidernet.io/subnet(s)` (the app's auto pools, which the agent
   waited for: `Request.auto_pools`) > pod annotation `ipam.spidernet.io/ippools` (this NIC's item, by interface name
   or position) > pod annotation `ipam.spidernet.io/ippool` > namespace annotations
   `ipam.spidernet.io/default-ipv{4,6}-ippool` > the CNI config's
   `default_ipv{4,6}_ippool` > every pool with `spec.default: true`.
   The winning rule decides the families too: a v4-only annotation gives a v4-only
   pod. Families the agent does not serve are dropped (an error if none is left).
   `precheck` then refuses the selection when a pool it names does not exist or
   is named twice for one family (upstream's precheck: "wrong input"), so a typo
   in `["typo", "good"]` fails the ADD instead of hiding behind `good`.
2. `candidates` expands wildcards (`*`, `?`, `[...]`, fnmatch semantics; matched
   against pools of that family, by name), filters (each refusal keeps its reason)
   and sorts. The sort is upstream's priority (pools with podAffinity, then nodeName,
   nodeAffinity, namespaceName, namespaceAffinity, multusName first) but STABLE:
   among equals the user's order holds, where upstream's order is random (§13.2).
3. The engine then tries the pools in that order; a full pool passes to the next
   (`explain` words the failure when none is left).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Mapping

from . import annotations, autopool, multus
from .errors import AnnotationError, ExhaustedError, NoPoolError, PoolNameError
from .model import Pool, PoolNames
from .selectors import describe, matches
from .snapshot import Request, Snapshot
from .workload import PodInfo

SOURCE_IPPOOLS = f"pod annotation {annotations.IPPOOLS}"
SOURCE_IPPOOL = f"pod annotation {annotations.IPPOOL}"
SOURCE_DEFAULT = "pools with spec.default: true"


@dataclass(frozen=True)
class Selection:
    """The pool names one rule gives this NIC, per family, and where they came from."""

    names: PoolNames
    sources: Mapping[int, str]
    clean_gateway: bool

    @property
    def families(self) -> tuple[int, ...]:
        return tuple(v for v in (4, 6) if self.names.family(v))


@dataclass(frozen=True)
class Target:
    """Who the pools are chosen for: the labels and attachment the filters compare."""

    pod: PodInfo
    nic: str
    node_labels: Mapping[str, str]
    namespace_labels: Mapping[str, str]
    nad: str | None
    system_namespace: str
    app_labels: Mapping[str, str] = field(default_factory=dict)  # an auto pool's podAffinity is matched on these

    @classmethod
    def of(cls, request: Request, snapshot: Snapshot) -> "Target":
        pod = request.pod
        node, namespace = snapshot.nodes.get(pod.node), snapshot.namespaces.get(pod.namespace)
        nad = request.nad or multus.nad_for(pod, request.nic, cluster_network=request.cluster_network,
                                             system_namespace=request.system_namespace)
        return cls(pod, request.nic, node.labels if node else {}, namespace.labels if namespace else {},
                   nad, request.system_namespace, request.auto_labels)

    def describe(self) -> str:
        return f"pod {self.pod.key} on node {self.pod.node or '?'}"


@dataclass(frozen=True)
class Rejection:
    pool: str
    reason: str


@dataclass(frozen=True)
class Candidates:
    version: int
    source: str
    pools: tuple[Pool, ...]  # passed every filter, in the order to try
    rejected: tuple[Rejection, ...]


def select(request: Request, snapshot: Snapshot) -> Selection:
    pod = request.pod
    if autopool.has_subnet(pod.annotations):
        return _auto(request)
    items = annotations.ippools(pod)
    if items is not None:
        item = _item_for(pod, request.nic, items)
        clean = request.clean_gateway if item.clean_gateway is None else item.clean_gateway
        return _restrict(request, item.pools, _same(SOURCE_IPPOOLS), clean)
    for names, sources in _rules(request, snapshot):
        if names:
            return _restrict(request, names, sources, request.clean_gateway)
    raise NoPoolError(
        f"no IPPool available, no pool selection rules of any type are specified for {_who(request)}: "
        f"set {annotations.IPPOOL} on the pod, {annotations.NAMESPACE_DEFAULT[4]} on its namespace, "
        "default_ipv4_ippool in the CNI config, or mark a pool default: true")


def precheck(selection: Selection, request: Request, snapshot: Snapshot) -> None:
    """Raise PoolNameError naming every pool of `selection` that does not exist or is named twice
    for one family (wildcards are exempt: matching nothing is a filter reason, as upstream)."""
    problems = []
    for version in selection.families:
        names = selection.names.family(version)
        source = selection.sources[version]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{source} names IPPool {name!r} more than once for IPv{version} "
                            f"(duplicate IPPool {name} specified for NIC {request.nic})")
        for name in dict.fromkeys(n for n in names if not _is_pattern(n)):
            if name not in snapshot.pools:
                problems.append(f"{source} names IPPool {name!r}, which does not exist")
    if problems:
        raise PoolNameError(_who(request), problems)


def _auto(request: Request) -> Selection:
    """A subnet annotation wins over every other rule: the app's auto pools, found by the agent."""
    if request.auto_pools is None:
        key = autopool.SUBNETS if autopool.SUBNETS in request.pod.annotations else autopool.SUBNET
        raise AnnotationError(f"pod {request.pod.key}", key, "the auto pool of the pod's application is not known "
                                                             "(the agent resolves it before allocating)")
    source = f"the auto pool of {request.auto_app or 'the application'} (pod annotation {autopool.SUBNET}(s))"
    return _restrict(request, request.auto_pools, _same(source), request.clean_gateway)


def _rules(request: Request, snapshot: Snapshot):
    yield annotations.ippool(request.pod), _same(SOURCE_IPPOOL)
    namespace = snapshot.namespaces.get(request.pod.namespace)
    yield annotations.namespace_defaults(namespace), {
        v: f"namespace annotation {key}" for v, key in annotations.NAMESPACE_DEFAULT.items()}
    yield request.default_pools, {v: f"CNI config default_ipv{v}_ippool" for v in (4, 6)}
    default = {v: tuple(p.name for p in snapshot.pools_by_family[v] if p.default and v in request.families)
               for v in (4, 6)}
    yield PoolNames(default[4], default[6]), _same(SOURCE_DEFAULT)


def _same(source: str) -> dict[int, str]:
    return {4: source, 6: source}


def _restrict(request: Request, names: PoolNames, sources: Mapping[int, str], clean: bool) -> Selection:
    served = PoolNames(names.ipv4 if 4 in request.families else (), names.ipv6 if 6 in request.families else ())
    if not served:
        asked = "/".join(f"IPv{v}" for v in (4, 6) if names.family(v))
        raise NoPoolError(f"no IPPool available for {_who(request)}: {sources[4 if names.ipv4 else 6]} names only "
                          f"{asked} pools, but this agent serves "
                          f"{'/'.join(f'IPv{v}' for v in sorted(request.families)) or 'no family'}")
    return Selection(served, sources, clean)


def _item_for(pod: PodInfo, nic: str, items: tuple[annotations.NicPools, ...]) -> annotations.NicPools:
    owner = f"pod {pod.key}"
    if items[0].interface:
        for item in items:
            if item.interface == nic:
                return item
        listed = ", ".join(i.interface or "" for i in items)
        raise AnnotationError(owner, annotations.IPPOOLS, f"interface {nic} must be specified (listed: {listed})")
    index = multus.position(pod, nic)
    if index is None or index >= len(items):
        at = "no known position" if index is None else f"position {index}"
        raise AnnotationError(owner, annotations.IPPOOLS,
                              f"has {len(items)} unnamed item(s); interface {nic} ({at}) has none")
    return items[index]


def candidates(selection: Selection, version: int, target: Target, snapshot: Snapshot, *,
               keep_disabled: bool = False) -> Candidates:
    """The pools `selection` names for one family, filtered and sorted.

    `keep_disabled` lets a disabled pool through: a StatefulSet pod keeps an IP it
    already holds there (disable stops *new* allocations only).
    """
    passed: list[Pool] = []
    rejected: list[Rejection] = []
    for name in _expand(selection.names.family(version), version, snapshot, rejected):
        pool = snapshot.pools.get(name)
        reason = "not found" if pool is None else refusal(pool, version, target, keep_disabled=keep_disabled)
        if reason:
            rejected.append(Rejection(name, reason))
        else:
            passed.append(pool)
    return Candidates(version, selection.sources[version], tuple(sorted(passed, key=_rank)), tuple(rejected))


def _is_pattern(name: str) -> bool:
    """A pool name with wildcards (upstream matches it against the pools' names)."""
    return re.search(r"[*?\[]", name) is not None


def _expand(names: tuple[str, ...], version: int, snapshot: Snapshot, rejected: list[Rejection]) -> list[str]:
    out: list[str] = []
    for name in names:
        if not _is_pattern(name):
            matched = [name]
        else:
            pattern = name.replace("[^", "[!")  # Go's filepath.Match negation
            matched = [p.name for p in snapshot.pools_by_family[version] if fnmatchcase(p.name, pattern)]
            if not matched:
                rejected.append(Rejection(f"'{name}'", f"matches no IPv{version} pool"))
        out.extend(m for m in matched if m not in out)
    return out


def refusal(pool: Pool, version: int, target: Target, *, keep_disabled: bool = False) -> str | None:
    """Why `pool` may not serve this target, or None. The first failed check is reported."""
    if pool.broken:
        return f"unusable: {pool.broken}"
    if pool.version != version:
        return f"is an IPv{pool.version} pool"
    if pool.terminating:
        return "terminating"
    if pool.disable and not keep_disabled:
        return "disabled"
    return _node(pool, target) or _namespace(pool, target) or _pod(pool, target) or _multus(pool, target)


def _node(pool: Pool, target: Target) -> str | None:
    node = target.pod.node or "?"
    if pool.node_name:
        return None if node in pool.node_name else f"node {node} is not in nodeName [{', '.join(pool.node_name)}]"
    if pool.node_affinity is not None and not matches(pool.node_affinity, target.node_labels):
        return f"node {node} does not match nodeAffinity {describe(pool.node_affinity)}"
    return None


def _namespace(pool: Pool, target: Target) -> str | None:
    namespace = target.pod.namespace
    if pool.namespace_name:
        return None if namespace in pool.namespace_name else (
            f"namespace {namespace} is not in namespaceName [{', '.join(pool.namespace_name)}]")
    if pool.namespace_affinity is not None and not matches(pool.namespace_affinity, target.namespace_labels):
        return f"namespace {namespace} does not match namespaceAffinity {describe(pool.namespace_affinity)}"
    return None


def _pod(pool: Pool, target: Target) -> str | None:
    if pool.pod_affinity is not None and autopool.AFFINITY_KEYS[2] in (pool.pod_affinity.get("matchLabels") or {}):
        # an auto pool: bound to an application, not to pod labels (upstream compares the top controller)
        if not matches(pool.pod_affinity, target.app_labels):
            return f"unmatched Pod affinity of auto-created IPPool {pool.name}: it belongs to another application"
        return None
    if pool.pod_affinity is not None and not matches(pool.pod_affinity, target.pod.labels):
        return f"pod labels do not match podAffinity {describe(pool.pod_affinity)}"
    return None


def _multus(pool: Pool, target: Target) -> str | None:
    if not pool.multus_name:
        return None
    allowed = [multus.qualify(n, target.system_namespace) for n in pool.multus_name]
    if target.nad is None:
        return f"the attachment of {target.nic} is unknown, and the pool requires multusName [{', '.join(allowed)}]"
    if target.nad not in allowed:
        return f"attachment {target.nad} is not in multusName [{', '.join(allowed)}]"
    return None


def _rank(pool: Pool) -> tuple[bool, ...]:
    return (pool.pod_affinity is None, not pool.node_name, pool.node_affinity is None,
            not pool.namespace_name, pool.namespace_affinity is None, not pool.multus_name)


def _who(request: Request) -> str:
    return f"pod {request.pod.key} ({request.nic})"


def explain(target: Target, found: Candidates, full: list[Rejection]) -> NoPoolError:
    """The error when no pool of one family could give an address.

    "all IP addresses used out" when some pool passed the filters but all were
    full, else "no IPPool available"; either way every candidate is named with its reason.
    """
    rejected = list(found.rejected) + full
    kind = ExhaustedError if full else NoPoolError
    prefix = "all IP addresses used out" if full else "no IPPool available"
    reasons = "; ".join(f"{r.pool}: {r.reason}" for r in rejected) or "no pool named"
    return kind(f"{prefix}: no IPv{found.version} pool for {target.describe()} ({target.nic}; pools from "
                f"{found.source}): {reasons}", (found,))
