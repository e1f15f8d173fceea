"""Pods that hold IPs from a pool, for the prune tests: a real node agent (agent.main.Agent) on
worker1 answers CNI ADD/DEL over its socket, as a runtime's IPAM plugin call would reach it."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from agent import kube as k8s
from agent.client import AgentClient, CniReply, netconf
from agent.main import Agent
from agent.service import AgentSettings


class Node:
    def __init__(self, cluster, client: AgentClient):
        self.cluster, self.client = cluster, client

    def pod(self, name: str) -> dict:
        return self.cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                                    "spec": {"nodeName": "worker1", "containers": [{"name": "c", "image": "pause"}]}})

    def cni(self, command: str, pod: dict, pool: str) -> CniReply:
        return self.client.cni(command, config=netconf(default_ipv4_ippool=[pool]),
                               container_id=f"c-{pod['metadata']['name']}", if_name="net1", namespace="default",
                               pod=pod["metadata"]["name"], uid=pod["metadata"]["uid"])

    def remove(self, pod: dict, pool: str) -> None:
        """The kubelet's confirmed delete of the pod, then its CNI DEL: the pod's IP is released."""
        from kubernetes import client as kc

        from tests.kubeapi.fixtures import api_client_for

        with api_client_for(self.cluster) as api:
            kc.CoreV1Api(api).delete_namespaced_pod(pod["metadata"]["name"], "default", grace_period_seconds=0)
        assert self.cni("DEL", pod, pool).ok


@contextlib.contextmanager
def worker(cluster) -> Iterator[Node]:
    sockets = Path(tempfile.mkdtemp(prefix="spa-node-", dir="/tmp"))
    cluster.add_node("worker1")
    running = Agent(AgentSettings(node="worker1", families=frozenset({4})), str(sockets / "a.sock"),
                    k8s.connect(kubeconfig=str(cluster.kubeconfig))).start()
    try:
        assert running.wait_ready(30), running.cache.problems()
        yield Node(cluster, AgentClient(str(sockets / "a.sock"), timeout=60))
    finally:
        running.stop()
        shutil.rmtree(sockets, ignore_errors=True)
