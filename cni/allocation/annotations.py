"""The `ipam.spidernet.io/*` annotations, parsed into values or refused with a pointed error.

Parsing happens when a request needs the annotation, not when the pod enters the
agent's cache, so a malformed annotation fails that pod's ADD with an
`AnnotationError` naming the annotation, and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from cni.ipranges import parse_cidr, parse_ip

from .errors import AnnotationError
from .model import PoolNames, RouteSpec
from .workload import NamespaceInfo, PodInfo

IPPOOL = "ipam.spidernet.io/ippool"
IPPOOLS = "ipam.spidernet.io/ippools"
ROUTES = "ipam.spidernet.io/routes"
NAMESPACE_DEFAULT = {4: "ipam.spidernet.io/default-ipv4-ippool", 6: "ipam.spidernet.io/default-ipv6-ippool"}


@dataclass(frozen=True)
class NicPools:
    """One item of `ipam.spidernet.io/ippools`."""

    interface: str | None
    pools: PoolNames
    clean_gateway: bool | None


def load_json(owner: str, annotations: Mapping[str, str], key: str) -> Any:
    """An annotation's JSON value; AnnotationError naming it when it is not JSON."""
    try:
        return json.loads(annotations[key])
    except ValueError as exc:
        raise AnnotationError(owner, key, f"not valid JSON ({exc})") from None


def _names(owner: str, key: str, value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AnnotationError(owner, key, f"{where} must be a list of pool names, got {json.dumps(value)}")
    return tuple(value)


def _pool_names(owner: str, key: str, item: Mapping[str, Any], where: str) -> PoolNames:
    names = PoolNames(_names(owner, key, item.get("ipv4"), f"{where}ipv4"),
                      _names(owner, key, item.get("ipv6"), f"{where}ipv6"))
    if not names:
        raise AnnotationError(owner, key, f"{where or ''}names no pools (give an ipv4 and/or ipv6 list)")
    return names


def ippool(pod: PodInfo) -> PoolNames | None:
    if IPPOOL not in pod.annotations:
        return None
    owner = f"pod {pod.key}"
    value = load_json(owner, pod.annotations, IPPOOL)
    if not isinstance(value, dict):
        raise AnnotationError(owner, IPPOOL, 'must be a JSON object like {"ipv4": ["pool-a"]}')
    return _pool_names(owner, IPPOOL, value, "")


def ippools(pod: PodInfo) -> tuple[NicPools, ...] | None:
    if IPPOOLS not in pod.annotations:
        return None
    owner = f"pod {pod.key}"
    value = load_json(owner, pod.annotations, IPPOOLS)
    if not isinstance(value, list) or not value or not all(isinstance(i, dict) for i in value):
        raise AnnotationError(owner, IPPOOLS, 'must be a non-empty JSON list like [{"interface": "eth0", "ipv4": ["a"]}]')
    items = tuple(_nic_pools(owner, index, item) for index, item in enumerate(value))
    named = [i.interface for i in items if i.interface]
    if named and len(named) != len(items):
        raise AnnotationError(owner, IPPOOLS, "either every item names an interface or none does")
    duplicates = sorted({n for n in named if named.count(n) > 1})
    if duplicates:
        raise AnnotationError(owner, IPPOOLS, f"interface {duplicates[0]} is listed more than once")
    return items


def _nic_pools(owner: str, index: int, item: Mapping[str, Any]) -> NicPools:
    interface, clean = item.get("interface"), item.get("cleangateway")
    if interface is not None and not (isinstance(interface, str)):
        raise AnnotationError(owner, IPPOOLS, f"item {index}: interface must be a string")
    if clean is not None and not isinstance(clean, bool):
        raise AnnotationError(owner, IPPOOLS, f"item {index}: cleangateway must be true or false")
    return NicPools(interface or None, _pool_names(owner, IPPOOLS, item, f"item {index}: "), clean)


def routes(pod: PodInfo) -> tuple[RouteSpec, ...]:
    if ROUTES not in pod.annotations:
        return ()
    owner = f"pod {pod.key}"
    value = load_json(owner, pod.annotations, ROUTES)
    if not isinstance(value, list):
        raise AnnotationError(owner, ROUTES, 'must be a JSON list like [{"dst": "10.7.0.0/16", "gw": "10.6.0.1"}]')
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("dst"), str) or not isinstance(item.get("gw"), str):
            raise AnnotationError(owner, ROUTES, f"item {index}: needs string fields dst and gw")
        try:
            dst, gw = parse_cidr(item["dst"]), parse_ip(item["gw"])
        except ValueError as exc:
            raise AnnotationError(owner, ROUTES, f"item {index}: {exc}") from None
        if dst.version != gw.version:
            raise AnnotationError(owner, ROUTES, f"item {index}: dst {dst} and gw {gw} are of different families")
        out.append(RouteSpec(str(dst), str(gw)))
    return tuple(out)


def namespace_defaults(namespace: NamespaceInfo | None) -> PoolNames | None:
    if namespace is None:
        return None
    owner = f"namespace {namespace.name}"
    found = {}
    for version, key in NAMESPACE_DEFAULT.items():
        if key in namespace.annotations:
            found[version] = _names(owner, key, load_json(owner, namespace.annotations, key), "the value")
    names = PoolNames(found.get(4, ()), found.get(6, ()))
    return names or None
