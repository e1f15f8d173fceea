"""What one decision is made over: the `Snapshot` of the cluster and the CNI `Request`.

The agent builds a Snapshot from its watch cache (typed views, see `model` and
`workload`) and a Request from the CNI call; the engine reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable, Mapping

from cni.ipranges import parse_ip

from .errors import UnavailableIPError
from .model import Pool, PoolNames, ReservedIPs
from .names import SYSTEM_NAMESPACE
from .records import Record
from .workload import Endpoint, NamespaceInfo, NodeInfo, PodInfo, StatefulSetInfo

DEFAULT_NIC = "eth0"


@dataclass(frozen=True)
class Request:
    """One CNI ADD for one interface of one pod."""

    pod: PodInfo
    nic: str = DEFAULT_NIC
    nad: str | None = None  # "ns/name" of this attachment; None: derived from the pod's Multus annotations
    default_pools: PoolNames = PoolNames()  # ipam.default_ipv4_ippool / default_ipv6_ippool of the CNI config
    families: frozenset[int] = frozenset({4, 6})  # families the agent serves
    clean_gateway: bool = False  # ipam.clean_gateway of the CNI config
    cluster_network: str | None = None  # NAD behind eth0 when the pod names none (MULTUS_CLUSTER_NETWORK)
    system_namespace: str = SYSTEM_NAMESPACE  # where bare NAD names live
    requested_ips: tuple[str, ...] = ()  # the runtime's `ips` capability / `args.cni.ips` ("ip" or "ip/prefix")
    # A pod with a subnet annotation: its app's auto pools for this NIC (the agent waited for them), the app
    # they belong to ("Deployment ns/name"), and the app labels their podAffinity is compared with.
    auto_pools: PoolNames | None = None
    auto_app: str = ""
    auto_labels: Mapping[str, str] = field(default_factory=dict)

    def requested(self, version: int) -> str | None:
        """The IP of one family the runtime asked for, canonical; at most one per family."""
        found = []
        for text in self.requested_ips:
            try:
                address = parse_ip(text.partition("/")[0])
            except ValueError:
                raise UnavailableIPError(f"requested IP {text!r} for pod {self.pod.key} is not an IP address") from None
            if address.version == version:
                found.append(str(address))
        if len(found) > 1:
            raise UnavailableIPError(f"requested IPs {', '.join(found)} for pod {self.pod.key}: one per family")
        return found[0] if found else None

    @classmethod
    def from_ipam_config(cls, pod: PodInfo, ipam: Mapping[str, Any], **fields: Any) -> "Request":
        """A request whose defaults come from the `ipam` section of the CNI config."""
        pools = PoolNames(tuple(ipam.get("default_ipv4_ippool") or ()), tuple(ipam.get("default_ipv6_ippool") or ()))
        return cls(pod=pod, default_pools=pools, clean_gateway=bool(ipam.get("clean_gateway")), **fields)


@dataclass(frozen=True, eq=False)
class Snapshot:
    pools: Mapping[str, Pool] = field(default_factory=dict)
    reserved: ReservedIPs = field(default_factory=ReservedIPs)
    namespaces: Mapping[str, NamespaceInfo] = field(default_factory=dict)
    nodes: Mapping[str, NodeInfo] = field(default_factory=dict)
    pods: Mapping[tuple[str, str], PodInfo] = field(default_factory=dict)
    endpoints: Mapping[tuple[str, str], Endpoint] = field(default_factory=dict)
    statefulsets: Mapping[tuple[str, str], StatefulSetInfo] = field(default_factory=dict)

    @classmethod
    def from_objects(cls, *, pools: Iterable[Mapping] = (), reserved_ips: Iterable[Mapping] = (),
                     namespaces: Iterable[Mapping] = (), nodes: Iterable[Mapping] = (),
                     pods: Iterable[Mapping] = (), endpoints: Iterable[Mapping] = (),
                     statefulsets: Iterable[Mapping] = ()) -> "Snapshot":
        """Parse raw API objects (convenient for tests and one-shot tools)."""
        pool_views = [Pool.from_object(o) for o in pools]
        pod_views = [PodInfo.from_object(o) for o in pods]
        endpoint_views = [Endpoint.from_object(o) for o in endpoints]
        sts_views = [StatefulSetInfo.from_object(o) for o in statefulsets]
        return cls(
            pools={p.name: p for p in pool_views}, reserved=ReservedIPs.from_objects(reserved_ips),
            namespaces={n.name: n for n in map(NamespaceInfo.from_object, namespaces)},
            nodes={n.name: n for n in map(NodeInfo.from_object, nodes)},
            pods={(p.namespace, p.name): p for p in pod_views},
            endpoints={(e.namespace, e.name): e for e in endpoint_views},
            statefulsets={(s.namespace, s.name): s for s in sts_views},
        )

    def with_pools(self, *pools: Pool) -> "Snapshot":
        return replace(self, pools={**self.pools, **{p.name: p for p in pools}})

    @cached_property
    def pools_by_family(self) -> Mapping[int, tuple[Pool, ...]]:
        ordered = sorted(self.pools.values(), key=lambda p: p.name)
        return {v: tuple(p for p in ordered if p.version == v) for v in (4, 6)}

    def record_nic(self, record: Record) -> str:
        """The interface a record belongs to: its own `nic`, else the pod's SpiderEndpoint, else eth0."""
        if record.nic:
            return record.nic
        endpoint = self.endpoints.get((record.namespace, record.name))
        return (endpoint.interface_of(record.ip) if endpoint else None) or DEFAULT_NIC
