"""Which controller a pod belongs to, as upstream's `GetPodTopController` says: one resolver for
the SpiderEndpoint's owner columns and for the app an auto pool belongs to.

Why it exists: SpiderEndpoint `status.ownerControllerType/Name` name the pod's TOP
controller. A Deployment's pods are owned by a ReplicaSet and a CronJob's by a Job;
users (and upstream's tools) expect `Deployment web`, not `ReplicaSet web-5d4f8`.
So the pod's controller ownerReference is followed one step further for the two
kinds that sit in between:

    Pod -> ReplicaSet (apps/v1) -> its controller (a Deployment, or a third-party kind)
    Pod -> Job (batch/v1)       -> its controller (a CronJob, or a third-party kind)

Any other owner (StatefulSet, DaemonSet, a third-party kind) is the top controller
itself; no owner means the pod itself (`Pod`, its own name), as upstream.

Cost: one GET of the ReplicaSet or Job, once per agent: its controller is remembered by
the owner's UID (an ownerReference's UID never points at another object, and who
controls a ReplicaSet does not change in its life). For the endpoint, a ReplicaSet or Job
that cannot be read (gone, forbidden) leaves the pod's own owner: the endpoint still names
a controller, only one step lower. An auto-pool pod (`app`) needs the app itself, read
fresh (its replicas size the pool), and an app that cannot be read is an error.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Mapping

from agent import kube as k8s
from cni.allocation import PodInfo
from cni.allocation import autopool as ap
from cni.allocation.errors import AutoPoolPendingError

from .logs import Log

INTERMEDIATE = {("apps/v1", "ReplicaSet"): k8s.REPLICASETS, ("batch/v1", "Job"): k8s.JOBS}
MEMORY = 4096  # remembered owners; a cluster with more live ReplicaSets/Jobs only costs a GET more


class TopControllers:
    """Resolves pods' top controllers through the API, remembering the answers."""

    def __init__(self, kube: k8s.Kube, *, budget: float = 5.0, log: Log | None = None):
        self.kube, self.budget = kube, budget
        self.log = log or Log("owners")
        self._known: dict[str, Mapping[str, Any] | None] = {}  # intermediate owner UID -> its controller ref
        self._lock = threading.Lock()

    def resolve(self, pod: PodInfo) -> PodInfo:
        """`pod` with owner_kind/owner_name set to its top controller."""
        kind = self._intermediate(pod)
        if kind is None:
            return pod
        try:
            found, above, _ = self._above(kind, pod)
        except k8s.ApiError as error:
            self.log.warning("cannot read the pod's owner; naming it as the controller",
                             owner=f"{kind.kind} {pod.namespace}/{pod.owner_name}", error=str(error))
            return pod
        if not found or above is None:
            return pod  # gone, or a new object of the same name: the pod's own owner stands
        return replace(pod, owner_kind=str(above.get("kind") or ""), owner_name=str(above.get("name") or ""))

    def app(self, pod: PodInfo) -> tuple[ap.AppRef | None, dict | None]:
        """The pod's top controller as the app its auto pools belong to, with the app object for
        built-in kinds (its replicas size the pool; None for a third-party kind); (None, None) for a
        pod without a controller. A controller that is gone raises AutoPoolPendingError."""
        if pod.owner_ref is None or not pod.owner_name:
            return None, None
        api_version, uid = pod.owner_ref
        app = ap.AppRef.of_owner({"apiVersion": api_version, "kind": pod.owner_kind, "name": pod.owner_name,
                                  "uid": uid}, pod.namespace)
        kind = self._intermediate(pod)
        if kind is not None:
            found, above, obj = self._above(kind, pod)
            if not found:
                raise AutoPoolPendingError(f"the pod's controller {app} is gone")
            if above is None:
                return app, obj if obj is not None else self._read(app)
            app = ap.AppRef.of_owner(above, pod.namespace)
        return app, self._read(app) if app.builtin else None

    # -- reads -------------------------------------------------------------------------------------

    @staticmethod
    def _intermediate(pod: PodInfo) -> k8s.Kind | None:
        if pod.owner_ref is None or not pod.owner_name:
            return None
        return INTERMEDIATE.get((pod.owner_ref[0], pod.owner_kind or ""))

    def _above(self, kind: k8s.Kind, pod: PodInfo) -> tuple[bool, Mapping[str, Any] | None, dict | None]:
        """(whether the pod's ReplicaSet/Job exists, its controller ownerReference or None, the object
        when it was read now rather than remembered)."""
        name, uid = pod.owner_name or "", pod.owner_ref[1] if pod.owner_ref else ""
        with self._lock:
            if uid and uid in self._known:
                return True, self._known[uid], None
        owner = k8s.retrying(lambda: self.kube.get(kind, name, pod.namespace), budget=self.budget)
        if owner is None or (uid and (owner.get("metadata") or {}).get("uid") != uid):
            return False, None, None
        above = ap.controller_owner(owner)  # metav1.GetControllerOf
        with self._lock:
            if len(self._known) >= MEMORY:
                self._known.clear()
            if uid:
                self._known[uid] = above
        return True, above, owner

    def _read(self, app: ap.AppRef) -> dict:
        obj = k8s.retrying(lambda: self.kube.get(k8s.APP_KINDS[app.kind], app.name, app.namespace),
                           budget=self.budget)
        if obj is None or obj["metadata"].get("uid") != app.uid:
            raise AutoPoolPendingError(f"the pod's controller {app} is gone")
        return obj
