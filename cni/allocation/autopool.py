"""SpiderSubnet auto pools, decided: the annotations, the pool an application gets, how it grows and shrinks.

Why it exists: a workload annotated `ipam.spidernet.io/subnet(s)` gets a pool of its own cut
from a SpiderSubnet (upstream §4). Two processes act on that — the auto-pool controller
(`agent/autopools.py`, sizes pools from the apps' replicas) and the node agent (waits for the
pool, or makes it for a third-party controller) — and both must read the annotations, name
the pool and pick its IPs the same way. Everything here is pure: objects in, values out.

    annotations   `subnet_items`, `ip_number`, `reclaim`: upstream's rules, errors that point
    apps          `AppRef` (the top controller), `replicas_of`, `template_of`
    pools         `pool_name`, `pool_labels`, `new_pool`: upstream's name, labels, podAffinity
    subnet        `decode_controlled`/`encode_controlled` (status.controlledIPPools),
                  `resize`: the IPs a pool keeps, gains or drops (lowest free first; a shrink
                  never drops an allocated IP, it waits for pods to go)

The default for a missing `ippool-ip-number` is a setting (`DEFAULT_IP_NUMBER`, the
controller's `--auto-pool-default-ip-number`), applied by the controller and the agent
alike; upstream reads a ConfigMap key Helm never writes and ends at `+0` (§13.3).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from cni.ipranges import RangeSet, cidr_label, compact, parse_range, to_set

from .annotations import load_json
from .errors import AnnotationError

SUBNET = "ipam.spidernet.io/subnet"
SUBNETS = "ipam.spidernet.io/subnets"
IP_NUMBER = "ipam.spidernet.io/ippool-ip-number"
RECLAIM = "ipam.spidernet.io/ippool-reclaim"
DEFAULT_NIC = "eth0"

PREFIX = "ipam.spidernet.io/"
LABEL_SUBNET = PREFIX + "owner-spider-subnet"
LABEL_GV = PREFIX + "owner-application-gv"
LABEL_KIND = PREFIX + "owner-application-kind"
LABEL_NAMESPACE = PREFIX + "owner-application-namespace"
LABEL_NAME = PREFIX + "owner-application-name"
LABEL_UID = PREFIX + "owner-application-uid"
LABEL_INTERFACE = PREFIX + "interface"
LABEL_VERSION = PREFIX + "ip-version"
LABEL_RECLAIM = PREFIX + "ippool-reclaim"
LABEL_CIDR = PREFIX + "ippool-cidr"
AFFINITY_KEYS = (PREFIX + "app-api-group", PREFIX + "app-api-version", PREFIX + "app-kind",
                 PREFIX + "app-namespace", PREFIX + "app-name")

BUILTIN_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob")
BUILTIN_GROUPS = {"Deployment": "apps", "ReplicaSet": "apps", "StatefulSet": "apps", "DaemonSet": "apps",
                  "Job": "batch", "CronJob": "batch"}
MAX_NAME = 253
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_NUMBER = re.compile(r"^(\+?)([0-9]+)$")
_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


# -- annotations ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubnetItem:
    """One interface's subnets: at most one per family."""

    interface: str
    ipv4: str | None = None
    ipv6: str | None = None

    def family(self, version: int) -> str | None:
        return self.ipv4 if version == 4 else self.ipv6

    @property
    def families(self) -> tuple[int, ...]:
        return tuple(v for v in (4, 6) if self.family(v))


@dataclass(frozen=True)
class IpNumber:
    """`ippool-ip-number`: `+N` (replicas + N, flexible) or `N` (fixed)."""

    count: int
    flexible: bool = True

    @property
    def text(self) -> str:
        return f"+{self.count}" if self.flexible else str(self.count)

    def size(self, replicas: int) -> int:
        return max(replicas, 0) + self.count if self.flexible else self.count


DEFAULT_IP_NUMBER = IpNumber(1)  # upstream's documented Helm default (+1), which upstream never applies


def has_subnet(annotations: Mapping[str, str]) -> bool:
    return SUBNET in annotations or SUBNETS in annotations


def subnet_items(annotations: Mapping[str, str], owner: str) -> tuple[SubnetItem, ...] | None:
    """The `subnets` annotation (it wins) or `subnet`; None when neither is there."""
    if SUBNETS in annotations:
        value = load_json(owner, annotations, SUBNETS)
        if not isinstance(value, list) or not value or not all(isinstance(i, dict) for i in value):
            raise AnnotationError(owner, SUBNETS, 'must be a non-empty JSON list like '
                                                  '[{"interface": "eth0", "ipv4": ["subnet-a"]}]')
        items = tuple(_item(owner, SUBNETS, item, f"item {i}: ", named=len(value) > 1) for i, item in enumerate(value))
        for what, values in (("interface", [i.interface for i in items]),
                             ("subnet", [n for i in items for n in (i.ipv4, i.ipv6) if n])):
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise AnnotationError(owner, SUBNETS, f"{what} {dup[0]} is listed more than once")
        return items
    if SUBNET in annotations:
        value = load_json(owner, annotations, SUBNET)
        if not isinstance(value, dict):
            raise AnnotationError(owner, SUBNET, 'must be a JSON object like {"ipv4": ["subnet-a"]}')
        return (_item(owner, SUBNET, value, "", named=False),)
    return None


def _item(owner: str, key: str, item: Mapping[str, Any], where: str, *, named: bool) -> SubnetItem:
    unknown = sorted(set(item) - {"interface", "ipv4", "ipv6"})
    if unknown:
        raise AnnotationError(owner, key, f"{where}unknown field {unknown[0]!r} (interface, ipv4, ipv6)")
    interface = item.get("interface")
    if interface is None and named:
        raise AnnotationError(owner, key, f"{where}needs an interface when several items are given")
    if interface is not None and (not isinstance(interface, str) or not interface or len(interface) > 15):
        raise AnnotationError(owner, key, f"{where}interface must be an interface name like eth0")
    names = {v: _one_subnet(owner, key, item.get(f"ipv{v}"), f"{where}ipv{v}") for v in (4, 6)}
    if not names[4] and not names[6]:
        raise AnnotationError(owner, key, f"{where}names no subnet (give an ipv4 and/or ipv6 list of one name)")
    return SubnetItem(interface or DEFAULT_NIC, names[4], names[6])


def _one_subnet(owner: str, key: str, value: Any, where: str) -> str | None:
    if value is None or value == []:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AnnotationError(owner, key, f"{where} must be a list of one SpiderSubnet name, got {json.dumps(value)}")
    if len(value) > 1:
        raise AnnotationError(owner, key, f"{where} names {len(value)} subnets ({', '.join(value)}); "
                                          "an interface takes one subnet per family")
    name = value[0]
    if not _NAME.match(name) or len(name) > MAX_NAME:
        raise AnnotationError(owner, key, f"{where}: {name!r} is not a SpiderSubnet name (no wildcards)")
    return name


def ip_number(annotations: Mapping[str, str], owner: str, default: IpNumber = DEFAULT_IP_NUMBER) -> IpNumber:
    """`ippool-ip-number`, or `default` when absent."""
    text = annotations.get(IP_NUMBER)
    if text is None:
        return default
    match = _NUMBER.match(text)
    if not match:
        raise AnnotationError(owner, IP_NUMBER, f"{text!r}: expected N (a fixed size) or +N (replicas + N), "
                                                "N a whole number >= 0")
    number = IpNumber(int(match.group(2)), flexible=bool(match.group(1)))
    if not number.flexible and number.count < 1:
        raise AnnotationError(owner, IP_NUMBER, f"{text!r}: a fixed pool needs at least 1 IP")
    return number


def parse_ip_number(text: str) -> IpNumber:
    """A setting's text (`+1`, `3`) -> IpNumber; ValueError with the reason."""
    try:
        return ip_number({IP_NUMBER: text}, "the setting")
    except AnnotationError as error:
        raise ValueError(error.detail) from None


def reclaim(annotations: Mapping[str, str], owner: str) -> bool:
    text = annotations.get(RECLAIM)
    if text is None:
        return True
    if text not in _BOOLS:
        raise AnnotationError(owner, RECLAIM, f"{text!r}: expected true or false")
    return _BOOLS[text]


# -- applications ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class AppRef:
    """The top controller of a pod: what an auto pool belongs to."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, obj: Mapping[str, Any], kind: str | None = None) -> "AppRef":
        meta = obj.get("metadata") or {}
        group, _, version = str(obj.get("apiVersion") or "").rpartition("/")
        kind = kind or str(obj.get("kind") or "")
        if not version:
            group, version = BUILTIN_GROUPS.get(kind, ""), "v1"
        return cls(group, version, kind, meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""))

    @classmethod
    def of_owner(cls, ref: Mapping[str, Any], namespace: str) -> "AppRef":
        group, _, version = str(ref.get("apiVersion") or "").rpartition("/")
        return cls(group, version, str(ref.get("kind") or ""), namespace, str(ref.get("name") or ""),
                   str(ref.get("uid") or ""))

    @property
    def gv(self) -> str:
        return f"{self.group}_{self.version}" if self.group else self.version

    @property
    def application(self) -> str:
        """upstream's `controlledIPPools[..].application`: `{group}_{version}_{Kind}_{ns}_{name}`."""
        return f"{self.gv}_{self.kind}_{self.namespace}_{self.name}"

    @property
    def builtin(self) -> bool:
        return self.kind in BUILTIN_KINDS and self.group == BUILTIN_GROUPS[self.kind]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def template_of(kind: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template of an app (a CronJob's is inside its jobTemplate)."""
    spec = obj.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def template_annotations(kind: str, obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (template_of(kind, obj).get("metadata") or {}).get("annotations") or {}


def host_network(kind: str, obj: Mapping[str, Any]) -> bool:
    return bool((template_of(kind, obj).get("spec") or {}).get("hostNetwork"))


def controller_owner(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((r for r in (obj.get("metadata") or {}).get("ownerReferences") or () if r.get("controller")), None)


def top_level(kind: str, obj: Mapping[str, Any]) -> bool:
    """A ReplicaSet or Job with a controller is served through it, as upstream's `GetPodTopController`:
    a Deployment or CronJob, or a third-party kind (an Argo Rollout's ReplicaSets are the Rollout's,
    so its pool outlives each revision). Other kinds are their pods' top controller."""
    return kind not in ("ReplicaSet", "Job") or controller_owner(obj) is None


def replicas_of(kind: str, obj: Mapping[str, Any]) -> int:
    """upstream's replica count per kind (§4 Size)."""
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        replicas = spec.get("replicas")
        return 1 if replicas is None else int(replicas)
    if kind == "DaemonSet":
        return int((obj.get("status") or {}).get("desiredNumberScheduled") or 0)
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    if kind in ("Job", "CronJob"):
        parallelism = spec.get("parallelism")
        return 1 if parallelism is None else int(parallelism) or 1
    return 0


# -- the pool -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Want:
    """One pool an app needs: per subnet, interface and family."""

    app: AppRef
    subnet: str
    interface: str
    version: int
    size: int
    number: IpNumber
    reclaim: bool

    @property
    def name(self) -> str:
        return pool_name(self.version, self.app.name, self.interface, self.app.uid)


def wants_of(app: AppRef, annotations: Mapping[str, str], replicas: int, *,
             default: IpNumber = DEFAULT_IP_NUMBER, owner: str | None = None) -> tuple[Want, ...]:
    """The pools an app's template asks for; () without a subnet annotation; AnnotationError when bad."""
    owner = owner or f"{app.kind} {app.namespace}/{app.name}"
    items = subnet_items(annotations, owner)
    if items is None:
        return ()
    number = ip_number(annotations, owner, default)
    keep = reclaim(annotations, owner)
    if not app.builtin and number.flexible:
        raise AnnotationError(owner, IP_NUMBER, f"{app.kind} {app.namespace}/{app.name} only supports fixed "
                                                f"auto-created IPPool IP Number (N, not {number.text})")
    return tuple(Want(app, item.family(v), item.interface, v, number.size(replicas), number, keep)
                 for item in items for v in item.families)


def pool_name(version: int, app_name: str, interface: str, uid: str) -> str:
    """`auto{4|6}-{app}-{nic}-{uid5}`; the app name cut so the whole fits 253 characters."""
    uid5 = uid.split("-")[-1][:5].lower()
    tail = f"-{interface.lower()}-{uid5}"
    head = f"auto{version}-"
    app = app_name.lower()[:MAX_NAME - len(head) - len(tail)].rstrip("-.")
    return f"{head}{app}{tail}"


def pool_labels(want: Want, cidr: str) -> dict[str, str]:
    app = want.app
    return {LABEL_SUBNET: want.subnet, LABEL_GV: app.gv, LABEL_KIND: app.kind, LABEL_NAMESPACE: app.namespace,
            LABEL_NAME: app.name, LABEL_UID: app.uid, LABEL_INTERFACE: want.interface,
            LABEL_VERSION: f"IPv{want.version}", LABEL_RECLAIM: "true" if want.reclaim else "false",
            LABEL_CIDR: cidr_label(cidr)}


def pod_affinity(app: AppRef) -> dict[str, Any]:
    return {"matchLabels": dict(zip(AFFINITY_KEYS, (app.group, app.version, app.kind, app.namespace, app.name)))}


def app_affinity_labels(app: AppRef) -> dict[str, str]:
    """What an auto pool's podAffinity is compared with (the app, not the pod's own labels)."""
    return pod_affinity(app)["matchLabels"]


def is_auto_pool(obj: Mapping[str, Any]) -> bool:
    return LABEL_UID in ((obj.get("metadata") or {}).get("labels") or {})


def new_pool(want: Want, subnet: Mapping[str, Any], ips: RangeSet, *, finalizer: str) -> dict[str, Any]:
    """The SpiderIPPool object for `want`, holding `ips`, with the subnet's gateway and routes."""
    sspec = subnet.get("spec") or {}
    spec: dict[str, Any] = {"ipVersion": want.version, "subnet": sspec.get("subnet"),
                            "ips": compact(ips, want.version), "podAffinity": pod_affinity(want.app)}
    if sspec.get("gateway"):
        spec["gateway"] = sspec["gateway"]
    if sspec.get("routes"):
        spec["routes"] = sspec["routes"]
    owner = {"apiVersion": subnet.get("apiVersion", "spiderpool.spidernet.io/v2beta1"), "kind": "SpiderSubnet",
             "name": subnet["metadata"]["name"], "uid": subnet["metadata"].get("uid", ""), "controller": True,
             "blockOwnerDeletion": False}
    return {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
            "metadata": {"name": want.name, "labels": pool_labels(want, str(sspec.get("subnet"))),
                         "annotations": {IP_NUMBER: want.number.text}, "finalizers": [finalizer],
                         "ownerReferences": [owner] if owner["uid"] else []},
            "spec": spec}


# -- the subnet's ledger: status.controlledIPPools ------------------------------------------------

@dataclass(frozen=True)
class Controlled:
    ips: RangeSet
    application: str | None = None


def ranges(texts: Iterable[str] | None, version: int) -> RangeSet:
    """`spec.ips`-style strings of one family; the malformed ones are skipped (they hold no IP)."""
    spans = []
    for text in texts or ():
        try:
            span = parse_range(str(text))
        except ValueError:
            continue
        if span.version == version:
            spans.append(span)
    return to_set(spans)


def usable(obj: Mapping[str, Any], version: int) -> RangeSet:
    spec = obj.get("spec") or {}
    return ranges(spec.get("ips"), version) - ranges(spec.get("excludeIPs"), version)


def subnet_version(subnet: Mapping[str, Any]) -> int:
    """A SpiderSubnet's IP version: spec.ipVersion, else its CIDR's."""
    spec = subnet.get("spec") or {}
    return int(spec.get("ipVersion") or (6 if ":" in str(spec.get("subnet", "")) else 4))


def controlled_of(subnet: Mapping[str, Any]) -> dict[str, Controlled]:
    """A SpiderSubnet's ledger, status.controlledIPPools, read at the subnet's own IP version."""
    return decode_controlled((subnet.get("status") or {}).get("controlledIPPools"), subnet_version(subnet))


def decode_controlled(text: Any, version: int) -> dict[str, Controlled]:
    """status.controlledIPPools (a JSON string); an unreadable one reads as empty (rebuilt from the pools)."""
    if not text or not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {name: Controlled(ranges(entry.get("ips"), version), entry.get("application") or None)
            for name, entry in value.items() if isinstance(entry, dict)}


def encode_controlled(entries: Mapping[str, Controlled], version: int) -> str:
    out = {}
    for name in sorted(entries):
        entry = entries[name]
        item: dict[str, Any] = {"ips": compact(entry.ips, version)}
        if entry.application:
            item["application"] = entry.application
        out[name] = item
    return json.dumps(out, separators=(",", ":"))


def lowest(ip_set: RangeSet, count: int) -> RangeSet:
    """The `count` lowest addresses of `ip_set` (fewer when it holds fewer)."""
    spans, left = [], count
    for first, last in ip_set.spans:
        if left <= 0:
            break
        take = min(left, last - first + 1)
        spans.append((first, first + take - 1))
        left -= take
    return RangeSet(spans)


@dataclass(frozen=True)
class Resize:
    ips: RangeSet           # what the pool holds afterwards
    short: int = 0          # IPs the subnet could not give (grow) ...
    waiting: int = 0        # ... or allocated IPs a shrink must wait for


def resize(current: RangeSet, size: int, *, free: RangeSet, allocated: RangeSet) -> Resize:
    """Grow `current` to `size` from the lowest `free` subnet IPs, or shrink it by dropping its lowest
    unallocated IPs. A grow the subnet cannot serve in full changes nothing (`short` says by how much);
    a shrink drops what it can now and says how many allocated IPs it `waiting` for."""
    have = current.size
    if have < size:
        extra = lowest(free, size - have)
        if extra.size < size - have:
            return Resize(current, short=size - have - extra.size)
        return Resize(current | extra)
    if have > size:
        droppable = current - allocated
        drop = lowest(droppable, have - size)
        return Resize(current - drop, waiting=have - size - drop.size)
    return Resize(current)


def intersect(a: RangeSet, b: RangeSet) -> RangeSet:
    return a - (a - b)


def union(sets: Iterable[RangeSet]) -> RangeSet:
    out = RangeSet()
    for ip_set in sets:
        out = out | ip_set
    return out
