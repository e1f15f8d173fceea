"""Turn a valid NetworkSpec into the Kubernetes objects it stands for.

Pure and deterministic: the same spec always gives the same objects, in
dependency order (subnets, pools, reserved IPs, coordinator, attachments, Calico
pools) and, within a kind, by namespace and name; addresses in their canonical,
merged form. Every object carries the ownership labels and the source annotation;
pools and subnets also the finalizer that keeps them while they hold IPs
(`cni.allocation.retirement`).

Departures from upstream's SpiderMultusConfig rendering, on purpose:
- the coordinator entry of a NAD carries only what the network sets, so the
  SpiderCoordinator `default` stays in charge of everything else (upstream
  always writes `mode: auto`, which shadows the cluster-wide mode);
- a pool inside a declared subnet gets the subnet's gateway and routes written
  out when it sets none, instead of relying on a mutating webhook.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Mapping

from cni import ipranges
from cni.allocation.retirement import FINALIZER as IP_RELEASE_FINALIZER
from cni.config import coordinator_entry, ipam_section
from coordinator.config import POD_CIDRS_ANNOTATION, SERVICE_CIDRS_ANNOTATION

from .loader import SourceMap
from .model import DEFAULT_NETWORK_NAMESPACE, Addresses, IPPool, Object, Network, NetworkSpec, Route, Subnet, Zone

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "spiderpool-gitops"
SPEC_LABEL = "gitops.spidernet.io/spec"
SOURCE_ANNOTATION = "gitops.spidernet.io/source"
SPIDER_API = "spiderpool.spidernet.io/v2beta1"
NAD_API = "k8s.cni.cncf.io/v1"

KIND_ORDER = ("SpiderSubnet", "SpiderIPPool", "SpiderReservedIP", "SpiderCoordinator",
              "NetworkAttachmentDefinition", "IPPool")
CALICO_DEFAULT_BLOCK = {4: 26, 6: 122}



def render(spec: NetworkSpec, sources: SourceMap, addresses: Mapping[tuple[str, str], Addresses]) -> list[Object]:
    """The objects of a valid spec; `addresses` are its subnets' and pools' as the validator parsed them."""
    out: list[Object] = []
    meta = _Meta(spec, sources)
    subnets = {s.subnet: s for s in spec.subnets}
    zones = {z.name: z for z in spec.zones}
    out += [_subnet(s, addresses[("subnet", s.name)], meta) for s in spec.subnets]
    out += [_ippool(p, addresses, subnets.get(p.subnet), zones, meta) for p in spec.ippools]
    out += [_reserved(r.name, r.ips, r.path, meta) for r in spec.reserved_ips]
    if spec.coordinator is not None or spec.cluster.pod_cidrs or spec.cluster.service_cidrs:
        out.append(_coordinator(spec, meta))  # spec.cluster's CIDRs ride on it, section or not
    out += [_network(n, meta) for n in spec.networks]
    out += [_calico(s, spec.calico_api_version, meta) for s in spec.subnets if s.calico is not None]
    return sorted(out, key=object_sort_key)


# Argo CD sync waves (`render --sync-waves`): each wave must be applied and Healthy before the
# next, so subnets come first, then the pools and reserved IPs cut from them, then what uses them.
SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
SYNC_WAVES = {"SpiderSubnet": "0", "SpiderIPPool": "1", "SpiderReservedIP": "1", "SpiderCoordinator": "2",
              "NetworkAttachmentDefinition": "2", "IPPool": "2"}


def with_argocd_annotations(objects: list[Object], *, sync_waves: bool = False,
                            prune_confirm: bool = False) -> list[Object]:
    """Copies of rendered objects with Argo CD's sync-wave annotations (subnets 0 -> pools and
    reserved IPs 1 -> coordinator, attachments and Calico pools 2) and/or
    `sync-options: Prune=confirm` on every SpiderIPPool (Argo CD then prunes a pool only after a
    person confirms it). The objects are otherwise unchanged; apply never writes these."""
    out = []
    for obj in objects:
        extra = {}
        if sync_waves and obj["kind"] in SYNC_WAVES:
            extra[SYNC_WAVE_ANNOTATION] = SYNC_WAVES[obj["kind"]]
        if prune_confirm and obj["kind"] == "SpiderIPPool":
            extra[SYNC_OPTIONS_ANNOTATION] = "Prune=confirm"
        if extra:
            obj = copy.deepcopy(obj)
            obj["metadata"]["annotations"] = {**obj["metadata"].get("annotations", {}), **extra}
        out.append(obj)
    return out


def object_sort_key(obj: Object) -> tuple:
    kind = obj["kind"]
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    meta = obj["metadata"]
    return rank, meta.get("namespace", ""), meta["name"]


class _Meta:
    def __init__(self, spec: NetworkSpec, sources: SourceMap):
        self.spec, self.sources = spec, sources

    def __call__(self, name: str, path: tuple, *, namespace: str | None = None,
                 labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
                 finalizers: list[str] | None = None) -> Object:
        meta: Object = {"name": name}
        if namespace is not None:
            meta["namespace"] = namespace
        meta["labels"] = {MANAGED_BY: MANAGER, SPEC_LABEL: self.spec.name, **(labels or {})}
        meta["annotations"] = {SOURCE_ANNOTATION: self.sources.annotation(path), **(annotations or {})}
        if finalizers:
            meta["finalizers"] = list(finalizers)
        return meta


def _addresses(item: Subnet | IPPool, parsed: Addresses, gateway: Any, routes: tuple[Route, ...]) -> Object:
    network = parsed.network
    spec: Object = {"ipVersion": network.version, "subnet": str(network)}
    spec["ips"] = ipranges.compact(parsed.ips, network.version)
    if item.exclude_ips:
        spec["excludeIPs"] = ipranges.compact(parsed.excluded, network.version)
    if gateway is not None:
        spec["gateway"] = str(gateway)
    if routes:
        spec["routes"] = [{"dst": r.dst, "gw": r.gw} for r in routes]
    return spec


def _subnet(subnet: Subnet, parsed: Addresses, meta: _Meta) -> Object:
    return {
        "apiVersion": SPIDER_API, "kind": "SpiderSubnet",
        "metadata": meta(subnet.name, subnet.path, labels={"ipam.spidernet.io/subnet-cidr": ipranges.cidr_label(subnet.subnet)},
                         finalizers=[IP_RELEASE_FINALIZER]),
        "spec": _addresses(subnet, parsed, parsed.gateway, subnet.routes),
    }


def _ippool(pool: IPPool, addresses: Mapping[tuple[str, str], Addresses], subnet: Subnet | None,
            zones: dict[str, Zone], meta: _Meta) -> Object:
    parsed = addresses[("pool", pool.name)]
    gateway = parsed.gateway if pool.gateway else (addresses[("subnet", subnet.name)].gateway if subnet else None)
    routes = pool.routes or (subnet.routes if subnet else ())
    spec = _addresses(pool, parsed, gateway, routes)
    if pool.zones:
        spec["nodeAffinity"] = zone_affinity([zones[z] for z in pool.zones])
    if pool.node_names:
        spec["nodeName"] = list(pool.node_names)
    if pool.namespaces:
        spec["namespaceName"] = list(pool.namespaces)
    if pool.namespace_selector:
        spec["namespaceAffinity"] = copy.deepcopy(pool.namespace_selector)
    if pool.pod_selector:
        spec["podAffinity"] = copy.deepcopy(pool.pod_selector)
    if pool.networks:
        spec["multusName"] = [r if "/" in r else f"{DEFAULT_NETWORK_NAMESPACE}/{r}" for r in pool.networks]
    spec["default"] = pool.default
    spec["disable"] = pool.disable
    labels = {"ipam.spidernet.io/ippool-cidr": ipranges.cidr_label(pool.subnet)}
    if subnet is not None:
        labels["ipam.spidernet.io/owner-spider-subnet"] = subnet.name
    return {"apiVersion": SPIDER_API, "kind": "SpiderIPPool",
            "metadata": meta(pool.name, pool.path, labels=labels, finalizers=[IP_RELEASE_FINALIZER]), "spec": spec}


def zone_affinity(zones: list[Zone]) -> Object:
    """One LabelSelector for a pool's zones.

    Zones that each select one value of the same label become `key In [values]`
    (the shape of seed 003); a single zone with any other selector is used as is.
    `mergeable_zones` tells the validator which combinations this can express.
    """
    keys = [_single_label(z) for z in zones]
    if all(keys) and len({k for k, _ in keys}) == 1:
        values = list(dict.fromkeys(v for _, v in keys))
        return {"matchExpressions": [{"key": keys[0][0], "operator": "In", "values": values}]}
    return copy.deepcopy(zones[0].node_selector)


def mergeable_zones(zones: list[Zone]) -> bool:
    if len(zones) <= 1:
        return True
    keys = [_single_label(z) for z in zones]
    return all(keys) and len({k for k, _ in keys}) == 1


def _single_label(zone: Zone) -> tuple[str, str] | None:
    selector = zone.node_selector
    labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if len(labels) == 1 and not expressions:
        return next(iter(labels.items()))
    if not labels and len(expressions) == 1 and expressions[0]["operator"] == "In" and len(expressions[0].get("values", [])) == 1:
        return expressions[0]["key"], expressions[0]["values"][0]
    return None


def _reserved(name: str, ips: tuple[str, ...], path: tuple, meta: _Meta) -> Object:
    version = ipranges.parse_range(ips[0]).version
    return {"apiVersion": SPIDER_API, "kind": "SpiderReservedIP", "metadata": meta(name, path),
            "spec": {"ipVersion": version, "ips": _compact(ips, version)}}


def _compact(texts: tuple[str, ...], version: int) -> list[str]:
    return ipranges.compact(ipranges.to_set(map(ipranges.parse_range, texts)), version)


def _coordinator(spec: NetworkSpec, meta: _Meta) -> Object:
    """SpiderCoordinator `default`: the spec's `coordinator:` values, and spec.cluster's CIDRs as
    annotations (they win over discovered ones). Without a `coordinator:` section it carries only
    the CIDRs (its spec is then empty: server-side apply claims no field of it)."""
    section = spec.coordinator
    values = copy.deepcopy(section.values) if section is not None else {}
    if section is not None:
        values["hijackCIDR"] = [_as_cidr(c) for c in values.get("hijackCIDR", [])]
    body = {key: values[key] for key in sorted(values)}
    annotations = {}  # spec.cluster wins over discovered CIDRs; the coordinator reads these
    if spec.cluster.pod_cidrs:
        annotations[POD_CIDRS_ANNOTATION] = ",".join(spec.cluster.pod_cidrs)
    if spec.cluster.service_cidrs:
        annotations[SERVICE_CIDRS_ANNOTATION] = ",".join(spec.cluster.service_cidrs)
    return {"apiVersion": SPIDER_API, "kind": "SpiderCoordinator",
            "metadata": meta("default", section.path if section is not None else ("spec", "cluster"),
                             annotations=annotations), "spec": body}


def _as_cidr(text: str) -> str:
    if "/" in text:
        return text
    ip = ipranges.parse_ip(text)
    return f"{ip}/{32 if ip.version == 4 else 128}"


def _network(network: Network, meta: _Meta) -> Object:
    annotations = {}
    if network.type == "sriov":
        annotations["k8s.v1.cni.cncf.io/resourceName"] = network.resource_name
    if network.type == "ovs" and network.device_id:
        annotations["k8s.v1.cni.cncf.io/resourceName"] = f"ovs-cni.network.kubevirt.io/{network.bridge}"
    config = network.config if network.type == "custom" else nad_config(network)
    return {"apiVersion": NAD_API, "kind": "NetworkAttachmentDefinition",
            "metadata": meta(network.name, network.path, namespace=network.namespace, annotations=annotations),
            "spec": {"config": json.dumps(config, separators=(",", ":"))}}


def nad_config(network: Network) -> Object:
    """The CNI configuration list of a non-custom network (seed 002's shape)."""
    ipam = ipam_section(ipv4_pools=network.ipv4_pools, ipv6_pools=network.ipv6_pools)
    plugins = [_main_plugin(network, ipam)]
    if network.needs_ifacer:
        plugins.insert(0, ifacer_entry(network))
    if network.coordinator is not None:
        plugins.append(coordinator_entry(network.coordinator))
    if network.type == "sriov" and network.mtu > 0:
        plugins.append({"type": "tuning", "mtu": network.mtu})
    return {"cniVersion": network.cni_version, "name": network.name, "plugins": plugins}


def ifacer_entry(network: Network) -> Object:
    """Upstream's `ifacer` entry: it makes `<master>.<vlanID>` (and the bond of the masters) on the node."""
    entry: Object = {"type": "ifacer", "interfaces": list(network.masters)}
    if network.vlan_id:
        entry["vlanID"] = network.vlan_id
    if network.bond:
        entry["bond"] = {key: network.bond[key] for key in ("name", "mode", "options") if key in network.bond}
    return entry


def _main_plugin(network: Network, ipam: Object) -> Object:
    if network.type in ("macvlan", "ipvlan"):
        plugin: Object = {"type": network.type, "master": network.main_master,
                          "mode": network.mode or ("bridge" if network.type == "macvlan" else "l2")}
        if network.mtu > 0:
            plugin["mtu"] = network.mtu
    elif network.type == "sriov":
        plugin = {"type": "sriov"}
        if network.vlan_id:
            plugin["vlan"] = network.vlan_id
        if network.min_tx_rate is not None:
            plugin["min_tx_rate"] = network.min_tx_rate
        if network.max_tx_rate is not None:
            plugin["max_tx_rate"] = network.max_tx_rate
    else:  # ovs
        plugin = {"type": "ovs", "bridge": network.bridge}
        if network.vlan_id:
            plugin["vlan"] = network.vlan_id
        if network.device_id:
            plugin["deviceID"] = network.device_id
    plugin["ipam"] = ipam
    return plugin


def _calico(subnet: Subnet, api_version: str, meta: _Meta) -> Object:
    network = ipranges.parse_cidr(subnet.subnet)
    spec: Object = {
        "cidr": str(network),
        "blockSize": subnet.calico.block_size or CALICO_DEFAULT_BLOCK[network.version],
        "ipipMode": "Never",
        "vxlanMode": "Never",
        "natOutgoing": subnet.calico.nat_outgoing,
        "nodeSelector": subnet.calico.node_selector,
    }
    if subnet.calico.disable_bgp_export is not None:
        spec["disableBGPExport"] = subnet.calico.disable_bgp_export
    return {"apiVersion": api_version, "kind": "IPPool", "metadata": meta(subnet.name, subnet.path + ("calicoIPPool",)),
            "spec": spec}
