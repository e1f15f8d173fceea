"""Where a pod's routes are planned: the coordinator's ADD/DEL as a list of kernel operations.

Why it exists: a pod with several NICs needs routes, policy rules, neighbour entries
(and in underlay mode a veth pair to the node) so that cluster traffic (pod and
service CIDRs, the node itself) leaves through the cluster NIC and everything else
through the underlay NIC it came in on. Deciding *what* to change is pure and tested
table-driven here; `coordinator/apply.py` is the only code that touches netlink.

Modes (docs: reference §6): `overlay` — eth0 belongs to the default CNI, each extra
NIC gets its policy table (101, 102, ...) with `from <nic ip> lookup <table>`, its subnet
and default routes, and the cluster CIDRs/node addresses via eth0 (in main too for the
first extra NIC): seed 002's shape, with upstream's current numbering (seed 002 shows an
older release that put the first extra NIC in 100). `underlay` — eth0 is the underlay
NIC; a `veth0` pair to the node carries the cluster CIDRs; the node routes each pod IP
through it in `hostRuleTable`; connections that came in through veth0 (the node,
kube-proxy's NodePorts) are marked and answered through it again (`fwmark 0x1 lookup
100`, iptables mangle CONNMARK, as upstream); later underlay NICs get tables from 101.
`auto` picks per interface as upstream does. Table 100 is the cluster NIC's: when
podDefaultRouteNIC moves the default to this NIC, the former default NIC keeps its
default in table 100 for its own source addresses (`from <eth0 ip> lookup 100`), so
connections that came in through it still reply through it.
Every family is planned alike: an IPv6 address gets `disable_ipv6=0` in the pod first
(all, default and the NIC: runtimes may start pods with IPv6 off), then the same
routes, rules and marks as IPv4.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field

from .config import CoordinatorConfig

MAIN = 254
CLUSTER_TABLE = 100  # the cluster NIC's: its default once the default moved; underlay's replies via veth0
FIRST_TABLE = 101  # the first extra (policy-routed) NIC's; the next ones count up
HOST_RULE_PRIORITY = 1000
REPLY_MARK = 0x1  # connections that entered through veth0 (underlay), as upstream's mark bit 0
REPLY_RULE_PRIORITY = 1000
VETH0 = "veth0"
EXCLUDED_HOST_LINKS = ("docker", "cbr", "dummy", "virbr", "lxcbr", "veth", "cali", "flannel", "kube-ipvs", "cni",
                       "vx-submariner", "cilium")


class PlanError(ValueError):
    """The pod's state does not allow the requested mode (e.g. overlay on eth0)."""


# -- what the planner reads ------------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    name: str
    index: int
    mac: str = ""
    up: bool = True
    peer_index: int | None = None  # a veth's peer ifindex in the other namespace
    addresses: tuple[str, ...] = ()  # "ip/prefix", global scope only


@dataclass(frozen=True)
class RouteEntry:
    dst: str  # "default" or a canonical CIDR
    dev: str
    gw: str | None = None
    src: str | None = None
    scope: str = "universe"  # "universe" | "link"
    table: int = MAIN


@dataclass(frozen=True)
class PodState:
    links: tuple[Link, ...]
    routes: tuple[RouteEntry, ...] = ()  # the pod's main table

    def link(self, name: str) -> Link | None:
        return next((link for link in self.links if link.name == name), None)


@dataclass(frozen=True)
class HostState:
    links: tuple[Link, ...]
    route_src: tuple[str, ...] = ()  # the host's `ip route get <pod ip>` sources, in pod-IP order

    def by_index(self, index: int | None) -> Link | None:
        return next((link for link in self.links if link.index == index), None)

    def link(self, name: str) -> Link | None:
        return next((link for link in self.links if link.name == name), None)


@dataclass(frozen=True)
class Nic:
    name: str
    ips: tuple[tuple[str, str | None], ...]  # (ip/prefix, gateway) from prevResult


# -- what the planner decides ----------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One kernel change. `where` is "pod" or "host"; the other fields depend on `kind`."""

    kind: str  # link_set | veth_add | sysctl | addr_add | route_add | route_del | rule_add | rule_del | neigh_add
    #            | link_del | iptables
    where: str
    dev: str = ""
    dst: str = ""
    gw: str | None = None
    src: str | None = None
    scope: str = "universe"
    table: int = MAIN
    priority: int | None = None
    mac: str | None = None
    peer: str = ""
    peer_mac: str | None = None
    value: int | None = None  # txqueuelen, mtu, sysctl value
    key: str = ""
    mark: int | None = None  # rules: fwmark
    args: tuple[str, ...] = ()  # iptables (key "4"/"6"): mangle rules as `-A` takes them, "CHAIN match... -j X"


@dataclass(frozen=True)
class Plan:
    mode: str  # the resolved mode, or "disabled"
    ops: tuple[Op, ...] = field(default_factory=tuple)


# -- ADD ---------------------------------------------------------------------------------------------

def plan_add(cfg: CoordinatorConfig, *, nic: Nic, container_id: str, pod: PodState, host: HostState) -> Plan:
    """-> the operations that tune `nic` of this pod (pure; PlanError when the mode cannot apply)."""
    if cfg.mode == "disabled":
        return Plan("disabled")
    mode = resolve_mode(cfg, nic.name, pod)
    cluster_nic = cfg.pod_default_cni_nic
    first = nic.name == cluster_nic if mode == "underlay" else _extra_nics(pod, nic.name, cluster_nic) == 0
    pod_ips = [_ip(cidr) for cidr, _ in nic.ips]
    families = sorted({_family(ip) for ip in pod_ips})
    ops: list[Op] = [Op("link_set", "pod", dev=nic.name, mac=mac_from_ip(cfg.pod_mac_prefix, nic.ips),
                        value=cfg.tx_queue_len or None)]
    if 6 in families:  # before any IPv6 route: the kernel refuses them on a device with IPv6 off (EACCES)
        ops += [_enable_ipv6(dev) for dev in ("all", "default", nic.name)]
    if cfg.pod_rp_filter >= 0:
        ops.append(Op("sysctl", "pod", key="net/ipv4/conf/all/rp_filter", value=cfg.pod_rp_filter))
    if mode == "underlay":
        pod_dev, host_veth, pod_mac, host_mac = _underlay_veth(cfg, container_id, pod, host, first, ops)
        if 6 in families:
            ops.append(_enable_ipv6(VETH0))  # made earlier by a v4-only eth0, perhaps with IPv6 off
    else:
        pod_dev, host_veth, pod_mac, host_mac = _overlay_veth(cluster_nic, pod, host)
    table = FIRST_TABLE + _extra_nics(pod, nic.name, cluster_nic)
    tables = [MAIN] if mode == "underlay" and first else ([MAIN, table] if first else [table])
    for family in families:
        hosts = host_ips(host, [ip for ip in pod_ips if _family(ip) == family], family)
        src = _cluster_src(pod, cluster_nic, family) if mode == "underlay" else None
        ops += _host_side(cfg, [ip for ip in pod_ips if _family(ip) == family], host_veth, pod_mac)
        for host_ip in hosts:
            if first and host_mac:
                ops.append(Op("neigh_add", "pod", dev=pod_dev, dst=host_ip, mac=host_mac))
            ops += [Op("route_add", "pod", dst=_host_cidr(host_ip), dev=pod_dev, scope="link", src=src, table=t)
                    for t in tables]
        if hosts:
            ops += [Op("route_add", "pod", dst=cidr, gw=hosts[0], dev=pod_dev, src=src, table=t)
                    for cidr in cfg.hijack_set if _family(cidr) == family for t in tables]
        if hosts and mode == "underlay" and first:
            ops += _reply_via_veth0(family, hosts[0])
    if cfg.tune_pod_routes and not (mode == "underlay" and first):
        ops += _tune_routes(cfg, nic, pod, table)
    policy_table = MAIN if mode == "underlay" and first else table
    ops += [Op("route_add", "pod", dst=dst, gw=gw, dev=nic.name, table=policy_table)
            for dst, gw in cfg.policy_routes if any(_family(ip) == _family(gw) for ip in pod_ips)]
    return Plan(mode, tuple(ops))


def _enable_ipv6(dev: str) -> Op:
    return Op("sysctl", "pod", key=f"net/ipv6/conf/{dev}/disable_ipv6", value=0)


REPLY_IPTABLES = (  # upstream's mangle rules: mark what entered through veth0, answer with the same mark
    f"PREROUTING -i {VETH0} -m conntrack --ctstate NEW -j MARK --set-xmark {REPLY_MARK:#x}/0xffffffff",
    f"PREROUTING -m mark --mark {REPLY_MARK:#x} -j CONNMARK --save-mark",
    "OUTPUT -j CONNMARK --restore-mark",
)


def _reply_via_veth0(family: int, host_ip: str) -> list[Op]:
    """Underlay: a connection that came in through veth0 (from the node: kube-proxy, NodePorts, probes) is
    answered through veth0, not by the underlay gateway: conntrack marks it, `fwmark 0x1 lookup 100` routes it."""
    ops = [Op("iptables", "pod", key=str(family), args=REPLY_IPTABLES)]
    ops.append(Op("rule_add", "pod", mark=REPLY_MARK, table=CLUSTER_TABLE, priority=REPLY_RULE_PRIORITY,
                  dst="0.0.0.0/0" if family == 4 else "::/0"))
    ops.append(Op("route_add", "pod", dst="default", gw=host_ip, dev=VETH0, table=CLUSTER_TABLE))
    return ops


def resolve_mode(cfg: CoordinatorConfig, if_name: str, pod: PodState) -> str:
    """`auto`: eth0 -> underlay; otherwise underlay if veth0 exists, else overlay. Checks either way."""
    cluster_nic, has_veth0 = cfg.pod_default_cni_nic, pod.link(VETH0) is not None
    mode = cfg.mode
    if mode == "auto":
        mode = "underlay" if if_name == cluster_nic or has_veth0 else "overlay"
    if mode == "overlay" and if_name == cluster_nic:
        raise PlanError(f"coordinator: overlay mode tunes extra NICs; {if_name} belongs to the default CNI")
    if mode == "overlay" and has_veth0:
        raise PlanError("coordinator: overlay mode, but the pod has veth0 (an underlay pod)")
    if mode == "underlay" and if_name != cluster_nic and not has_veth0:
        raise PlanError(f"coordinator: underlay mode on {if_name}, but the auxiliary interface {cluster_nic} was not "
                        "created by an underlay chain (no veth0)")
    return mode


def _extra_nics(pod: PodState, if_name: str, cluster_nic: str) -> int:
    """How many NICs were tuned before this one (UP, not lo/eth0/veth0/this)."""
    return sum(1 for link in pod.links if link.up and link.name not in ("lo", cluster_nic, VETH0, if_name))


def _overlay_veth(cluster_nic: str, pod: PodState, host: HostState) -> tuple[str, str, str, str | None]:
    """Overlay: the "veth" is the default CNI's eth0; its host side is the peer (the calico/ptp veth)."""
    eth0 = pod.link(cluster_nic)
    if eth0 is None:
        raise PlanError(f"coordinator: overlay mode, but the pod has no {cluster_nic} from the default CNI")
    peer = host.by_index(eth0.peer_index)
    return cluster_nic, (peer.name if peer else ""), eth0.mac, (peer.mac if peer else None)


def _underlay_veth(cfg: CoordinatorConfig, container_id: str, pod: PodState, host: HostState, first: bool,
                   ops: list[Op]) -> tuple[str, str, str | None, str | None]:
    """Underlay: the first NIC creates veth0 <-> veth<id> (appending the op); later NICs find them."""
    host_name = host_veth_name(container_id)
    if first:
        pod_mac, host_mac = veth_macs(container_id)
        ops.append(Op("veth_add", "pod", dev=VETH0, mac=pod_mac, peer=host_name, peer_mac=host_mac,
                      value=cfg.veth_mtu))
        if cfg.veth_link_address:
            ops.append(Op("addr_add", "pod", dev=VETH0, dst=_host_cidr(cfg.veth_link_address)))
        return VETH0, host_name, pod_mac, host_mac
    veth0, peer = pod.link(VETH0), host.link(host_name)
    return VETH0, host_name, veth0.mac if veth0 else None, peer.mac if peer else None


def _host_side(cfg: CoordinatorConfig, pod_ips: list[str], host_veth: str, pod_mac: str | None) -> list[Op]:
    """The node reaches the pod's IPs through the veth: `from all lookup <hostRuleTable>` + /32 routes there."""
    if not host_veth or not pod_ips:
        return []
    family = _family(pod_ips[0])
    ops = [Op("rule_add", "host", table=cfg.host_rule_table, priority=HOST_RULE_PRIORITY,
              dst="0.0.0.0/0" if family == 4 else "::/0")]
    for ip in pod_ips:
        ops.append(Op("route_add", "host", dst=_host_cidr(ip), dev=host_veth, scope="link", table=cfg.host_rule_table))
        if pod_mac:
            ops.append(Op("neigh_add", "host", dev=host_veth, dst=ip, mac=pod_mac))
    return ops


def _tune_routes(cfg: CoordinatorConfig, nic: Nic, pod: PodState, table: int) -> list[Op]:
    """Policy routing for the NIC: its routes into its table, `from <ip> lookup table`, the default where asked."""
    ops = []
    own = [r for r in pod.routes if r.dev == nic.name and r.table == MAIN]
    moves_default = cfg.pod_default_route_nic == nic.name
    for route in own:
        ops.append(Op("route_add", "pod", dst=route.dst, dev=route.dev, gw=route.gw, src=route.src,
                      scope=route.scope, table=table))
        if route.dst in ("default", "0.0.0.0/0", "::/0") and not moves_default:
            ops.append(Op("route_del", "pod", dst=route.dst, dev=route.dev, gw=route.gw, table=MAIN))
    for cidr, gateway in nic.ips:
        ip = _ip(cidr)
        default = "0.0.0.0/0" if _family(ip) == 4 else "::/0"
        has_default = any(r.dst in ("default", default) and _family_of_route(r, ip) for r in own)
        if gateway and not has_default:
            ops.append(Op("route_add", "pod", dst="default", gw=gateway, dev=nic.name, table=table))
        ops.append(Op("rule_add", "pod", src=_host_cidr(ip), table=table))
        if moves_default and gateway:
            for route in pod.routes:
                if route.dst in ("default", default) and route.dev != nic.name and _family_of_route(route, ip):
                    ops += _keep_replies(pod, route)
                    ops.append(Op("route_del", "pod", dst=route.dst, dev=route.dev, gw=route.gw, table=MAIN))
            ops.append(Op("route_add", "pod", dst="default", gw=gateway, dev=nic.name, table=MAIN))
    return ops


def _keep_replies(pod: PodState, default: RouteEntry) -> list[Op]:
    """The default leaves `default.dev`: its own addresses keep it in CLUSTER_TABLE (symmetric replies)."""
    link = pod.link(default.dev)
    ips = [_ip(c) for c in (link.addresses if link else ()) if _family_of_route(default, _ip(c))]
    if not ips:
        return []
    ops = [Op("route_add", "pod", dst="default", gw=default.gw, dev=default.dev, table=CLUSTER_TABLE)]
    return ops + [Op("rule_add", "pod", src=_host_cidr(ip), table=CLUSTER_TABLE) for ip in ips]


# -- DEL -----------------------------------------------------------------------------------------------

def plan_del(cfg: CoordinatorConfig | None, *, container_id: str, pod_ips: list[str]) -> Plan:
    """What DEL removes on the host (the pod side dies with its netns); every op tolerates 'not there'."""
    table = cfg.host_rule_table if cfg else 500
    ops = [Op("link_del", "host", dev=host_veth_name(container_id))]
    for ip in pod_ips:
        ops.append(Op("route_del", "host", dst=_host_cidr(ip), table=table, scope="link"))
        ops.append(Op("rule_del", "host", dst=_host_cidr(ip), table=table))  # upstream's leftover `to <ip>` rules
    return Plan(cfg.mode if cfg else "auto", tuple(ops))


# -- helpers --------------------------------------------------------------------------------------------

def host_ips(host: HostState, pod_ips: list[str], family: int) -> list[str]:
    """The node's addresses the pod must reach via the cluster NIC: route-get sources, then its real NICs'."""
    found = [ip for ip in host.route_src if _family(ip) == family]
    for link in host.links:
        if link.name == "lo" or link.name.startswith(EXCLUDED_HOST_LINKS):
            continue
        found += [_ip(cidr) for cidr in link.addresses if _family(_ip(cidr)) == family]
    return [ip for ip in dict.fromkeys(found) if ip not in pod_ips]


def host_veth_name(container_id: str) -> str:
    return "veth" + container_id[:11]


def veth_macs(container_id: str) -> tuple[str, str]:
    """Fixed, locally administered unicast MACs for veth0 and its host peer, derived from the container ID."""
    digest = hashlib.sha256(container_id.encode()).digest()
    pod = ":".join(f"{b:02x}" for b in (0x0a, *digest[0:5]))  # 0x0a: locally administered, unicast
    host = ":".join(f"{b:02x}" for b in (0x1a, *digest[5:10]))
    return pod, host


def mac_from_ip(prefix: str, ips: tuple[tuple[str, str | None], ...]) -> str | None:
    """podMACPrefix: 2 bytes of prefix + 4 bytes of the first IP (IPv4 whole, IPv6 its last 4)."""
    if not prefix or not ips:
        return None
    packed = ipaddress.ip_interface(ips[0][0]).ip.packed[-4:]
    return prefix.lower() + ":" + ":".join(f"{b:02x}" for b in packed)


def _cluster_src(pod: PodState, cluster_nic: str, family: int) -> str | None:
    """For underlay veth0 routes: the cluster NIC's (eth0's) address of that family; veth0 has none."""
    link = pod.link(cluster_nic)
    return next((_ip(cidr) for cidr in (link.addresses if link else ()) if _family(_ip(cidr)) == family), None)


def _ip(cidr: str) -> str:
    return cidr.split("/")[0]


def _family(text: str) -> int:
    return 6 if ":" in text else 4


def _family_of_route(route: RouteEntry, ip: str) -> bool:
    probe = route.gw or (route.dst if route.dst != "default" else None) or route.src
    return probe is None or _family(probe) == _family(ip)


def _host_cidr(ip: str) -> str:
    return f"{ip}/{32 if _family(ip) == 4 else 128}"
