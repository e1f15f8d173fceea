"""Which controller a pod belongs to, as upstream's `GetPodTopController` says.

Why it exists: SpiderEndpoint `status.ownerControllerType/Name` name the pod's TOP
controller. A Deployment's pods are owned by a ReplicaSet and a CronJob's by a Job;
users (and upstream's tools) expect `Deployment web`, not `ReplicaSet web-5d4f8`.
So the pod's controller ownerReference is followed one step further for the two
kinds that sit in between:

    Pod -> ReplicaSet (apps/v1) -> its controller (a Deployment, or a third-party kind)
    Pod -> Job (batch/v1)       -> its controller (a CronJob, or a third-party kind)

Any other owner (StatefulSet, DaemonSet, a third-party kind) is the top controller
itself; no owner means the pod itself (`Pod`, its own name), as upstream.

Cost: one GET of the ReplicaSet or Job, once per agent: the answer is remembered by
the owner's UID (an ownerReference's UID never points at another object, and who
controls a ReplicaSet does not change in its life). A ReplicaSet or Job that cannot
be read (gone, forbidden) leaves the pod's own owner: the endpoint still names a
controller, only one step lower.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from agent import kube as k8s
from cni.allocation import PodInfo
from cni.allocation.autopool import controller_owner

from .logs import Log

REPLICASETS = k8s.Kind("apps", "v1", "replicasets", "ReplicaSet", True)
JOBS = k8s.Kind("batch", "v1", "jobs", "Job", True)
INTERMEDIATE = {("apps/v1", "ReplicaSet"): REPLICASETS, ("batch/v1", "Job"): JOBS}
MEMORY = 4096  # remembered owners; a cluster with more live ReplicaSets/Jobs only costs a GET more


class TopControllers:
    """Resolves pods' top controllers through the API, remembering the answers."""

    def __init__(self, kube: k8s.Kube, *, budget: float = 5.0, log: Log | None = None):
        self.kube, self.budget = kube, budget
        self.log = log or Log("owners")
        self._known: dict[str, tuple[str, str]] = {}  # intermediate owner UID -> (kind, name) on top
        self._lock = threading.Lock()

    def resolve(self, pod: PodInfo) -> PodInfo:
        """`pod` with owner_kind/owner_name set to its top controller."""
        if pod.owner_ref is None or not pod.owner_name:
            return pod
        api_version, uid = pod.owner_ref
        kind = INTERMEDIATE.get((api_version, pod.owner_kind or ""))
        if kind is None:
            return pod
        top = self._top(kind, pod.namespace, pod.owner_name, uid)
        return replace(pod, owner_kind=top[0], owner_name=top[1]) if top else pod

    def _top(self, kind: k8s.Kind, namespace: str, name: str, uid: str) -> tuple[str, str] | None:
        with self._lock:
            if uid and uid in self._known:
                return self._known[uid]
        try:
            owner = k8s.retrying(lambda: self.kube.get(kind, name, namespace), budget=self.budget)
        except k8s.ApiError as error:
            self.log.warning("cannot read the pod's owner; naming it as the controller",
                             owner=f"{kind.kind} {namespace}/{name}", error=str(error))
            return None
        if owner is None or (uid and (owner.get("metadata") or {}).get("uid") != uid):
            return None  # gone, or a new object of the same name: the pod's own owner stands
        above = controller_owner(owner)  # metav1.GetControllerOf
        top = (above["kind"], above["name"]) if above else (kind.kind, name)
        with self._lock:
            if len(self._known) >= MEMORY:
                self._known.clear()
            if uid:
                self._known[uid] = top
        return top
