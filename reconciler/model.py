"""The NetworkSpec as typed, frozen values.

Built from merged data that already passed the JSON Schema, so types are right;
values are still the user's strings (semantic validation parses them and says
what is wrong). Every item keeps `path`, its place in the merged data, so a
validator or the renderer can ask the SourceMap where it was written.
Defaults from DESIGN.md are applied here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netaddr import IPAddress, IPNetwork

from cni.allocation.names import SYSTEM_NAMESPACE
from cni.ipranges import RangeSet

from .yamlsource import Path

Object = dict[str, Any]  # a Kubernetes object, as the reconciler reads, renders and writes it
DEFAULT_NETWORK_NAMESPACE = SYSTEM_NAMESPACE  # where a network (NAD) without a namespace lives
DEFAULT_CNI_VERSION = "0.3.1"


@dataclass
class Addresses:
    """A subnet's or pool's addresses, parsed once: the validator checks them, render writes them out.

    `network` is None when the subnet did not parse; ranges and the gateway that did not parse are left out.
    """

    network: IPNetwork | None
    ips: RangeSet = field(default_factory=RangeSet)
    excluded: RangeSet = field(default_factory=RangeSet)
    usable: RangeSet = field(default_factory=RangeSet)  # ips - excluded
    gateway: IPAddress | None = None


@dataclass(frozen=True)
class Route:
    dst: str
    gw: str


@dataclass(frozen=True)
class Zone:
    name: str
    node_selector: dict[str, Any]
    path: Path


@dataclass(frozen=True)
class CalicoPool:
    cidr: str | None
    block_size: int | None
    nat_outgoing: bool
    disable_bgp_export: bool | None
    node_selector: str


@dataclass(frozen=True)
class Subnet:
    name: str
    subnet: str
    ips: tuple[str, ...]
    exclude_ips: tuple[str, ...]
    gateway: str | None
    routes: tuple[Route, ...]
    calico: CalicoPool | None
    path: Path


@dataclass(frozen=True)
class IPPool:
    name: str
    subnet: str
    ips: tuple[str, ...]
    exclude_ips: tuple[str, ...]
    gateway: str | None
    routes: tuple[Route, ...]
    zones: tuple[str, ...]
    node_names: tuple[str, ...]
    namespaces: tuple[str, ...]
    namespace_selector: dict[str, Any] | None
    pod_selector: dict[str, Any] | None
    networks: tuple[str, ...]
    default: bool
    disable: bool
    path: Path


@dataclass(frozen=True)
class ReservedIP:
    name: str
    ips: tuple[str, ...]
    path: Path


@dataclass(frozen=True)
class Network:
    name: str
    namespace: str
    type: str
    cni_version: str
    master: str | None
    mode: str | None
    vlan_id: int
    mtu: int
    resource_name: str | None
    min_tx_rate: int | None
    max_tx_rate: int | None
    bridge: str | None
    device_id: str | None
    config: dict[str, Any] | None
    ipv4_pools: tuple[str, ...]
    ipv6_pools: tuple[str, ...]
    coordinator: dict[str, Any] | None  # None: not chained; {}: chained with cluster defaults
    raw: dict[str, Any]
    path: Path
    masters: tuple[str, ...] = ()  # `master` as given: one interface, or several to bond
    bond: dict[str, Any] | None = None  # {name, mode[, options]}

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def parent(self) -> str | None:
        """The node interface the main plugin (or its VLAN) sits on: the bond, else the master."""
        return self.bond["name"] if self.bond else self.master

    @property
    def main_master(self) -> str | None:
        """The main plugin's `master`: the parent, with `.<vlanID>` when there is a VLAN."""
        return f"{self.parent}.{self.vlan_id}" if self.parent and self.vlan_id else self.parent

    @property
    def needs_ifacer(self) -> bool:
        """Whether the chain starts with `ifacer` to make the VLAN interface or the bond (as upstream)."""
        return self.type in ("macvlan", "ipvlan") and bool(self.masters) and bool(self.vlan_id or self.bond)


COORDINATOR_DEFAULTS: dict[str, Any] = {
    "mode": "auto",
    "podCIDRType": "auto",
    "hijackCIDR": [],
    "hostRuleTable": 500,
    "tunePodRoutes": True,
    "podDefaultRouteNIC": "",
    "podMACPrefix": "",
    "podRPFilter": 0,
    "txQueueLen": 0,
}


@dataclass(frozen=True)
class Coordinator:
    values: dict[str, Any]  # COORDINATOR_DEFAULTS overlaid with the spec's values
    path: Path


@dataclass(frozen=True)
class Cluster:
    ip_versions: tuple[int, ...]
    pod_cidrs: tuple[str, ...]
    service_cidrs: tuple[str, ...]
    declared_versions: bool


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    cluster: Cluster
    calico_api_version: str
    zones: tuple[Zone, ...]
    subnets: tuple[Subnet, ...]
    ippools: tuple[IPPool, ...]
    reserved_ips: tuple[ReservedIP, ...]
    networks: tuple[Network, ...]
    coordinator: Coordinator | None
    prune: bool
    self_heal: bool
    labels: dict[str, str] = field(default_factory=dict)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


def _routes(value: Any) -> tuple[Route, ...]:
    return tuple(Route(r["dst"], r["gw"]) for r in value or ())


def build(data: dict[str, Any]) -> NetworkSpec:
    """Typed spec from schema-valid merged data."""
    spec = data.get("spec", {})
    cluster = spec.get("cluster", {})
    sync = spec.get("sync", {})
    return NetworkSpec(
        name=data["metadata"]["name"],
        labels=dict(data["metadata"].get("labels", {})),
        cluster=Cluster(
            ip_versions=tuple(cluster.get("ipVersions", (4, 6))),
            pod_cidrs=_strs(cluster.get("podCIDRs")),
            service_cidrs=_strs(cluster.get("serviceCIDRs")),
            declared_versions="ipVersions" in cluster,
        ),
        calico_api_version=spec.get("calico", {}).get("apiVersion", "projectcalico.org/v3"),
        zones=tuple(Zone(z["name"], z["nodeSelector"], ("spec", "zones", i)) for i, z in enumerate(spec.get("zones", ()))),
        subnets=tuple(_subnet(s, i) for i, s in enumerate(spec.get("subnets", ()))),
        ippools=tuple(_ippool(p, i) for i, p in enumerate(spec.get("ippools", ()))),
        reserved_ips=tuple(ReservedIP(r["name"], _strs(r["ips"]), ("spec", "reservedIPs", i))
                           for i, r in enumerate(spec.get("reservedIPs", ()))),
        networks=tuple(_network(n, i) for i, n in enumerate(spec.get("networks", ()))),
        coordinator=(Coordinator({**COORDINATOR_DEFAULTS, **spec["coordinator"]}, ("spec", "coordinator"))
                     if "coordinator" in spec else None),
        prune=sync.get("prune", True),
        self_heal=sync.get("selfHeal", False),
    )


def _subnet(s: dict[str, Any], i: int) -> Subnet:
    calico = s.get("calicoIPPool")
    return Subnet(
        name=s["name"], subnet=s["subnet"], ips=_strs(s.get("ips")), exclude_ips=_strs(s.get("excludeIPs")),
        gateway=s.get("gateway"), routes=_routes(s.get("routes")),
        calico=None if calico is None else CalicoPool(
            cidr=calico.get("cidr"), block_size=calico.get("blockSize"),
            nat_outgoing=calico.get("natOutgoing", False), disable_bgp_export=calico.get("disableBGPExport"),
            node_selector=calico.get("nodeSelector", "all()")),
        path=("spec", "subnets", i),
    )


def _ippool(p: dict[str, Any], i: int) -> IPPool:
    return IPPool(
        name=p["name"], subnet=p["subnet"], ips=_strs(p.get("ips")), exclude_ips=_strs(p.get("excludeIPs")),
        gateway=p.get("gateway"), routes=_routes(p.get("routes")), zones=_strs(p.get("zones")),
        node_names=_strs(p.get("nodeNames")), namespaces=_strs(p.get("namespaces")),
        namespace_selector=p.get("namespaceSelector") or None, pod_selector=p.get("podSelector") or None,
        networks=_strs(p.get("networks")), default=p.get("default", False), disable=p.get("disable", False),
        path=("spec", "ippools", i),
    )


def _network(n: dict[str, Any], i: int) -> Network:
    coordinator = n.get("coordinator", True)
    masters = (n["master"],) if isinstance(n.get("master"), str) else _strs(n.get("master"))
    return Network(
        name=n["name"], namespace=n.get("namespace", DEFAULT_NETWORK_NAMESPACE), type=n["type"],
        cni_version=n.get("cniVersion", DEFAULT_CNI_VERSION), master=masters[0] if masters else None,
        masters=masters, bond=dict(n["bond"]) if n.get("bond") else None, mode=n.get("mode"),
        vlan_id=n.get("vlanID", 0), mtu=n.get("mtu", 0), resource_name=n.get("resourceName"),
        min_tx_rate=n.get("minTxRateMbps"), max_tx_rate=n.get("maxTxRateMbps"), bridge=n.get("bridge"),
        device_id=n.get("deviceID"), config=n.get("config"),
        ipv4_pools=_strs(n.get("ippools", {}).get("ipv4")), ipv6_pools=_strs(n.get("ippools", {}).get("ipv6")),
        coordinator=None if coordinator is False else ({} if coordinator is True else dict(coordinator)),
        raw=n, path=("spec", "networks", i),
    )
