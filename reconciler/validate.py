"""The semantic rules of a NetworkSpec, beyond what the JSON Schema can say.

Each rule appends `SpecError`s (file:line:col, path, message); nothing stops at the
first problem, so a user fixes everything in one round. Address arithmetic uses
netaddr sets and one sorted sweep for overlaps, so a spec with thousands of pools
in a /8 is judged in well under a second.

Rules (DESIGN.md "The NetworkSpec"): canonical CIDRs; ranges parse, are of one
family and lie in their subnet; subnets do not overlap; pools never share an IP;
a pool inside a declared subnet uses its CIDR and takes IPs from its ips; gateways
inside the subnet and outside its ips; route gateways inside the subnet; zones,
pools and networks referenced exist and match the family; a Calico pool's CIDR is
its subnet's; families used are enabled; names are DNS-1123; coordinator values
are sane; each network type gets the fields it needs and no others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from netaddr import IPNetwork

from cni import ifacer, ipranges, pluginwire

from .errors import SpecError
from .loader import SourceMap
from .model import DEFAULT_NETWORK_NAMESPACE, Addresses, IPPool, Network, NetworkSpec, Route, Subnet
from .render import mergeable_zones
from .yamlsource import Path

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IFNAME = re.compile(r"^[^\s/:]{1,15}$")
MAC_PREFIX = re.compile(r"^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}$")
RESERVED_TABLES = {253: "default", 254: "main", 255: "local"}

# Which optional network fields each type uses; everything else is an error there.
TYPE_FIELDS = {
    "macvlan": {"master", "mode", "vlanID", "bond", "mtu", "ippools", "coordinator", "cniVersion"},
    "ipvlan": {"master", "mode", "vlanID", "bond", "mtu", "ippools", "coordinator", "cniVersion"},
    "sriov": {"resourceName", "vlanID", "mtu", "minTxRateMbps", "maxTxRateMbps", "ippools", "coordinator", "cniVersion"},
    "ovs": {"bridge", "vlanID", "deviceID", "ippools", "coordinator", "cniVersion"},
    "custom": {"config"},
}
TYPE_REQUIRED = {"macvlan": ("master",), "ipvlan": ("master",), "sriov": ("resourceName",), "ovs": ("bridge",),
                 "custom": ("config",)}
TYPE_MODES = {"macvlan": ("bridge", "vepa", "private", "passthru"), "ipvlan": ("l2", "l3", "l3s")}
CALICO_BLOCK_SIZES = {4: (20, 32), 6: (116, 128)}


@dataclass
class _Checker:
    spec: NetworkSpec
    sources: SourceMap
    errors: list[SpecError] = field(default_factory=list)
    parsed: dict[tuple[str, str], Addresses] = field(default_factory=dict)  # ("subnet"|"pool", name) -> addresses

    def error(self, path: Path, message: str, *, key: bool = False) -> None:
        self.errors.append(self.sources.error(path, message, key=key))

    # -- names and families ---------------------------------------------------------

    def name(self, path: Path, value: str, *, label: bool = False) -> None:
        pattern, limit = (DNS1123_LABEL, 63) if label else (DNS1123_SUBDOMAIN, 253)
        if not pattern.match(value) or len(value) > limit:
            kind = "DNS-1123 label" if label else "DNS-1123 name"
            dots = "" if label else ", '.'"
            self.error(path, f"{value!r} is not a valid {kind} (lowercase letters, digits, '-'{dots}; "
                             f"starting and ending with a letter or digit; at most {limit} characters)")

    def family_enabled(self, path: Path, version: int) -> None:
        versions = self.spec.cluster.ip_versions
        if version not in versions:
            shown = "[" + ", ".join(map(str, versions)) + "]"
            self.error(path, f"IPv{version} is not enabled: spec.cluster.ipVersions is {shown}")

    def cidr(self, path: Path, text: str) -> IPNetwork | None:
        try:
            return ipranges.parse_cidr(text)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

    def ip(self, path: Path, text: str) -> Any:
        try:
            return ipranges.parse_ip(text)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

    # -- ranges, gateways and routes shared by subnets and pools -------------------

    def ranges(self, path: Path, texts: Iterable[str], network: IPNetwork | None) -> ipranges.RangeSet:
        parsed = []
        for i, text in enumerate(texts):
            try:
                item = ipranges.parse_range(text)
            except ValueError as exc:
                self.error(path + (i,), str(exc))
                continue
            if network is None:
                continue
            if item.version != network.version:
                self.error(path + (i,), f"{text!r} is IPv{item.version} but the subnet {network} is IPv{network.version}")
            elif item.first < network.first or item.last > network.last:
                self.error(path + (i,), f"{text!r} is not inside the subnet {network}")
            else:
                parsed.append(item)
        return ipranges.to_set(parsed)

    def addresses(self, item: Subnet | IPPool) -> Addresses:
        network = self.cidr(item.path + ("subnet",), item.subnet)
        if network is not None:
            self.family_enabled(item.path + ("subnet",), network.version)
        ips = self.ranges(item.path + ("ips",), item.ips, network)
        excluded = self.ranges(item.path + ("excludeIPs",), item.exclude_ips, network)
        parsed = Addresses(network, ips, excluded, ips - excluded)
        self.gateway(item, parsed)
        self.routes(item.path + ("routes",), item.routes, network)
        self.parsed[("subnet" if isinstance(item, Subnet) else "pool", item.name)] = parsed
        return parsed

    def gateway(self, item: Subnet | IPPool, parsed: Addresses) -> None:
        if item.gateway is None or parsed.network is None:
            return
        path = item.path + ("gateway",)
        gateway = self.ip(path, item.gateway)
        if gateway is None:
            return
        parsed.gateway = gateway
        if gateway not in parsed.network:
            self.error(path, f"gateway {gateway} is not inside the subnet {parsed.network}")
        elif gateway in parsed.usable:
            self.error(path, f"gateway {gateway} is one of the ips handed to pods; move it out of ips or add it to excludeIPs")

    def routes(self, path: Path, routes: tuple[Route, ...], network: IPNetwork | None) -> None:
        seen: dict[str, int] = {}
        for i, route in enumerate(routes):
            dst = self.cidr(path + (i, "dst"), route.dst)
            if dst is not None:
                if dst.prefixlen == 0:
                    self.error(path + (i, "dst"), f"{route.dst} is the default route; it comes from the gateway, not from routes")
                elif network is not None and dst.version != network.version:
                    self.error(path + (i, "dst"), f"{route.dst} is IPv{dst.version} but the subnet {network} is IPv{network.version}")
                if str(dst) in seen:
                    self.error(path + (i, "dst"), f"{route.dst} is routed twice (also routes[{seen[str(dst)]}])")
                seen[str(dst)] = i
            gw = self.ip(path + (i, "gw"), route.gw)
            if gw is not None and network is not None and gw not in network:
                self.error(path + (i, "gw"), f"route gateway {gw} is not inside the subnet {network}")


LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
IFNAME_RULE = "(1-15 characters, no spaces, '/' or ':')"


def _label_value_name(check: _Checker, path: Path, value: str, label: str) -> None:
    """Names that become label values must fit one (63 characters)."""
    if len(value) > 63:
        check.error(path, f"{value!r} is too long: it becomes the value of the label {label}, which takes at most "
                          "63 characters")


def validate(spec: NetworkSpec, sources: SourceMap) -> list[SpecError]:
    """All semantic errors of a schema-valid spec (empty when it is valid)."""
    return validate_and_parse(spec, sources)[0]


def validate_and_parse(spec: NetworkSpec, sources: SourceMap
                       ) -> tuple[list[SpecError], dict[tuple[str, str], Addresses]]:
    """(all semantic errors, every subnet's and pool's addresses as parsed for the checks: render's input)."""
    check = _Checker(spec, sources)
    check.name(("metadata", "name"), spec.name)
    _label_value_name(check, ("metadata", "name"), spec.name, "gitops.spidernet.io/spec")
    _cluster(check)
    subnets = _subnets(check)
    pools = _pools(check, subnets)
    _reserved(check)
    _zones(check)
    _networks(check, pools)
    if spec.coordinator is not None:
        _coordinator(check, spec.coordinator.path, spec.coordinator.values)
    return check.errors, check.parsed


def _cluster(check: _Checker) -> None:
    cluster = check.spec.cluster
    for key, cidrs in (("podCIDRs", cluster.pod_cidrs), ("serviceCIDRs", cluster.service_cidrs)):
        for i, text in enumerate(cidrs):
            network = check.cidr(("spec", "cluster", key, i), text)
            if network is not None:
                check.family_enabled(("spec", "cluster", key, i), network.version)


def _subnets(check: _Checker) -> dict[str, tuple[Subnet, Addresses]]:
    """Declared subnets by CIDR text, for pools to be checked against."""
    by_cidr: dict[str, tuple[Subnet, Addresses]] = {}
    spans = []
    for subnet in check.spec.subnets:
        check.name(subnet.path + ("name",), subnet.name)
        _label_value_name(check, subnet.path + ("name",), subnet.name, "ipam.spidernet.io/owner-spider-subnet")
        parsed = check.addresses(subnet)
        if parsed.network is None:
            continue
        by_cidr.setdefault(str(parsed.network), (subnet, parsed))
        spans.append(ipranges.Interval(parsed.network.first, parsed.network.last, (parsed.network.version, subnet.name)))
        if subnet.calico is not None:
            _calico(check, subnet, parsed.network)
    named = {s.name: s for s in check.spec.subnets}
    for overlap in _by_family(spans):
        earlier, later = named[overlap.earlier[1]], named[overlap.later[1]]
        check.error(later.path + ("subnet",), f"{later.subnet} overlaps subnet {earlier.name!r} ({earlier.subnet}); "
                                             "subnets must not overlap")
    return by_cidr


def _by_family(spans: list[ipranges.Interval]) -> list[ipranges.Overlap]:
    """Overlaps among intervals whose owner is (family, name): families never mix."""
    found = []
    for version in (4, 6):
        found += ipranges.overlaps(s for s in spans if s.owner[0] == version)
    return found


def _calico(check: _Checker, subnet: Subnet, network: IPNetwork) -> None:
    path = subnet.path + ("calicoIPPool",)
    if subnet.calico.cidr is not None and subnet.calico.cidr != str(network):
        check.error(path + ("cidr",), f"the Calico pool's cidr {subnet.calico.cidr} must be the subnet's CIDR {network}")
    low, high = CALICO_BLOCK_SIZES[network.version]
    size = subnet.calico.block_size
    if size is not None and not low <= size <= high:
        check.error(path + ("blockSize",), f"blockSize {size} is outside {low}..{high} for an IPv{network.version} pool")
    elif size is not None and size < network.prefixlen:
        check.error(path + ("blockSize",), f"blockSize {size} is larger than the subnet {network}")


def _pools(check: _Checker, subnets: dict[str, tuple[Subnet, Addresses]]) -> dict[str, tuple[IPPool, Addresses]]:
    pools: dict[str, tuple[IPPool, Addresses]] = {}
    shares, cidr_spans = [], []
    for pool in check.spec.ippools:
        check.name(pool.path + ("name",), pool.name)
        parsed = check.addresses(pool)
        pools[pool.name] = (pool, parsed)
        for i, ns in enumerate(pool.namespaces):
            check.name(pool.path + ("namespaces", i), ns, label=True)
        for i, node in enumerate(pool.node_names):
            check.name(pool.path + ("nodeNames", i), node)
        for key, selector in (("namespaceSelector", pool.namespace_selector), ("podSelector", pool.pod_selector)):
            _selector(check, pool.path + (key,), selector)
        if parsed.network is None:
            continue
        _inside_declared_subnet(check, pool, parsed, subnets)
        shares += [ipranges.Interval(i.first, i.last, (parsed.network.version, pool.name))
                   for i in ipranges.intervals(parsed.usable, pool.name)]
        cidr_spans.append(ipranges.Interval(parsed.network.first, parsed.network.last,
                                            (parsed.network.version, pool.name)))
    named = {p.name: p for p in check.spec.ippools}
    for overlap in _by_family(cidr_spans):
        earlier, later = named[overlap.earlier[1]], named[overlap.later[1]]
        if earlier.subnet != later.subnet:
            check.error(later.path + ("subnet",), f"{later.subnet} overlaps the subnet {earlier.subnet} of pool "
                                                 f"{earlier.name!r}; pools in one network must use the same CIDR")
    for overlap in _by_family(shares):
        earlier, later = named[overlap.earlier[1]], named[overlap.later[1]]
        span = ipranges.show_span(overlap.first, overlap.last, overlap.later[0])
        check.error(later.path + ("ips",), f"shares {span} with pool {earlier.name!r}; an IP belongs to one pool")
    zones = {z.name: z for z in check.spec.zones}
    for pool in check.spec.ippools:
        for i, zone in enumerate(pool.zones):
            if zone not in zones:
                check.error(pool.path + ("zones", i), f"zone {zone!r} is not defined in spec.zones")
        if all(z in zones for z in pool.zones) and not mergeable_zones([zones[z] for z in pool.zones]):
            check.error(pool.path + ("zones",), "these zones cannot be combined into one node affinity; zones of one "
                                                "pool must each select one value of the same label")
        for i, ref in enumerate(pool.networks):
            if _network_ref(ref) not in {n.ref for n in check.spec.networks}:
                check.error(pool.path + ("networks", i), f"network {_network_ref(ref)!r} is not defined in spec.networks")
    return pools


def _inside_declared_subnet(check: _Checker, pool: IPPool, parsed: Addresses,
                            subnets: dict[str, tuple[Subnet, Addresses]]) -> None:
    declared = subnets.get(str(parsed.network))
    if declared is None:
        for subnet, sub in subnets.values():
            if sub.network.version == parsed.network.version and (
                    parsed.network in sub.network or sub.network in parsed.network):
                check.error(pool.path + ("subnet",), f"{pool.subnet} overlaps the declared subnet {subnet.name!r} "
                                                     f"({subnet.subnet}); a pool in it must use the CIDR {subnet.subnet}")
        return
    subnet, sub = declared
    if not subnet.ips:
        return  # a subnet without ips does not restrict its pools
    outside = parsed.usable - sub.usable
    if outside:
        spans = ipranges.compact(outside, parsed.network.version)
        shown = ", ".join(spans[:3]) + (" ..." if len(spans) > 3 else "")
        check.error(pool.path + ("ips",), f"{shown} are not among the ips of subnet {subnet.name!r}")


def _label_key(check: _Checker, path: Path, key: str) -> None:
    prefix, slash, name = key.rpartition("/")
    if (slash and (not DNS1123_SUBDOMAIN.match(prefix) or len(prefix) > 253)) or not LABEL_NAME.match(name) \
            or len(name) > 63:
        check.error(path, f"{key!r} is not a valid label key (an optional DNS prefix and '/', then at most 63 "
                          "letters, digits, '-', '_' or '.', starting and ending with a letter or digit)")


def _label_value(check: _Checker, path: Path, value: str) -> None:
    if not LABEL_VALUE.match(value) or len(value) > 63:
        check.error(path, f"{value!r} is not a valid label value (at most 63 letters, digits, '-', '_' or '.', "
                          "starting and ending with a letter or digit)")


def _selector(check: _Checker, path: Path, selector: dict[str, Any] | None) -> None:
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        _label_key(check, path + ("matchLabels", key), key)
        _label_value(check, path + ("matchLabels", key), value)
    for i, expression in enumerate((selector or {}).get("matchExpressions", ())):
        _label_key(check, path + ("matchExpressions", i, "key"), expression["key"])
        for j, value in enumerate(expression.get("values") or []):
            _label_value(check, path + ("matchExpressions", i, "values", j), value)
        operator, values = expression["operator"], expression.get("values") or []
        if operator in ("In", "NotIn") and not values:
            check.error(path + ("matchExpressions", i), f"operator {operator} needs a non-empty values list")
        if operator in ("Exists", "DoesNotExist") and values:
            check.error(path + ("matchExpressions", i, "values"), f"operator {operator} takes no values")


def _reserved(check: _Checker) -> None:
    for reserved in check.spec.reserved_ips:
        check.name(reserved.path + ("name",), reserved.name)
        versions = set()
        for i, text in enumerate(reserved.ips):
            try:
                versions.add(ipranges.parse_range(text).version)
            except ValueError as exc:
                check.error(reserved.path + ("ips", i), str(exc))
        if len(versions) > 1:
            check.error(reserved.path + ("ips",), "mixes IPv4 and IPv6; use one reservedIPs entry per family")
        for version in sorted(versions):
            check.family_enabled(reserved.path + ("ips",), version)


def _zones(check: _Checker) -> None:
    for zone in check.spec.zones:
        check.name(zone.path + ("name",), zone.name, label=True)
        _selector(check, zone.path + ("nodeSelector",), zone.node_selector)
        if not zone.node_selector.get("matchLabels") and not zone.node_selector.get("matchExpressions"):
            check.error(zone.path + ("nodeSelector",), "an empty nodeSelector selects every node; give matchLabels "
                                                       "or matchExpressions")


def _network_ref(ref: str) -> str:
    return ref if "/" in ref else f"{DEFAULT_NETWORK_NAMESPACE}/{ref}"


def _networks(check: _Checker, pools: dict[str, tuple[IPPool, Addresses]]) -> None:
    for network in check.spec.networks:
        check.name(network.path + ("name",), network.name)
        check.name(network.path + ("namespace",), network.namespace, label=True)
        _network_fields(check, network)
        for version, names in ((4, network.ipv4_pools), (6, network.ipv6_pools)):
            for i, name in enumerate(names):
                path = network.path + ("ippools", f"ipv{version}", i)
                if name in names[:i]:
                    check.error(path, f"pool {name!r} is listed twice")
                    continue
                _network_pool(check, network, path, name, version, pools)
        if network.coordinator:
            _coordinator(check, network.path + ("coordinator",), network.coordinator)
    _shared_parents(check)


def _shared_parents(check: _Checker) -> None:
    """The kernel refuses macvlan and ipvlan interfaces on one parent device (EBUSY), and a VLAN
    network's parent is `<master>.<vlanID>`: one such pair is an error at the later network."""
    first: dict[tuple[str, int], Network] = {}
    for network in check.spec.networks:
        if network.type not in ("macvlan", "ipvlan") or network.parent is None:
            continue
        parent = (network.parent, network.vlan_id)
        other = first.setdefault(parent, network)
        if other.type != network.type:
            where = network.main_master
            check.error(network.path + ("master",),
                        f"{network.type} on {where}, where {other.type} network {other.name!r} already is: the "
                        "kernel allows no macvlan and ipvlan interfaces on one parent; use another master or VLAN")


def _masters(check: _Checker, network: Network) -> None:
    """Interface names; several masters only with a bond; `<parent>.<vlanID>` a name the kernel takes."""
    listed = not isinstance(network.raw.get("master"), str)
    for i, name in enumerate(network.masters):
        path = network.path + (("master", i) if listed else ("master",))
        if not IFNAME.match(name):
            check.error(path, f"{name!r} is not an interface name {IFNAME_RULE}")
        elif name in network.masters[:i]:
            check.error(path, f"{name!r} is listed twice")
    if len(network.masters) > 1 and not network.bond:
        check.error(network.path + ("master",), f"{len(network.masters)} masters need 'bond' to join them "
                                                f"(name and mode of the bond the node gets)")
    path = network.path + ("master",)
    if network.bond:
        path = network.path + ("bond", "name")
        if len(network.masters) < 2:
            check.error(network.path + ("bond",), "a bond joins two or more masters; list them in 'master'")
        if not IFNAME.match(network.bond["name"]):
            check.error(path, f"{network.bond['name']!r} is not an interface name {IFNAME_RULE}")
        elif network.bond["name"] in network.masters:
            check.error(path, f"bond {network.bond['name']!r} is also one of its own masters")
        try:
            ifacer.bond_options(network.bond.get("options") or "")
        except pluginwire.CniError as error:
            check.error(network.path + ("bond", "options"), error.msg.removeprefix("ifacer: ")
                        + f" ({error.details})")
    vlan = network.main_master if network.vlan_id and network.parent else None
    if vlan and len(vlan) > ifacer.IFNAMSIZ and IFNAME.match(network.parent):
        check.error(path, f"its VLAN interface {vlan!r} ({network.parent!r} + '.{network.vlan_id}') is {len(vlan)} "
                          f"characters; Linux interface names are at most {ifacer.IFNAMSIZ}: use a shorter name")


def _network_fields(check: _Checker, network: Network) -> None:
    allowed = TYPE_FIELDS[network.type] | {"name", "namespace", "type"}
    for key in network.raw:
        if key not in allowed:
            check.error(network.path + (key,), f"{key!r} does not apply to a {network.type} network", key=True)
    for key in TYPE_REQUIRED[network.type]:
        if network.raw.get(key) in (None, "", {}):
            check.error(network.path, f"a {network.type} network needs {key!r}")
    _masters(check, network)
    modes = TYPE_MODES.get(network.type)
    if modes and network.mode is not None and network.mode not in modes:
        check.error(network.path + ("mode",), f"mode {network.mode!r} is not one of {', '.join(modes)} for {network.type}")
    if network.min_tx_rate is not None and network.max_tx_rate is not None and network.min_tx_rate >= network.max_tx_rate:
        check.error(network.path + ("minTxRateMbps",), "minTxRateMbps must be below maxTxRateMbps")
    if network.type == "custom" and network.config is not None:
        if "type" not in network.config and "plugins" not in network.config:
            check.error(network.path + ("config",), "a CNI configuration needs 'type' (one plugin) or 'plugins' (a list)")


def _network_pool(check: _Checker, network: Network, path: Path, name: str, version: int,
                  pools: dict[str, tuple[IPPool, Addresses]]) -> None:
    if name not in pools:
        check.error(path, f"pool {name!r} is not defined in spec.ippools")
        return
    pool, parsed = pools[name]
    if parsed.network is not None and parsed.network.version != version:
        check.error(path, f"pool {name!r} is IPv{parsed.network.version} but is listed under ipv{version}")
    if pool.networks and network.ref not in {_network_ref(r) for r in pool.networks}:
        serves = ", ".join(_network_ref(r) for r in pool.networks)
        check.error(path, f"pool {name!r} only serves networks {serves}, so it can never serve {network.ref}")


def _coordinator(check: _Checker, path: Path, values: dict[str, Any]) -> None:
    table = values.get("hostRuleTable")
    if table in RESERVED_TABLES:
        check.error(path + ("hostRuleTable",), f"table {table} is the kernel's {RESERVED_TABLES[table]} table; "
                                               "pick another (500 by default)")
    prefix = values.get("podMACPrefix")
    if prefix:
        if not MAC_PREFIX.match(prefix):
            check.error(path + ("podMACPrefix",), f"{prefix!r} is not a 2-byte MAC prefix like '0a:1b'")
        elif int(prefix[:2], 16) & 1:
            check.error(path + ("podMACPrefix",), f"{prefix!r} is a multicast prefix; the first byte must be even")
    for key in ("podDefaultRouteNIC", "podDefaultCniNic"):
        nic = values.get(key)
        if nic and not IFNAME.match(nic):
            check.error(path + (key,), f"{nic!r} is not an interface name {IFNAME_RULE}")
    address = values.get("vethLinkAddress")
    if address:
        ip = check.ip(path + ("vethLinkAddress",), address)
        if ip is not None and ip.version != 4:
            check.error(path + ("vethLinkAddress",), f"{address!r} is IPv6; veth0 takes an IPv4 address (as /32), "
                                                      "e.g. 169.254.200.1")
    for i, text in enumerate(values.get("hijackCIDR", ())):
        network = _host_or_cidr(check, path + ("hijackCIDR", i), text)
        if network is not None:
            check.family_enabled(path + ("hijackCIDR", i), network.version)
    for i, route in enumerate(values.get("policyRoutes", ())):
        dst = _host_or_cidr(check, path + ("policyRoutes", i, "dst"), route["dst"])
        gw = check.ip(path + ("policyRoutes", i, "gw"), route["gw"])
        if dst is not None and gw is not None and dst.version != gw.version:
            check.error(path + ("policyRoutes", i), f"dst {route['dst']} and gw {route['gw']} are of different families")
        elif dst is not None:
            check.family_enabled(path + ("policyRoutes", i, "dst"), dst.version)


def _host_or_cidr(check: _Checker, path: Path, text: str) -> IPNetwork | None:
    if isinstance(text, str) and "/" not in text:
        ip = check.ip(path, text)
        return None if ip is None else IPNetwork(ip)
    return check.cidr(path, text)
