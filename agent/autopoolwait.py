"""The node agent's side of auto pools: the pools a pod with a subnet annotation allocates from.

Why it exists: the pod of an annotated app may be created before the auto-pool controller has
made (or grown) its app's pool. Upstream's agent waits for the pool (25 x 2 s) and then
allocates from it; so does this one:

    the pod's top controller     `owners.TopControllers.app`: Pod -> ReplicaSet -> Deployment,
                                 Pod -> Job -> CronJob, or the StatefulSet / DaemonSet / bare
                                 ReplicaSet / Job itself (GETs), or a third-party kind above or
                                 instead of them; no controller: refused, with what to do instead
    the pools it wants           `autopool.wants_of` on the pod's annotations, this interface only
    a third-party controller     (any other API group): the agent makes or sizes the pool itself
                                 (`subnetledger.Ledger`), a fixed `ippool-ip-number` only
    ready                        the pool (found by its owner labels in the watched cache) is not
                                 being deleted and holds replicas+N (or N) IPs, sized by the
                                 number the controller wrote on it — or already holds this pod
    not ready within the bound   an error naming the app, the pool and what is missing; the
                                 runtime retries the ADD

IPs stay fixed: the pool is the app's, its IPs are the app's; a re-created pod takes a free
one of them (lowest first).
"""

from __future__ import annotations

from typing import Mapping

from cni.allocation import AnnotationError, PodInfo, Pool, PoolNames, ReservedIPs
from cni.allocation import autopool as ap
from cni.allocation.errors import AutoPoolPendingError

from agent import kube as k8s

from .cache import Cache
from .logs import Log
from .subnetledger import Ledger

ORPHAN = "SpiderSubnet feature doesn't support no-controller pod"
THIRD_PARTY_ATTEMPTS = 5


class AutoPoolWaiter:
    def __init__(self, kube: k8s.Kube, cache: Cache, *, wait_seconds: float = 50.0, api_budget: float = 10.0,
                 log: Log | None = None):
        self.kube, self.cache, self.wait_seconds, self.api_budget = kube, cache, wait_seconds, api_budget
        self.log = log or Log("autopools")

    def resolve(self, pod: PodInfo, nic: str, app: ap.AppRef | None,
                obj: dict | None) -> tuple[PoolNames, str, Mapping[str, str]]:
        """(the pools per family, the app as text, the app labels the pools' podAffinity names), for the
        pod's top controller `app` (`owners.TopControllers.app`) and, for a built-in kind, its object."""
        owner = f"pod {pod.key}"
        key = ap.SUBNETS if ap.SUBNETS in pod.annotations else ap.SUBNET
        ap.subnet_items(pod.annotations, owner)  # a malformed annotation is refused before anything is read
        if app is None:
            raise AnnotationError(owner, key, f"{ORPHAN}: the pod has no controller; give it an "
                                              "ipam.spidernet.io/ippool annotation instead, or run it as a Deployment, "
                                              "StatefulSet, DaemonSet, Job, CronJob or ReplicaSet")
        replicas = ap.replicas_of(app.kind, obj) if obj is not None else 0
        wants = [w for w in ap.wants_of(app, pod.annotations, replicas, owner=owner) if w.interface == nic]
        if not wants:
            raise AnnotationError(owner, key, f"names no subnet for interface {nic}")
        if not app.builtin:
            self._third_party(wants)
        names: dict[int, tuple[str, ...]] = {4: (), 6: ()}
        for want in wants:
            names[want.version] = (self._wait(want, pod, replicas, explicit=ap.IP_NUMBER in pod.annotations),)
        return PoolNames(names[4], names[6]), str(app), ap.app_affinity_labels(app)

    def _get(self, kind: k8s.Kind, name: str, namespace: str | None = None) -> dict | None:
        return k8s.retrying(lambda: self.kube.get(kind, name, namespace), budget=self.api_budget)

    # -- the pool ----------------------------------------------------------------------------------

    def _find(self, want: ap.Want) -> dict | None:
        for pool in self.cache.raws(k8s.POOLS):
            labels = (pool.get("metadata") or {}).get("labels") or {}
            if (labels.get(ap.LABEL_UID) == want.app.uid and labels.get(ap.LABEL_INTERFACE) == want.interface
                    and labels.get(ap.LABEL_VERSION) == f"IPv{want.version}"):
                return pool
        return None

    def _wait(self, want: ap.Want, pod: PodInfo, replicas: int, *, explicit: bool) -> str:
        state: list[str] = []

        def ready() -> bool:
            pool = self._find(want)
            state[:] = [_missing(want, pool, pod, replicas, explicit=explicit)]
            return not state[0]

        if self.cache.wait_for(ready, self.wait_seconds):
            return self._find(want)["metadata"]["name"]
        pool = self._find(want)
        name = pool["metadata"]["name"] if pool else want.name
        raise AutoPoolPendingError(
            f"waited {self.wait_seconds:g}s for the auto pool {name} of {want.app} (SpiderSubnet {want.subnet}, "
            f"{want.interface}, IPv{want.version}): {state[0] if state else 'not created yet'}")

    def _seen(self, kind: k8s.Kind, obj: dict) -> None:
        if kind.plural in self.cache.kinds:  # the agent watches pools, not subnets
            self.cache.offer(kind, obj)

    def _third_party(self, wants: list[ap.Want]) -> None:
        """Make or size a third-party controller's pools, as the controller does for built-in kinds."""
        for want in wants:
            for _ in range(THIRD_PARTY_ATTEMPTS):
                subnet = self._get(k8s.SUBNETS, want.subnet)
                if subnet is None:
                    raise AutoPoolPendingError(f"SpiderSubnet {want.subnet} of {want.app} does not exist")
                pools, _ = k8s.retrying(lambda: self.kube.list(k8s.POOLS), budget=self.api_budget)
                reserved, _ = k8s.retrying(lambda: self.kube.list(k8s.RESERVED_IPS), budget=self.api_budget)
                by_name = {p["metadata"]["name"]: p for p in pools}
                existing = self._find(want)
                name = existing["metadata"]["name"] if existing else want.name
                ledger = Ledger(self.kube, subnet, by_name,
                                ReservedIPs.from_objects(reserved).family(ap.subnet_version(subnet)),
                                manage_all=False, seen=self._seen)
                outcome = ledger.run([(want, name)])
                if outcome.exhausted:
                    _, short, free = outcome.exhausted[0]
                    raise AutoPoolPendingError(f"insufficient SpiderSubnet {want.subnet} free IPs for the auto pool "
                                               f"{name} of {want.app}: {want.size} wanted, {short} more than the "
                                               f"{free} left")
                if not outcome.conflict:
                    if outcome.created or outcome.scaled:
                        self.log.info("made the auto pool of a third-party controller", pool=name, app=str(want.app),
                                      ips=want.size)
                    break
                self.log.debug("the subnet or pool changed; deciding again", error=outcome.conflict)


def _missing(want: ap.Want, pool: dict | None, pod: PodInfo, replicas: int, *, explicit: bool) -> str:
    """What the pool still lacks for this pod ("" when it is ready)."""
    if pool is None:
        return "not created yet"
    if pool["metadata"].get("deletionTimestamp"):
        return "it is being deleted"
    view = Pool.from_object(pool)
    if pod.uid in view.by_uid:
        return ""
    try:
        number = ap.parse_ip_number((pool["metadata"].get("annotations") or {}).get(ap.IP_NUMBER) or "")
    except ValueError:
        number = want.number
    if explicit and number != want.number:
        return f"its ippool-ip-number is {number.text}, the app asks for {want.number.text}"
    wanted = number.size(replicas)  # by the number the controller applied (its default, when the pod gives none)
    if view.usable.size < wanted:
        return f"it holds {view.usable.size} of the {wanted} IPs the app needs"
    return ""
