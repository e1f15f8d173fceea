"""Pods made by real controllers get underlay IPs: kube-controller-manager makes a Deployment's
ReplicaSet and Pods, kube-scheduler binds them to the bed's nodes, the kubelet stand-in runs
macvlan -> our IPAM -> the agent for each, and `kubectl scale` / `kubectl delete` change the
pods and the pool's records as in a cluster.

    router  10.9.0.1/16
    node1   10.9.0.11/16   node2  10.9.0.12/16     (Node objects Ready, schedulable)
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.conftest import eventually

from .kubelet import kubectl, running_ips, underlay_bed
from .requirements import require_agent_bed

SPEC = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: netns-controllers
spec:
  cluster:
    ipVersions: [4]
  ippools:
    - name: app-pool
      subnet: 10.9.0.0/16
      ips: [10.9.100.10-10.9.100.19]
      gateway: 10.9.0.1
  networks:
    - name: macvlan-ens192
      namespace: kube-system
      type: macvlan
      master: ens192
      mode: bridge
      cniVersion: 1.0.0
      ippools: {ipv4: [app-pool]}
      coordinator: false
"""
NAD = "kube-system/macvlan-ens192"
POOL_IPS = {f"10.9.100.{i}" for i in range(10, 20)}


@pytest.fixture(scope="module")
def bed(tmp_path_factory, real_control_plane_with_controllers):
    require_agent_bed()
    spec = tmp_path_factory.mktemp("spec") / "spec.yaml"
    spec.write_text(SPEC)
    with underlay_bed(real_control_plane_with_controllers, spec, router="10.9.0.1/16", nad=NAD,
                      nodes={"node1": "10.9.0.11/16", "node2": "10.9.0.12/16"}) as bed:
        yield bed
        bed.cluster.server.delete("deployments.apps", "web", "default")
        eventually(lambda: not bed.kubelet.running, timeout=60)


def deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": {
                         "ipam.spidernet.io/ippool": json.dumps({"ipv4": ["app-pool"]})}},
                         "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}]}}}}


def running_pods(bed) -> dict[str, str]:
    return running_ips(bed, "web")


def test_a_deployment_scaled_with_kubectl_gets_and_releases_pool_ips(bed):
    bed.cluster.create(deployment("web", 2))
    pods = eventually(lambda: len(running_pods(bed)) == 2 and running_pods(bed), what="2 running pods")
    assert set(pods.values()) <= POOL_IPS and len(set(pods.values())) == 2, (pods, bed.kubelet.failures)
    nodes = {p["spec"]["nodeName"] for p in bed.cluster.server.list("pods", "default")}
    assert nodes <= {"node1", "node2"}
    records = bed.allocations("app-pool")
    assert set(records) == set(pods.values())
    assert {r["pod"] for r in records.values()} == {f"default/{n}" for n in pods}

    kubectl(bed, "scale", "deployment/web", "--replicas=3")
    pods = eventually(lambda: len(running_pods(bed)) == 3 and running_pods(bed), what="3 running pods")
    assert len(set(pods.values())) == 3 and set(pods.values()) <= POOL_IPS
    eventually(lambda: set(bed.allocations("app-pool")) == set(pods.values()), what="3 pool records")

    kubectl(bed, "scale", "deployment/web", "--replicas=1")
    eventually(lambda: len(running_pods(bed)) == 1 and len(bed.allocations("app-pool")) == 1,
               what="scaled down to one pod and one record")

    kubectl(bed, "delete", "deployment", "web")          # the garbage collector cascades
    eventually(lambda: not bed.cluster.server.list("pods", "default"), what="every pod gone")
    eventually(lambda: bed.allocations("app-pool") == {}, what="the pool empty")
    assert not bed.kubelet.failures, bed.kubelet.failures
    assert all(ipaddress.ip_address(ip) for ip in pods.values())
