"""What the coordinator does for one pod NIC: the NAD entry, the pod annotation and SpiderCoordinator, merged.

Why it exists: the same knob can be set in three places and upstream gives them a
fixed precedence — the NAD's coordinator plugin JSON wins, then the pod annotation
`ipam.spidernet.io/default-route-nic` (for podDefaultRouteNIC only), then the
cluster-wide SpiderCoordinator `default` spec. The pod and service CIDRs come from
the NAD (`overlayPodCIDR`/`serviceCIDR`), else SpiderCoordinator's
`gitops.spidernet.io/pod-cidrs`/`service-cidrs` annotations (rendered from the spec's
`spec.cluster`, which wins over discovery), else its status; when none gives them ADD
fails, naming the places it looked. Pure: dicts in, a frozen value out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Mapping

DEFAULT_ROUTE_NIC_ANNOTATION = "ipam.spidernet.io/default-route-nic"
POD_CIDRS_ANNOTATION = "gitops.spidernet.io/pod-cidrs"
SERVICE_CIDRS_ANNOTATION = "gitops.spidernet.io/service-cidrs"
MODES = ("auto", "underlay", "overlay", "disabled")
DEFAULT_HOST_RULE_TABLE = 500


class ConfigError(ValueError):
    """The merged configuration cannot be used (bad value, unknown CIDRs)."""


@dataclass(frozen=True)
class CoordinatorConfig:
    mode: str = "auto"
    tune_pod_routes: bool = True
    pod_default_route_nic: str = ""
    pod_default_cni_nic: str = "eth0"
    pod_cidrs: tuple[str, ...] = ()
    service_cidrs: tuple[str, ...] = ()
    hijack_cidrs: tuple[str, ...] = ()
    policy_routes: tuple[tuple[str, str], ...] = ()  # (dst, gw)
    pod_mac_prefix: str = ""
    host_rule_table: int = DEFAULT_HOST_RULE_TABLE
    pod_rp_filter: int = -1
    tx_queue_len: int = 0
    veth_mtu: int = 1500
    veth_link_address: str = ""  # an IPv4 address put on veth0 as /32 (underlay; e.g. for Istio); "" = none
    detect_ip_conflict: bool = False
    detect_gateway: bool = False

    @property
    def hijack_set(self) -> tuple[str, ...]:
        """Pod ∪ service ∪ hijack CIDRs, canonical, in first-seen order."""
        return tuple(dict.fromkeys(self.pod_cidrs + self.service_cidrs + self.hijack_cidrs))


# CNI key -> (SpiderCoordinator spec key, field)
_KEYS = {
    "mode": ("mode", "mode"),
    "tunePodRoutes": ("tunePodRoutes", "tune_pod_routes"),
    "podDefaultRouteNic": ("podDefaultRouteNIC", "pod_default_route_nic"),
    "podDefaultCniNic": ("podDefaultCniNic", "pod_default_cni_nic"),
    "hijackCIDR": ("hijackCIDR", "hijack_cidrs"),
    "policyRoutes": ("policyRoutes", "policy_routes"),
    "podMACPrefix": ("podMACPrefix", "pod_mac_prefix"),
    "hostRuleTable": ("hostRuleTable", "host_rule_table"),
    "podRPFilter": ("podRPFilter", "pod_rp_filter"),
    "txQueueLen": ("txQueueLen", "tx_queue_len"),
    "vethMTU": ("vethMTU", "veth_mtu"),
    "vethLinkAddress": ("vethLinkAddress", "veth_link_address"),
    "detectIPConflict": ("detectIPConflict", "detect_ip_conflict"),
    "detectGateway": ("detectGateway", "detect_gateway"),
}


def resolve(nad: Mapping[str, Any], *, pod_annotations: Mapping[str, str] | None = None,
            coordinator: Mapping[str, Any] | None = None) -> CoordinatorConfig:
    """NAD entry > pod annotation (default-route NIC) > SpiderCoordinator spec -> the config; ConfigError."""
    coordinator = coordinator or {}
    spec = coordinator.get("spec") or {}
    raw: dict[str, Any] = {}
    for cni_key, (spec_key, name) in _KEYS.items():
        if spec.get(spec_key) not in (None, ""):
            raw[name] = spec[spec_key]
        if name == "pod_default_route_nic" and (pod_annotations or {}).get(DEFAULT_ROUTE_NIC_ANNOTATION):
            raw[name] = pod_annotations[DEFAULT_ROUTE_NIC_ANNOTATION]
        if nad.get(cni_key) not in (None, ""):
            raw[name] = nad[cni_key]
    pod_cidrs, service_cidrs = cluster_cidrs(nad, coordinator)
    return _build(raw, pod_cidrs=pod_cidrs, service_cidrs=service_cidrs)


def cluster_cidrs(nad: Mapping[str, Any], coordinator: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    status = coordinator.get("status") or {}
    notes = (coordinator.get("metadata") or {}).get("annotations") or {}
    sources = (  # the NAD, then the spec's spec.cluster (rendered as annotations), then discovery (status)
        (nad.get("overlayPodCIDR"), nad.get("serviceCIDR")),
        (_split(notes.get(POD_CIDRS_ANNOTATION)), _split(notes.get(SERVICE_CIDRS_ANNOTATION))),
        (status.get("overlayPodCIDR"), status.get("serviceCIDR")),
    )
    for pods, services in sources:
        if pods or services:
            return _cidrs(pods or (), "overlayPodCIDR"), _cidrs(services or (), "serviceCIDR")
    raise ConfigError(
        "coordinator: the cluster's pod and service CIDRs are unknown: neither the NAD (overlayPodCIDR/serviceCIDR), "
        f"nor SpiderCoordinator 'default' annotations {POD_CIDRS_ANNOTATION}/{SERVICE_CIDRS_ANNOTATION} (from the "
        "spec's spec.cluster), nor its status (discovered by spiderpool controller) give them")


def _split(text: Any) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()] if isinstance(text, str) else []


def _cidrs(values: Any, key: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    try:
        return tuple(str(ipaddress.ip_network(v, strict=False)) for v in values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"coordinator: {key} {values!r}: {exc}") from None


def _build(raw: dict[str, Any], *, pod_cidrs: tuple[str, ...], service_cidrs: tuple[str, ...]) -> CoordinatorConfig:
    mode = {"disable": "disabled"}.get(raw.get("mode", "auto"), raw.get("mode", "auto"))
    if mode not in MODES:
        raise ConfigError(f"coordinator: mode {mode!r} is not one of {', '.join(MODES)}")
    routes = []
    for route in raw.get("policy_routes") or ():
        if not isinstance(route, Mapping) or not route.get("dst") or not route.get("gw"):
            raise ConfigError(f"coordinator: policyRoutes entry {route!r} needs dst and gw")
        routes.append((str(ipaddress.ip_network(route["dst"], strict=False)), str(ipaddress.ip_address(route["gw"]))))
    link_address = str(raw.get("veth_link_address") or "")
    if link_address:
        try:
            if ipaddress.ip_address(link_address).version != 4:
                raise ValueError
        except ValueError:
            raise ConfigError(f"coordinator: vethLinkAddress {link_address!r} is not an IPv4 address "
                              "(it goes on veth0 as /32, e.g. 169.254.200.1)") from None
    prefix = str(raw.get("pod_mac_prefix") or "")
    if prefix and not _valid_mac_prefix(prefix):
        raise ConfigError(f"coordinator: podMACPrefix {prefix!r} is not two hex bytes of a unicast MAC (e.g. 0a:1b)")
    try:
        return CoordinatorConfig(
            mode=mode, tune_pod_routes=bool(raw.get("tune_pod_routes", True)),
            pod_default_route_nic=str(raw.get("pod_default_route_nic") or ""),
            pod_default_cni_nic=str(raw.get("pod_default_cni_nic") or "eth0"),
            pod_cidrs=pod_cidrs, service_cidrs=service_cidrs,
            hijack_cidrs=_cidrs(raw.get("hijack_cidrs") or (), "hijackCIDR"), policy_routes=tuple(routes),
            pod_mac_prefix=prefix.lower(), host_rule_table=int(raw.get("host_rule_table", DEFAULT_HOST_RULE_TABLE)),
            pod_rp_filter=int(raw.get("pod_rp_filter", -1)), tx_queue_len=int(raw.get("tx_queue_len", 0)),
            veth_mtu=int(raw.get("veth_mtu", 1500)), veth_link_address=link_address,
            detect_ip_conflict=_flag(raw.get("detect_ip_conflict"), "detectIPConflict"),
            detect_gateway=_flag(raw.get("detect_gateway"), "detectGateway"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"coordinator: {exc}") from None


def _flag(value: Any, key: str) -> bool:
    """A boolean knob; "true"/"false" strings (annotations, hand-written NADs) are read as such."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{key} {value!r} is not a boolean")  # _build adds the "coordinator: " prefix


def _valid_mac_prefix(prefix: str) -> bool:
    parts = prefix.split(":")
    try:
        return len(parts) == 2 and all(len(p) == 2 for p in parts) and int(parts[0], 16) & 1 == 0 \
            and int(parts[1], 16) >= 0
    except ValueError:
        return False
