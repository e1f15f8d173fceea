"""Typed, read-only views of the pool objects the allocator decides over.

The agent's cache holds raw objects as the API returns them; `Pool.from_object`
and `ReservedIPs.from_objects` turn them into values once per resourceVersion
(the agent should keep the view until the object changes: parsing 5000 records
per request would be wasted). A pool whose spec or records cannot be read is not
rejected here: it is kept with `broken` set, so allocation refuses it with that
reason and `ipam check` reports it, instead of the whole cache failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable, Mapping

from netaddr import IPNetwork

from cni.ipranges import RangeSet, address_key, format_ip, parse_ip, parse_range, to_set

from . import records as _records
from .records import Record


COUNT_MAX = 2 ** 63 - 1  # the CRDs' counts are int64 (format: int64)


@dataclass(frozen=True)
class PoolIndexes:
    """A pool's derived indexes, when the caller already has them (see `Pool.with_records`)."""

    allocated: RangeSet
    by_uid: Mapping[str, tuple[Record, ...]]
    by_pod: Mapping[str, tuple[Record, ...]]


@dataclass(frozen=True)
class PoolNames:
    """Pool names or wildcard patterns per family, in the user's order."""

    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()

    def family(self, version: int) -> tuple[str, ...]:
        return self.ipv4 if version == 4 else self.ipv6

    def __bool__(self) -> bool:
        return bool(self.ipv4 or self.ipv6)


@dataclass(frozen=True)
class RouteSpec:
    dst: str
    gw: str


@dataclass(frozen=True, eq=False)
class Pool:
    name: str
    version: int
    subnet: str
    prefix: int
    usable: RangeSet  # spec.ips - spec.excludeIPs
    gateway: str | None = None
    routes: tuple[RouteSpec, ...] = ()
    node_name: tuple[str, ...] = ()
    node_affinity: Mapping[str, Any] | None = None
    namespace_name: tuple[str, ...] = ()
    namespace_affinity: Mapping[str, Any] | None = None
    pod_affinity: Mapping[str, Any] | None = None
    multus_name: tuple[str, ...] = ()
    default: bool = False
    disable: bool = False
    terminating: bool = False
    vlan: int = 0
    records: Mapping[int, Record] = field(default_factory=dict)
    cursor: int | None = None
    resource_version: str = ""
    status_allocated_count: int | None = None
    status_total_count: int | None = None
    duplicate_keys: tuple[str, ...] = ()
    broken: str | None = None

    @property
    def total_ip_count(self) -> int:
        """`status.totalIPCount`: |ips - excludeIPs|, capped at COUNT_MAX. The CRD's counts are int64, and
        an IPv6 /64 holds 2^64 addresses (`::/0` 2^128): uncapped, the API server refuses the whole status
        write and nothing could be allocated from the pool. Upstream counts by expanding every address
        (`int64(len(totalIPs))`), which no /64 survives; it defines no cap, so this is ours."""
        return min(self.usable.size, COUNT_MAX)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "Pool":
        meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        problems: list[str] = []
        version, subnet, prefix = _subnet(spec, problems)
        usable = _ranges(spec.get("ips"), version, "spec.ips", problems) - _ranges(
            spec.get("excludeIPs"), version, "spec.excludeIPs", problems)
        decoded = _records.decode(status.get("allocatedIPs"), version)
        if decoded.error:
            problems.append(decoded.error)
        return cls(
            name=meta.get("name", ""), version=version, subnet=subnet, prefix=prefix, usable=usable,
            gateway=_ip_or_none(spec.get("gateway"), "spec.gateway", problems),
            routes=tuple(RouteSpec(r.get("dst", ""), r.get("gw", "")) for r in spec.get("routes") or ()),
            node_name=tuple(spec.get("nodeName") or ()), node_affinity=spec.get("nodeAffinity"),
            namespace_name=tuple(spec.get("namespaceName") or ()),
            namespace_affinity=spec.get("namespaceAffinity"), pod_affinity=spec.get("podAffinity"),
            multus_name=tuple(spec.get("multusName") or ()), default=bool(spec.get("default")),
            disable=bool(spec.get("disable")), terminating=bool(meta.get("deletionTimestamp")),
            vlan=int(spec.get("vlan") or 0), records=decoded.records, cursor=decoded.cursor,
            resource_version=str(meta.get("resourceVersion", "")),
            status_allocated_count=status.get("allocatedIPCount"), status_total_count=status.get("totalIPCount"),
            duplicate_keys=decoded.duplicates, broken="; ".join(problems) or None,
        )

    def with_status(self, status: Mapping[str, Any], resource_version: str) -> "Pool":
        """This pool after a status write (e.g. `render_status`'s), as the API would return it."""
        decoded = _records.decode(status.get("allocatedIPs"), self.version)
        return replace(self, records=decoded.records, cursor=decoded.cursor, resource_version=resource_version,
                       status_allocated_count=status.get("allocatedIPCount"),
                       status_total_count=status.get("totalIPCount"), duplicate_keys=decoded.duplicates)

    def with_records(self, records: Mapping[int, Record], *, cursor: int | None,
                     indexes: PoolIndexes | None = None) -> "Pool":
        """This pool holding `records`; `indexes`, when given, must equal what the properties below would
        compute for them (they are kept instead of rebuilt: O(change) rather than O(records))."""
        after = replace(self, records=records, cursor=cursor)
        if indexes is not None:  # prime the cached properties of the new instance
            after.__dict__.update(allocated=indexes.allocated, by_uid=indexes.by_uid, by_pod=indexes.by_pod)
        return after

    @cached_property
    def allocated(self) -> RangeSet:
        return RangeSet((value, value) for value in self.records)

    @cached_property
    def by_uid(self) -> Mapping[str, tuple[Record, ...]]:
        return _index(self.records.values(), lambda r: r.uid)

    @cached_property
    def by_pod(self) -> Mapping[str, tuple[Record, ...]]:
        return _index(self.records.values(), lambda r: r.pod)

    @property
    def cursor_ip(self) -> str | None:
        return None if self.cursor is None else format_ip(self.cursor, self.version)

    def holder(self, ip: str) -> Record | None:
        try:
            return self.records.get(address_key(ip)[1])
        except ValueError:
            return None


@dataclass(frozen=True)
class ReservedIPs:
    """The union of all SpiderReservedIP objects, per family: never handed out."""

    ipv4: RangeSet = field(default_factory=RangeSet)
    ipv6: RangeSet = field(default_factory=RangeSet)
    problems: tuple[str, ...] = ()

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> "ReservedIPs":
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        problems: list[str] = []
        for obj in objects:
            name = (obj.get("metadata") or {}).get("name", "?")
            for text in (obj.get("spec") or {}).get("ips") or ():
                try:
                    span = parse_range(text)
                except ValueError as exc:
                    problems.append(f"SpiderReservedIP {name}: {exc}")
                    continue
                spans[span.version].append((span.first, span.last))
        return cls(RangeSet(spans[4]), RangeSet(spans[6]), tuple(problems))

    def family(self, version: int) -> RangeSet:
        return self.ipv4 if version == 4 else self.ipv6


def _subnet(spec: Mapping[str, Any], problems: list[str]) -> tuple[int, str, int]:
    text = spec.get("subnet", "")
    try:
        network = IPNetwork(text).cidr
    except Exception:  # netaddr raises several types; all mean "not a CIDR"
        problems.append(f"spec.subnet {text!r} is not a CIDR")
        return int(spec.get("ipVersion") or 4), str(text), 0
    return network.version, str(network), network.prefixlen


def _ranges(texts: Any, version: int, where: str, problems: list[str]) -> RangeSet:
    spans = []
    for text in texts or ():
        try:
            span = parse_range(text)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if span.version != version:
            problems.append(f"{where}: {text!r} is not IPv{version}")
            continue
        spans.append(span)
    return to_set(spans)


def _ip_or_none(text: Any, where: str, problems: list[str]) -> str | None:
    if not text:
        return None
    try:
        return str(parse_ip(text))
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None


def _index(records: Iterable[Record], key) -> Mapping[str, tuple[Record, ...]]:
    index: dict[str, list[Record]] = {}
    for record in records:
        index.setdefault(key(record), []).append(record)
    return {k: tuple(sorted(v)) for k, v in index.items()}
