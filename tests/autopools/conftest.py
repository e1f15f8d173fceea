"""The auto-pool controller on the real control plane (kube-controller-manager makes ReplicaSets and
pods, its garbage collector cascades deletes), run in-process so a test can stop and restart it.

    cluster     real_cluster_with_controllers with our CRDs
    kube        an `agent.kube.Kube` on it
    controller  controller() -> a running AutoPools (threads), stopped after the test
    apps        builders for annotated apps and the subnet
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from agent import kube as k8s
from agent.autopools import AutoPools
from cni.allocation import autopool as ap
from cni.allocation.retirement import FINALIZER
from tests.agent.conftest import kube  # noqa: F401  (fixture: a Kube on `cluster`, the one below)
from tests.conftest import with_crds

SPIDER = "spiderpool.spidernet.io/v2beta1"


@pytest.fixture
def cluster(real_cluster_with_controllers):
    return with_crds(real_cluster_with_controllers)


class Running:
    def __init__(self, pools: AutoPools):
        self.pools, self.stop = pools, threading.Event()
        self.thread = threading.Thread(target=pools.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture
def controller(cluster):
    started: list[Running] = []

    def start(**options: Any) -> Running:
        options.setdefault("interval", 2.0)
        running = Running(AutoPools(k8s.connect(kubeconfig=str(cluster.kubeconfig)), **options))
        started.append(running)
        return running

    yield start
    for running in started:
        running.halt()


def subnet(name: str = "nginx-subnet-v4", *, cidr: str = "10.244.0.0/16", ips: list[str] | None = None,
           gateway: str | None = "10.244.0.1", **spec: Any) -> dict:
    body = {"ipVersion": 4 if ":" not in cidr else 6, "subnet": cidr, "ips": ips or ["10.244.100.0-10.244.200.1"],
            **({"gateway": gateway} if gateway else {}), **spec}
    return {"apiVersion": SPIDER, "kind": "SpiderSubnet", "metadata": {"name": name, "finalizers": [FINALIZER]},
            "spec": body}


def template(annotations: dict[str, str], labels: dict[str, str], **pod_spec: Any) -> dict:
    return {"metadata": {"labels": labels, "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}], **pod_spec}}


def annotated(subnet_name: str = "nginx-subnet-v4", number: str | None = "+3", **extra: str) -> dict[str, str]:
    out = {ap.SUBNET: json.dumps({"ipv4": [subnet_name]})}
    if number is not None:
        out[ap.IP_NUMBER] = number
    out.update(extra)
    return out


def deployment(name: str, replicas: int, annotations: dict[str, str], *, namespace: str = "default",
               **pod_spec: Any) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": template(annotations, labels, **pod_spec)}}


def auto_pools(kube: k8s.Kube, app_name: str | None = None) -> list[dict]:
    items, _ = kube.list(k8s.POOLS, label_selector=ap.LABEL_UID)
    return [p for p in items if app_name is None or p["metadata"]["labels"].get(ap.LABEL_NAME) == app_name]


def pool_ips(pool: dict) -> set[str]:
    from cni.ipranges import format_ip

    ranges = ap.ranges(pool["spec"].get("ips"), pool["spec"].get("ipVersion") or 4)
    return {format_ip(v, 4) for first, last in ranges.spans for v in range(first, last + 1)}


def controlled(kube: k8s.Kube, name: str = "nginx-subnet-v4") -> dict:
    obj = kube.get(k8s.SUBNETS, name) or {}
    return json.loads((obj.get("status") or {}).get("controlledIPPools") or "{}")


@pytest.fixture
def agent(cluster):
    """agent(wait=...) -> a ready agent on node worker1 (a Ready Node the scheduler binds pods to)."""
    import shutil
    import tempfile
    from pathlib import Path

    from agent.client import AgentClient
    from agent.main import Agent
    from agent.service import AgentSettings
    from tests.agent.conftest import RunningAgent

    folder = Path(tempfile.mkdtemp(prefix="spa-", dir="/tmp"))
    started = []

    def start(*, wait: float = 20.0) -> RunningAgent:
        if cluster.get("nodes", "worker1") is None:
            cluster.add_node("worker1")
        path = str(folder / "worker1.sock")
        running = Agent(AgentSettings(node="worker1", families=frozenset({4}), auto_pool_wait=wait), path,
                        k8s.connect(kubeconfig=str(cluster.kubeconfig))).start()
        assert running.wait_ready(15), running.cache.problems()
        started.append(RunningAgent(running, AgentClient(path, timeout=120), "worker1"))
        return started[-1]

    yield start
    for running in started:
        running.stop()
    shutil.rmtree(folder, ignore_errors=True)
