"""The SpiderSubnet auto-pool controller (`spiderpool controller`): pools that follow their apps.

Why it exists: a Deployment, ReplicaSet (not a Deployment's), StatefulSet, DaemonSet, Job (not
a CronJob's) or CronJob whose pod template carries `ipam.spidernet.io/subnet(s)` gets a pool
of its own per interface and family, cut from the SpiderSubnet, sized `replicas + N` or `N`
(`cni.allocation.autopool`), grown and shrunk as the replicas change, and deleted with the
app. hostNetwork apps are skipped.

Level-triggered: informers (`Cache`) follow the apps, pools, subnets and reserved IPs; any
event wakes one pass, which compares every app with every pool and writes only the
difference, so a pass repeated (or a controller restarted, or killed mid-write) converges to
the same state. One pass:

    takeover  an app with no pool of its own takes over a kept (`ippool-reclaim: false`) pool
              of a gone app with the same kind, namespace and name (its labels are rewritten)
    subnets   per SpiderSubnet, `subnetledger.Ledger`: ledger first, pools after (see there)
    reclaim   an auto pool whose app is gone (deleted while we were down, too) is deleted when
              reclaimable; the `gitops.spidernet.io/ip-release` finalizer keeps it until its
              last IP is released, then goes (`finalizers`, as the IP GC does); a third-party
              app is looked up through discovery
    counts    every pool's status.allocatedIPCount/totalIPCount written when wrong or missing,
              so `kubectl get sp` shows them before the first allocation

Events go to the app (AutoPoolCreated, AutoPoolScaled, SubnetExhausted, and
AutoPoolInvalid for an annotation that cannot be used) through `record`, given by the
process that composes the controllers (reconciler/controller.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from cni.allocation import AnnotationError, Pool, ReservedIPs
from cni.allocation import autopool as ap

from agent import kube as k8s

from .cache import Cache, Watched
from .counts import repair_counts
from .finalizers import release_finalizers
from .logs import Log
from .metrics import AgentMetrics, Counter, Gauge
from .subnetledger import WRITERS, Ledger, for_put
from .wakeup import pause

Record = Callable[[ap.AppRef, str, str, str], None]  # (app, Normal|Warning, reason, message)


def autopool_kinds() -> tuple[Watched, ...]:
    """Every object whole; pools parsed too (once per version: the count repair reads their records)."""
    whole = dict(view=lambda o: o, keep_raw=True)
    return (Watched(k8s.POOLS, Pool.from_object, keep_raw=True),
            *(Watched(kind, **whole) for kind in (k8s.SUBNETS, k8s.RESERVED_IPS, *k8s.APP_KINDS.values())))


@dataclass
class PassResult:
    created: list[str] = field(default_factory=list)
    scaled: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    exhausted: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    writes: int = 0

    @property
    def settled(self) -> bool:
        return not (self.conflicts or self.waiting or self.exhausted)


class AutoPoolMetrics:
    def __init__(self, metrics: AgentMetrics):
        r = metrics.registry
        self.changes = Counter("spiderpool_auto_pool_changes", "auto pools created, scaled, deleted, taken over",
                               ("action",), registry=r)
        self.exhausted = Counter("spiderpool_subnet_exhausted", "auto pool sizes a subnet could not serve",
                                 ("subnet",), registry=r)
        self.auto_pools = Gauge("spiderpool_auto_pool_counts", "auto pools that exist", registry=r)
        self.subnets = Gauge("spiderpool_total_subnet_counts", "SpiderSubnets", registry=r)
        self.subnet_total = Gauge("spiderpool_debug_subnet_total_ip_counts", "usable IPs of a subnet", ("subnet",),
                                  registry=r)
        self.subnet_available = Gauge("spiderpool_debug_subnet_available_ip_counts",
                                      "IPs of a subnet no pool holds", ("subnet",), registry=r)
        self.subnet_pools = Gauge("spiderpool_debug_subnet_ippool_counts", "pools a subnet controls", ("subnet",),
                                  registry=r)
        self.passes = Counter("spiderpool_auto_pool_passes", "auto-pool controller passes", registry=r)


class AutoPools:
    def __init__(self, kube: k8s.Kube, *, default_number: ap.IpNumber = ap.DEFAULT_IP_NUMBER,
                 interval: float = 60.0, record: Record | None = None, log: Log | None = None,
                 metrics: AgentMetrics | None = None):
        self.kube, self.default_number, self.interval = kube, default_number, interval
        self.record = record or (lambda *args: None)
        self.log = log or Log("autopools")
        self.metrics = AutoPoolMetrics(metrics or AgentMetrics())
        self.cache = Cache(kube, autopool_kinds(), log=Log("cache", role="autopools"),
                           on_event=lambda *_: self._wake.set())
        self._wake = threading.Event()
        self._kinds: dict[tuple[str, str], k8s.Kind | None] = {}
        self._told: dict[tuple[str, str], str] = {}  # (app uid, reason) -> the message last recorded

    # -- reading the cache ----------------------------------------------------------------------

    def apps(self) -> tuple[list[ap.Want], dict[str, ap.AppRef], list[tuple[ap.AppRef, str]]]:
        """(every pool the live apps want, live apps by uid, apps whose annotations are refused)."""
        wants: list[ap.Want] = []
        live: dict[str, ap.AppRef] = {}
        invalid: list[tuple[ap.AppRef, str]] = []
        for kind in k8s.APP_KINDS.values():
            for obj in self.cache.raws(kind):
                if obj["metadata"].get("deletionTimestamp") or not ap.top_level(kind.kind, obj) \
                        or ap.host_network(kind.kind, obj):
                    continue
                annotations = ap.template_annotations(kind.kind, obj)
                if not ap.has_subnet(annotations):
                    continue
                app = ap.AppRef.of(obj, kind.kind)
                live[app.uid] = app
                try:
                    wants += ap.wants_of(app, annotations, ap.replicas_of(kind.kind, obj),
                                         default=self.default_number)
                except AnnotationError as error:
                    invalid.append((app, error.detail))
        return wants, live, invalid

    # -- one pass -------------------------------------------------------------------------------

    def run_pass(self) -> PassResult:
        result = PassResult()
        self.metrics.passes.inc()
        wants, live, invalid = self.apps()
        for app, why in invalid:
            result.invalid.append(f"{app}: {why}")
            self._tell(app, "Warning", "AutoPoolInvalid", f"no auto pool: {why}")
        pools = {p["metadata"]["name"]: p for p in self.cache.raws(k8s.POOLS)}
        named = self._pool_names(wants, pools, live, result)
        if result.conflicts:
            return result  # a takeover changed the pools: decide again on the new ones
        subnets = {s["metadata"]["name"]: s for s in self.cache.raws(k8s.SUBNETS)}
        reserved = ReservedIPs.from_objects(self.cache.raws(k8s.RESERVED_IPS))
        by_subnet: dict[str, list[tuple[ap.Want, str]]] = {}
        for want in wants:
            held = (pools.get(named[want], {}).get("metadata", {}).get("labels") or {}).get(ap.LABEL_SUBNET)
            if held and held != want.subnet:
                self._tell(want.app, "Warning", "AutoPoolSubnetChanged",
                           f"the auto pool {named[want]} comes from SpiderSubnet {held}, the template now names "
                           f"{want.subnet}: a pool does not move between subnets (re-create the app to move it)")
                continue
            if want.subnet not in subnets:
                self._tell(want.app, "Warning", "SubnetNotFound",
                           f"no auto pool on {want.interface}: SpiderSubnet {want.subnet} does not exist")
                result.exhausted.append(f"{want.app}: SpiderSubnet {want.subnet} does not exist")
                continue
            if ap.subnet_version(subnets[want.subnet]) != want.version:
                self._tell(want.app, "Warning", "AutoPoolInvalid",
                           f"SpiderSubnet {want.subnet} is not an IPv{want.version} subnet")
                continue
            by_subnet.setdefault(want.subnet, []).append((want, named[want]))
        for name, subnet in sorted(subnets.items()):
            self._subnet(subnet, by_subnet.get(name, []), pools, reserved, result)
        self._reclaim(pools, live, result)
        released, _ = release_finalizers(self.kube, self.cache, log=self.log)  # as the IP GC does, at once
        result.writes += len(released)
        counted, _ = repair_counts(self.kube, self.cache, log=self.log, writers=WRITERS)  # as the IP GC does, at once
        result.writes += len(counted)
        self._gauges(subnets)
        return result

    def _pool_names(self, wants: list[ap.Want], pools: dict[str, dict], live: dict[str, ap.AppRef],
                    result: PassResult) -> dict[ap.Want, str]:
        """The pool of each want: its own (by labels), a kept pool it takes over, or a new name."""
        by_owner = {}
        for name, pool in pools.items():
            labels = pool["metadata"].get("labels") or {}
            if ap.LABEL_UID in labels:
                by_owner[(labels[ap.LABEL_UID], labels.get(ap.LABEL_INTERFACE), labels.get(ap.LABEL_VERSION))] = name
        named = {}
        for want in wants:
            key = (want.app.uid, want.interface, f"IPv{want.version}")
            if key in by_owner:
                named[want] = by_owner[key]
                continue
            kept = self._kept_pool(want, pools, live)
            if kept is not None:
                self._take_over(want, pools[kept], result)
            named[want] = kept or want.name
        return named

    @staticmethod
    def _kept_pool(want: ap.Want, pools: dict[str, dict], live: dict[str, ap.AppRef]) -> str | None:
        for name, pool in sorted(pools.items()):
            labels = pool["metadata"].get("labels") or {}
            if (labels.get(ap.LABEL_RECLAIM) == "false" and labels.get(ap.LABEL_UID) not in live
                    and ap.LABEL_UID in labels and labels.get(ap.LABEL_KIND) == want.app.kind
                    and labels.get(ap.LABEL_NAMESPACE) == want.app.namespace
                    and labels.get(ap.LABEL_NAME) == want.app.name
                    and labels.get(ap.LABEL_INTERFACE) == want.interface
                    and labels.get(ap.LABEL_VERSION) == f"IPv{want.version}"
                    and labels.get(ap.LABEL_SUBNET) == want.subnet
                    and not pool["metadata"].get("deletionTimestamp")):
                return name
        return None

    def _take_over(self, want: ap.Want, pool: dict, result: PassResult) -> None:
        body = for_put(pool)
        body["metadata"]["labels"][ap.LABEL_UID] = want.app.uid
        body["metadata"]["labels"][ap.LABEL_GV] = want.app.gv
        body["spec"]["podAffinity"] = ap.pod_affinity(want.app)
        name = pool["metadata"]["name"]
        try:
            self.cache.offer(k8s.POOLS, self.kube.replace(k8s.POOLS, body))
        except (k8s.Conflict, k8s.NotFound) as error:
            result.conflicts.append(f"take over {name}: {error}")
            return
        result.writes += 1
        result.taken_over.append(name)
        self.metrics.changes.inc(action="taken_over")
        self.log.info("took over a kept auto pool", pool=name, app=str(want.app), uid=want.app.uid)
        self._tell(want.app, "Normal", "AutoPoolTakenOver", f"took over the kept auto pool {name}")
        result.conflicts.append(f"took over {name}")  # decide again on the relabelled pool

    def _subnet(self, subnet: dict, wants: list[tuple[ap.Want, str]], pools: dict[str, dict],
                reserved: ReservedIPs, result: PassResult) -> None:
        ledger = Ledger(self.kube, subnet, pools, reserved.family(ap.subnet_version(subnet)), seen=self.cache.offer)
        outcome = ledger.run(wants)
        result.writes += outcome.writes
        apps = {name: want.app for want, name in wants}
        for name in outcome.created:
            result.created.append(name)
            self.metrics.changes.inc(action="created")
            size = next((w.size for w, n in wants if n == name), 0)
            self.log.info("created an auto pool", pool=name, app=str(apps[name]), subnet=ledger.name, ips=size)
            self._tell(apps[name], "Normal", "AutoPoolCreated",
                       f"created auto pool {name} with {size} IPs from SpiderSubnet {ledger.name}", once=False)
        for name, before, after in outcome.scaled:
            result.scaled.append(name)
            self.metrics.changes.inc(action="grown" if after > before else "shrunk")
            self.log.info("scaled an auto pool", pool=name, app=str(apps[name]), before=before, after=after)
            self._tell(apps[name], "Normal", "AutoPoolScaled", f"scaled auto pool {name} from {before} to {after} IPs",
                       once=False)
        for want, short, free in outcome.exhausted:
            result.exhausted.append(f"{want.app}: SpiderSubnet {want.subnet} is {short} IP(s) short")
            self.metrics.exhausted.inc(subnet=want.subnet)
            self._tell(want.app, "Warning", "SubnetExhausted",
                       f"insufficient SpiderSubnet {want.subnet} free IPs for auto pool {want.name}: "
                       f"{want.size} wanted, {short} more than the {free} left")
        for name, count in outcome.waiting:
            result.waiting.append(f"{name}: {count} allocated IP(s) to be released before it can shrink")
        if outcome.conflict:
            result.conflicts.append(outcome.conflict)

    def _reclaim(self, pools: dict[str, dict], live: dict[str, ap.AppRef], result: PassResult) -> None:
        """Delete reclaimable auto pools whose app is gone (their finalizer waits for the last IP)."""
        for name, pool in sorted(pools.items()):
            meta = pool["metadata"]
            labels = meta.get("labels") or {}
            if ap.LABEL_UID not in labels or labels[ap.LABEL_UID] in live or meta.get("deletionTimestamp"):
                continue
            if labels.get(ap.LABEL_RECLAIM) == "false" or self._app_exists(labels):
                continue
            try:
                self.kube.delete(k8s.POOLS, name, uid=meta.get("uid"))
            except k8s.NotFound:
                continue
            except k8s.ApiError as error:
                result.conflicts.append(f"delete {name}: {error}")
                continue
            result.writes += 1
            result.deleted.append(name)
            self.metrics.changes.inc(action="deleted")
            self.log.info("deleted the auto pool of a gone app", pool=name,
                          app=f"{labels.get(ap.LABEL_KIND)} {labels.get(ap.LABEL_NAMESPACE)}/{labels.get(ap.LABEL_NAME)}")

    def _app_exists(self, labels: dict[str, str]) -> bool:
        """Whether the (third-party) app of a pool still exists: built-in kinds are in the cache, so
        only a kind of another group is looked up (discovery, then a GET)."""
        kind_name, gv = labels.get(ap.LABEL_KIND, ""), labels.get(ap.LABEL_GV, "")
        group, _, version = gv.rpartition("_")
        if kind_name in k8s.APP_KINDS and group == ap.BUILTIN_GROUPS.get(kind_name):
            return False  # the cache lists every app of the built-in kinds: not live means gone
        api_version = f"{group}/{version}" if group else version
        try:
            if (api_version, kind_name) not in self._kinds:
                self._kinds[(api_version, kind_name)] = self.kube.kind_of(api_version, kind_name)
            kind = self._kinds[(api_version, kind_name)]
            if kind is None:
                return False  # its API is gone (the CRD was deleted): so is the app
            obj = self.kube.get(kind, labels.get(ap.LABEL_NAME, ""), labels.get(ap.LABEL_NAMESPACE))
        except k8s.ApiError:
            return True  # cannot tell: keep the pool this pass
        return obj is not None and obj["metadata"].get("uid") == labels.get(ap.LABEL_UID) \
            and not obj["metadata"].get("deletionTimestamp")

    def _gauges(self, subnets: dict[str, dict]) -> None:
        self.metrics.subnets.set(len(subnets))
        self.metrics.auto_pools.set(sum(1 for p in self.cache.raws(k8s.POOLS) if ap.is_auto_pool(p)))
        for name, subnet in subnets.items():
            status = subnet.get("status") or {}
            total, used = int(status.get("totalIPCount") or 0), int(status.get("allocatedIPCount") or 0)
            entries = ap.controlled_of(subnet)
            self.metrics.subnet_total.set(total, subnet=name)
            self.metrics.subnet_available.set(max(total - used, 0), subnet=name)
            self.metrics.subnet_pools.set(len(entries), subnet=name)

    def _tell(self, app: ap.AppRef, type_: str, reason: str, message: str, *, once: bool = True) -> None:
        """An Event on the app; a standing condition (`once`) is told again only when its message changes."""
        if once and self._told.get((app.uid, reason)) == message:
            return
        self._told[(app.uid, reason)] = message
        try:
            self.record(app, type_, reason, message)
        except Exception as error:  # noqa: BLE001 - an Event is best effort
            self.log.warning("event not recorded", reason=reason, error=str(error))

    # -- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """A pass once synced, after every event (bursts coalesced), and every `interval`."""
        self.cache.start()
        while not stop.is_set() and not self.cache.wait_synced(5.0):
            self.log.warning("cache not synced yet", problems=self.cache.problems())
        retry = 0.2
        while not stop.is_set():
            self._wake.clear()
            try:
                result = self.run_pass()
            except k8s.ApiError as error:
                self.log.warning("auto-pool pass failed", error=str(error))
                result = PassResult(conflicts=[str(error)])
            if result.writes or result.conflicts:
                self.log.info("auto-pool pass", created=len(result.created), scaled=len(result.scaled),
                              deleted=len(result.deleted), writes=result.writes, conflicts=result.conflicts[:3])
            wait = self.interval
            if result.conflicts:
                wait, retry = retry, min(retry * 2, 5.0)  # the pools moved under us: look again soon
            else:
                retry = 0.2
                if not result.settled:
                    wait = min(wait, 5.0)  # pods still to go, or a subnet short: poll while waiting
            pause(stop, self._wake, wait, settle=0.05)
        self.cache.stop()

    def wait_synced(self, timeout: float) -> bool:
        return self.cache.wait_synced(timeout)

