"""A cluster (the test API server with our CRDs) and real node agents driven over their sockets.

    cluster      the server, CRDs installed, stats reset; `cluster.kubeconfig`
    objects      builders that create pools, pods, StatefulSets directly in the server
    agents       agents(node) -> a running Agent (threads) and its socket client
    kube         a `agent.kube.Kube` for reads and deletes the way a client would
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent import kube as k8s
from agent.client import AgentClient, CniReply, netconf
from agent.main import Agent
from agent.service import AgentSettings
from tests.conftest import with_crds

POOLS = "spiderippools.spiderpool.spidernet.io"
ENDPOINTS = "spiderendpoints.spiderpool.spidernet.io"


@pytest.fixture
def cluster(kube_server):
    """The real API server (tests/kubeapi for tests marked `testserver`) with our CRDs."""
    return with_crds(kube_server)


@pytest.fixture
def kube(cluster):
    client = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    yield client
    client.close()


class Objects:
    """Create the objects the agent decides over, directly in the server (not counted in its stats)."""

    def __init__(self, server):
        self.server = server

    def pool(self, name: str, ips: list[str], *, subnet: str = "10.6.0.0/16", gateway: str | None = "10.6.0.1",
             **spec: Any) -> dict:
        body = {"subnet": subnet, "ips": ips, **({"gateway": gateway} if gateway else {}), **spec}
        return self.server.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                                   "metadata": {"name": name}, "spec": body})

    def node(self, name: str, labels: dict | None = None) -> dict:
        return self.server.create({"apiVersion": "v1", "kind": "Node",
                                   "metadata": {"name": name, "labels": labels or {}}})

    def pod(self, name: str, node: str, *, namespace: str = "default", annotations: dict | None = None,
            labels: dict | None = None, owner: dict | None = None, restart_policy: str | None = None) -> dict:
        meta = {"name": name, "namespace": namespace, "annotations": annotations or {}, "labels": labels or {}}
        if owner:
            meta["ownerReferences"] = [{"apiVersion": "apps/v1", "controller": True, **owner}]
        spec = {"nodeName": node, "containers": [{"name": "c", "image": "pause"}],
                **({"restartPolicy": restart_policy} if restart_policy else {})}
        return self.server.create({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})

    def delete_pod(self, name: str, namespace: str = "default") -> None:
        """`kubectl delete pod` and the kubelet's confirmation after its CNI DEL: the pod is gone.
        (A real API server keeps a pod bound to a node terminating until the kubelet confirms;
        the test server deletes it at once.)"""
        from kubernetes import client

        from tests.kubeapi.fixtures import api_client_for

        with api_client_for(self.server) as api:
            client.CoreV1Api(api).delete_namespaced_pod(name, namespace, grace_period_seconds=0)

    def statefulset(self, name: str, replicas: int, *, namespace: str = "default") -> dict:
        return self.server.create({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "pause"}]}}}})

    def records(self, pool: str) -> dict[str, dict]:
        """The pool's allocatedIPs, decoded."""
        status = (self.server.get(POOLS, pool) or {}).get("status") or {}
        return json.loads(status.get("allocatedIPs") or "{}")

    def endpoint(self, name: str, namespace: str = "default") -> dict | None:
        return self.server.get(ENDPOINTS, name, namespace)


@pytest.fixture
def objects(cluster):
    return Objects(cluster)


@dataclass
class RunningAgent:
    agent: Agent
    client: AgentClient
    node: str

    def add(self, pod: dict, *, nic: str = "eth0", container: str | None = None, config: dict | None = None,
            uid: str | None = None) -> CniReply:
        meta = pod["metadata"]
        return self.client.cni("ADD", config=config or netconf(), container_id=container or f"c-{meta['name']}",
                               if_name=nic, namespace=meta["namespace"], pod=meta["name"],
                               uid=uid or meta["uid"])

    def delete(self, pod: dict, *, nic: str = "eth0", container: str | None = None, config: dict | None = None,
               uid: str | None = None) -> CniReply:
        meta = pod["metadata"]
        return self.client.cni("DEL", config=config or netconf(), container_id=container or f"c-{meta['name']}",
                               if_name=nic, namespace=meta["namespace"], pod=meta["name"],
                               uid=uid or meta["uid"])

    def stop(self) -> None:
        self.agent.stop()


@pytest.fixture
def sock_dir():
    path = Path(tempfile.mkdtemp(prefix="spa-", dir="/tmp"))  # unix socket paths are short
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agents(cluster, sock_dir):
    """agents(node) -> a ready RunningAgent on `node` (the Node object is created if missing)."""
    started: list[RunningAgent] = []

    def start(node: str = "worker1", *, socket: str | None = None, api_budget: float = 10.0) -> RunningAgent:
        if cluster.get("nodes", node) is None:
            Objects(cluster).node(node)
        path = socket or str(sock_dir / f"{node}.sock")
        agent = Agent(AgentSettings(node=node, api_budget=api_budget), path,
                      k8s.connect(kubeconfig=str(cluster.kubeconfig))).start()
        assert agent.wait_ready(15), agent.cache.problems()
        running = RunningAgent(agent, AgentClient(path, timeout=60), node)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
