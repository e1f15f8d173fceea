"""What the coordinator needs from the cluster, for the agent's `POST /v1/coordinator`.

Why it exists: `coordinator.service` plans and applies a pod's routes and probes its
link, and knows nothing of Kubernetes. The agent hands it SpiderCoordinator `default`
through `SpiderCoordinators` (read at most every `COORDINATOR_TTL` seconds: every pod's
ADD asks for it) and the pod, the IP release and the findings through its own parts.
"""

from __future__ import annotations

import threading
import time

from cni.protocol import Code, CniError

from . import kube as k8s

DEFAULT_COORDINATOR = "default"
COORDINATOR_TTL = 5.0  # seconds a fetched SpiderCoordinator is reused


class SpiderCoordinators:
    """Called: SpiderCoordinator `default` (None if there is none); CniError 11 when the API is away."""

    def __init__(self, kube: k8s.Kube, *, ttl: float = COORDINATOR_TTL):
        self.kube, self.ttl = kube, ttl
        self._cached: tuple[float, dict | None] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> dict | None:
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self.ttl:
                return self._cached[1]
            try:
                found = self.kube.get(k8s.COORDINATORS, DEFAULT_COORDINATOR)
            except k8s.ApiError as error:
                raise CniError(Code.TRY_AGAIN_LATER, f"coordinator: cannot read SpiderCoordinator default: {error}")
            self._cached = (time.monotonic(), found)
            return found
