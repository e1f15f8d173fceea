"""The node's NodeReport: what this node sees that differs from the spec, kept current by its agent.

Why it exists: a NAD naming a NIC the node lacks, a zone pool the node cannot reach, an
exhausted pool or a conflicting IP only show up on the node, at the moment a pod fails. The
agent already holds pools and its Node in its cache; this module adds the NADs (its own small
watch, so a cluster without Multus's CRD never holds the agent's readiness back), looks at the
host's links, addresses and routes, and keeps one cluster-scoped `NodeReport` named after the
node. `spiderpool drift` prints them all.

    find(...)          pure: cache views + host view -> findings (sorted, deterministic)
    NodeReporter       evaluates on cache events (debounced) and every `interval`, merges what
                       the coordinator reported (`report_finding`, in memory, expiring), and
                       writes the report's status only when the findings changed
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from netaddr import AddrFormatError, IPNetwork

from agent import kube as k8s
from cni.allocation import NodeInfo, Pool, ReservedIPs
from cni.allocation.picker import free
from cni.allocation.selectors import matches
from coordinator import apply as kernel

from .cache import Cache, Watched
from .logs import Log

NODE_REPORTS = k8s.Kind("gitops.spidernet.io", "v1alpha1", "nodereports", "NodeReport", False)
NADS = k8s.Kind("k8s.cni.cncf.io", "v1", "network-attachment-definitions", "NetworkAttachmentDefinition", True)
FINDING_TYPES = ("MasterInterfaceMissing", "ZoneUnreachable", "IPConflict", "GatewayUnreachable", "PoolExhausted")
SEVERITIES = ("Info", "Warning", "Error")


@dataclass(frozen=True, order=True)
class Finding:
    type: str
    kind: str
    name: str
    namespace: str = ""
    severity: str = "Warning"
    message: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.type, self.kind, self.namespace, self.name)

    def to_status(self, since: str) -> dict[str, Any]:
        obj = {"kind": self.kind, "name": self.name, **({"namespace": self.namespace} if self.namespace else {})}
        return {"type": self.type, "severity": self.severity, "object": obj, "message": self.message,
                "since": since}


@dataclass(frozen=True)
class HostView:
    """The node's host namespace: link names, and networks it has an address in or a route to."""

    interfaces: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()


# -- the pure part ---------------------------------------------------------------------------------

def find(node: NodeInfo, pools: Iterable[Pool], reserved: ReservedIPs, nads: Iterable[Mapping[str, Any]],
         host: HostView) -> list[Finding]:
    found = [f for nad in nads for f in _missing_masters(nad, host)]
    for pool in pools:
        if not _selectable(pool, node):
            continue
        if pool.node_affinity is not None and not _reachable(pool, host):
            found.append(Finding("ZoneUnreachable", "SpiderIPPool", pool.name, severity="Warning",
                                 message=f"node {node.name} matches the pool's nodeAffinity but has no address "
                                         f"in or route to {pool.subnet}"))
        if not free(pool, reserved.family(pool.version)):
            found.append(Finding("PoolExhausted", "SpiderIPPool", pool.name, severity="Error",
                                 message=f"no free IP left in {pool.subnet} for pods on node {node.name}"))
    return sorted(found)


def _selectable(pool: Pool, node: NodeInfo) -> bool:
    if pool.disable or pool.terminating or pool.broken:
        return False
    if pool.node_name:
        return node.name in pool.node_name
    return pool.node_affinity is None or matches(pool.node_affinity, node.labels)


def _reachable(pool: Pool, host: HostView) -> bool:
    try:
        subnet = IPNetwork(pool.subnet)
    except (AddrFormatError, ValueError):
        return True  # a broken subnet is the spec's problem, reported elsewhere
    return any(net.version == subnet.version and (subnet in net or net in subnet) for net in host.networks)


def masters_of(nad: Mapping[str, Any]) -> list[str]:
    """The host interfaces a NAD's plugins need (`master`; ifacer's `interfaces` when it makes the master)."""
    try:
        config = json.loads((nad.get("spec") or {}).get("config") or "{}")
    except ValueError:
        return []
    plugins = config.get("plugins") if isinstance(config.get("plugins"), list) else [config]
    plugins = [p for p in plugins if isinstance(p, dict)]
    ifacer = [p for p in plugins if p.get("type") == "ifacer"]
    if ifacer:
        return sorted({str(i) for p in ifacer for i in p.get("interfaces") or () if i})
    return sorted({str(p["master"]) for p in plugins if p.get("master")})


def _missing_masters(nad: Mapping[str, Any], host: HostView) -> list[Finding]:
    meta = nad.get("metadata") or {}
    return [Finding("MasterInterfaceMissing", "NetworkAttachmentDefinition", meta.get("name", ""),
                    meta.get("namespace", ""), "Error", f"master interface {master} does not exist on this node")
            for master in masters_of(nad) if master not in host.interfaces]


def read_host() -> HostView:
    """Links, addresses and non-default routes of the host namespace (the agent runs there)."""
    interfaces, networks = kernel.read_own_networks()
    parsed = []
    for text in networks:
        try:
            parsed.append(IPNetwork(text).cidr)
        except (AddrFormatError, ValueError):
            continue
    return HostView(interfaces, tuple(parsed))


# -- the reporter ----------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Reported:
    finding: Finding
    expires: float


@dataclass
class NodeReporter:
    kube: k8s.Kube
    node: str
    cache: Cache  # the agent's: pools, reserved IPs, its Node
    host: Callable[[], HostView] = read_host
    debounce: float = 0.3
    interval: float = 30.0
    log: Log = field(default_factory=lambda: Log("nodereport"))
    writes: int = 0
    evaluations: int = 0
    _reported: dict = field(default_factory=dict)
    _since: dict = field(default_factory=dict)
    _written: list | None = None  # the findings (with since) last seen in the API
    _poke: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the reported findings
    _syncing: threading.Lock = field(default_factory=threading.Lock)  # one evaluation at a time

    def __post_init__(self) -> None:
        self.nads = Cache(self.kube, (Watched(NADS, lambda o: o, keep_raw=True),),
                          log=Log("cache", node=self.node, role="nodereport"), on_event=lambda *_: self.poke())
        self._thread: threading.Thread | None = None

    # -- the coordinator's door ------------------------------------------------------------------

    def report_finding(self, finding_type: str, *, kind: str, name: str, namespace: str = "", message: str,
                       severity: str = "Warning", ttl: float = 600.0) -> None:
        """Record a finding seen by the coordinator (IPConflict, GatewayUnreachable); it lasts `ttl` s
        unless reported again. ValueError for a type or severity the NodeReport schema does not know."""
        if finding_type not in FINDING_TYPES or severity not in SEVERITIES:
            raise ValueError(f"unknown finding type {finding_type!r} or severity {severity!r}")
        finding = Finding(finding_type, kind, name, namespace, severity, message)
        with self._lock:
            self._reported[finding.key] = _Reported(finding, time.monotonic() + ttl)
        self.poke()

    def poke(self) -> None:
        self._poke.set()

    # -- evaluation ------------------------------------------------------------------------------

    def current(self) -> list[Finding]:
        snapshot = self.cache.snapshot()
        node = snapshot.nodes.get(self.node) or NodeInfo(self.node)
        nads = [self.nads.raw(NADS, key) for key in self.nads.keys(NADS)]
        found = find(node, snapshot.pools.values(), snapshot.reserved, [n for n in nads if n], self.host())
        now = time.monotonic()
        with self._lock:
            self._reported = {k: r for k, r in self._reported.items() if r.expires > now}
            reported = [r.finding for r in self._reported.values()]
        return sorted({f.key: f for f in found + reported}.values())

    def sync(self) -> bool:
        """Evaluate and write the report when its findings changed; -> whether it wrote."""
        with self._syncing:
            self.evaluations += 1
            return self._sync()

    def _sync(self) -> bool:
        findings = self.current()
        if self._written is None:
            self._adopt()
        stamp = _now()
        self._since = {f.key: self._since.get(f.key, stamp) for f in findings}
        wanted = [f.to_status(self._since[f.key]) for f in findings]
        if wanted == self._written:
            return False
        self._write(wanted, stamp)
        self._written = wanted
        self.writes += 1
        self.log.info("node report updated", findings=len(wanted),
                      types=",".join(sorted({f.type for f in findings})))
        return True

    def _adopt(self) -> None:
        """Start from what the API holds, keeping each finding's `since` across agent restarts."""
        report = self.kube.get(NODE_REPORTS, self.node)
        held = ((report or {}).get("status") or {}).get("findings") or []
        self._written = held if report is not None and (report.get("status") or {}).get("node") else None
        for item in held:
            obj = item.get("object") or {}
            key = (item.get("type"), obj.get("kind"), obj.get("namespace", ""), obj.get("name"))
            self._since.setdefault(key, item.get("since") or _now())

    def _write(self, findings: list[dict], stamp: str) -> None:
        report = self.kube.get(NODE_REPORTS, self.node)
        if report is None:
            try:
                report = self.kube.create(NODE_REPORTS, {"apiVersion": NODE_REPORTS.api_version,
                                                         "kind": NODE_REPORTS.kind, "metadata": {"name": self.node}})
            except k8s.AlreadyExists:
                report = self.kube.get(NODE_REPORTS, self.node) or {}
        clean = not findings
        held = next((c for c in (report.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), {})
        status = "True" if clean else "False"
        since = held.get("lastTransitionTime") if held.get("status") == status else None
        report["status"] = {
            "node": self.node, "observedAt": stamp, "findings": findings, "findingCount": len(findings),
            "conditions": [{"type": "Ready", "status": status,
                            "reason": "NoFindings" if clean else "Findings",
                            "message": "the node matches the spec" if clean else f"{len(findings)} finding(s)",
                            "lastTransitionTime": since or stamp}]}
        self.kube.replace_status(NODE_REPORTS, report)

    # -- the loop --------------------------------------------------------------------------------

    def start(self) -> "NodeReporter":
        self.nads.start()
        self._thread = threading.Thread(target=self._run, name="nodereport", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        self.nads.stop()

    def _until_next_expiry(self) -> float:
        with self._lock:
            expiries = [r.expires for r in self._reported.values()]
        return min([self.interval] + [max(0.0, e - time.monotonic()) + 0.01 for e in expiries])

    def _run(self) -> None:
        while not self._stop.is_set() and not self.cache.wait_synced(1.0):
            pass
        self.nads.wait_synced(5.0)  # no NAD CRD (no Multus): report on pools alone
        while not self._stop.is_set():
            try:
                self.sync()
                wait = self._until_next_expiry()
            except k8s.ApiError as error:  # try again soon; the findings are recomputed anyway
                self.log.warning("node report not written", error=str(error))
                wait = min(self.interval, 5.0)
            except Exception as error:  # noqa: BLE001 - a bug here must not end the reporting for good
                self.log.error("node report evaluation failed", error=repr(error), exc_info=True)
                wait = min(self.interval, 5.0)
            if self._poke.wait(wait):
                self._stop.wait(self.debounce)  # let a burst of events settle into one evaluation
            self._poke.clear()
