"""Seed 000 end to end: SpiderSubnet auto pools on the real control plane, with namespace nodes.

kube-controller-manager makes the Deployment's ReplicaSet and pods, kube-scheduler binds them
to the bed's nodes, `spiderpool controller` (a real process: the auto-pool controller and the
IP GC) cuts the app's pool from the subnet, and the kubelet stand-in runs macvlan -> our IPAM
-> the agent, which waits for the pool and allocates from it. Seed 004's manual pool lives in
the same subnet beside it.

    router  10.244.0.1/16
    node1   10.244.0.11/16   node2  10.244.0.12/16
    subnet  nginx-subnet-v4  10.244.0.0/16, ips 10.244.100.0-10.244.200.1 (from the spec)
    manual  seed-004-pool    10.244.100.0-10.244.100.9 (from the spec)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent import kube as k8s
from cni.allocation import autopool as ap
from tests.conftest import REPO, eventually, stop_process

from .kubelet import kubectl, running_ips, underlay_bed
from .requirements import require_agent_bed

SPEC = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: seed-000
spec:
  cluster:
    ipVersions: [4]
  subnets:
    - name: nginx-subnet-v4
      subnet: 10.244.0.0/16
      ips: [10.244.100.0-10.244.200.1]
      gateway: 10.244.0.1
  ippools:
    - name: seed-004-pool
      subnet: 10.244.0.0/16
      ips: [10.244.100.0-10.244.100.9]
      gateway: 10.244.0.1
  networks:
    - name: macvlan-ens192
      namespace: kube-system
      type: macvlan
      master: ens192
      mode: bridge
      cniVersion: 1.0.0
      coordinator: false
"""
NAD = "kube-system/macvlan-ens192"
MANUAL = {f"10.244.100.{i}" for i in range(10)}


class ControllerProcess:
    def __init__(self, kubeconfig, log_path):
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "controller", "--kubeconfig", str(kubeconfig), "--no-leader-elect",
             "--gc-interval", "5", "--gc-grace", "2", "--auto-pool-interval", "5"],
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> None:
        stop_process(self.process, grace=30)
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])


@pytest.fixture(scope="module")
def bed(tmp_path_factory, real_control_plane_with_controllers):
    require_agent_bed()
    work = tmp_path_factory.mktemp("seed000")
    spec = work / "spec.yaml"
    spec.write_text(SPEC)
    with underlay_bed(real_control_plane_with_controllers, spec, router="10.244.0.1/16", nad=NAD,
                      nodes={"node1": "10.244.0.11/16", "node2": "10.244.0.12/16"}) as bed:
        bed.controller = ControllerProcess(bed.kubeconfig, work / "controller.log")
        bed.kube = k8s.connect(kubeconfig=str(bed.kubeconfig))
        try:
            yield bed
            bed.cluster.server.delete("deployments.apps", "nginx", "default")
            eventually(lambda: not bed.kubelet.running, timeout=60)
        finally:
            bed.controller.stop()
            bed.kube.close()


def nginx(replicas: int) -> dict:
    labels = {"app": "nginx"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": {
                         "ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}',
                         "ipam.spidernet.io/ippool-ip-number": "+3"}},
                         "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}


def running(bed) -> dict[str, str]:
    return running_ips(bed, "nginx")


def the_pool(bed) -> dict | None:
    items, _ = bed.kube.list(k8s.POOLS, label_selector=f"{ap.LABEL_NAME}=nginx")
    return items[0] if items else None


def ips_of(pool: dict) -> set[str]:
    from cni.ipranges import format_ip

    spans = ap.ranges(pool["spec"]["ips"], 4).spans
    return {format_ip(v, 4) for first, last in spans for v in range(first, last + 1)}


def subnet_status(bed) -> dict:
    return bed.kube.get(k8s.SUBNETS, "nginx-subnet-v4").get("status") or {}


def context(bed):
    return lambda: f"kubelet failures: {bed.kubelet.failures}\n--- controller ---\n{bed.controller.tail()}\n" \
                   f"{bed.agent_log('node1', tail=15)}"


def test_seed_000_a_deployment_gets_a_fixed_pool_from_the_subnet_that_follows_its_replicas(bed):
    bed.cluster.create(nginx(2))
    pods = eventually(lambda: len(running(bed)) == 2 and running(bed), what="2 running nginx pods",
                      context=context(bed))
    pool = the_pool(bed)
    uid = bed.cluster.server.get("deployments.apps", "nginx", "default")["metadata"]["uid"]
    assert pool["metadata"]["name"] == f"auto4-nginx-eth0-{uid.split('-')[-1][:5]}"
    ips = ips_of(pool)
    assert len(ips) == 5 and not ips & MANUAL, ips                        # 2 + 3, beside the manual pool
    assert set(pods.values()) <= ips and len(set(pods.values())) == 2
    for pod in bed.kubelet.pods():                                        # the address is on the pod's macvlan
        assert bed.cidrs(pod, "eth0", family=4)[0].split("/")[0] in ips
        assert bed.ping(pod, "10.244.0.1")["received"] == 1
    ledger = json.loads(subnet_status(bed)["controlledIPPools"])
    assert set(ledger) == {pool["metadata"]["name"], "seed-004-pool"}
    eventually(lambda: subnet_status(bed).get("allocatedIPCount") == 15, what="subnet allocatedIPCount 10 + 5")
    assert "auto4-nginx-eth0" in kubectl(bed, "get", "sp")

    kubectl(bed, "scale", "deployment/nginx", "--replicas=3")
    pods = eventually(lambda: len(running(bed)) == 3 and running(bed), what="3 running pods", context=context(bed))
    eventually(lambda: len(ips_of(the_pool(bed))) == 6, what="the pool grown to 6", context=context(bed))
    ips = ips_of(the_pool(bed))
    assert set(pods.values()) <= ips and len(set(pods.values())) == 3

    victim = sorted(pods)[0]                                              # a pod re-created keeps an IP of the pool
    kubectl(bed, "delete", "pod", victim, "--wait=false")
    pods = eventually(lambda: len(running(bed)) == 3 and victim not in running(bed) and running(bed),
                      what="the pod re-created", context=context(bed))
    assert set(pods.values()) <= ips_of(the_pool(bed)) and len(ips_of(the_pool(bed))) == 6

    kubectl(bed, "scale", "deployment/nginx", "--replicas=1")
    pods = eventually(lambda: len(running(bed)) == 1 and running(bed), what="1 running pod", context=context(bed))
    eventually(lambda: len(ips_of(the_pool(bed))) == 4, what="the pool shrunk to 4", context=context(bed))
    kept = next(iter(pods.values()))
    assert kept in ips_of(the_pool(bed))                                  # never a used IP
    name = the_pool(bed)["metadata"]["name"]
    eventually(lambda: set(bed.allocations(name)) == {kept}, what="the scaled-down pods' IPs released")
    assert len(ips_of(the_pool(bed))) == 4

    kubectl(bed, "delete", "deployment", "nginx")
    eventually(lambda: the_pool(bed) is None, what="the pool reclaimed", context=context(bed))
    eventually(lambda: set(json.loads(subnet_status(bed)["controlledIPPools"])) == {"seed-004-pool"}
               and subnet_status(bed)["allocatedIPCount"] == 10, what="the subnet free but for the manual pool")
    assert not bed.kubelet.failures or all("auto pool" in f for f in bed.kubelet.failures.values())


def test_a_statefulset_and_a_daemonset_get_their_pools_and_a_restarted_member_keeps_its_ip(bed):
    labels = {"app": "db"}
    annotations = {"ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}', "ipam.spidernet.io/ippool-ip-number": "3"}
    pod = {"metadata": {"labels": labels, "annotations": annotations},
           "spec": {"containers": [{"name": "db", "image": "registry.k8s.io/pause:3.9"}]}}
    bed.cluster.create({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
                        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": labels},
                                 "template": pod}})
    ds_labels = {"app": "node-agent"}
    bed.cluster.create({"apiVersion": "apps/v1", "kind": "DaemonSet",
                        "metadata": {"name": "node-agent", "namespace": "default"},
                        "spec": {"selector": {"matchLabels": ds_labels}, "template": {
                            "metadata": {"labels": ds_labels, "annotations": {
                                "ipam.spidernet.io/subnet": '{"ipv4":["nginx-subnet-v4"]}',
                                "ipam.spidernet.io/ippool-ip-number": "+1"}},
                            "spec": {"containers": [{"name": "a", "image": "registry.k8s.io/pause:3.9"}]}}}})

    def ips_by_pod(app: str) -> dict[str, str]:
        return running_ips(bed, app)

    def pool_of(app: str) -> dict | None:
        items, _ = bed.kube.list(k8s.POOLS, label_selector=f"{ap.LABEL_NAME}={app}")
        return items[0] if items else None

    db = eventually(lambda: len(ips_by_pod("db")) == 2 and ips_by_pod("db"), what="2 db pods", timeout=90,
                    context=context(bed))
    agents = eventually(lambda: len(ips_by_pod("node-agent")) == 2 and ips_by_pod("node-agent"),
                        what="a node-agent pod per node", timeout=90, context=context(bed))
    assert len(ips_of(pool_of("db"))) == 3 and set(db.values()) <= ips_of(pool_of("db"))
    eventually(lambda: len(ips_of(pool_of("node-agent"))) == 3, what="2 scheduled + 1")
    assert set(agents.values()) <= ips_of(pool_of("node-agent"))
    assert not ips_of(pool_of("db")) & ips_of(pool_of("node-agent")) and not ips_of(pool_of("db")) & MANUAL

    old = bed.cluster.server.get("pods", "db-0", "default")["metadata"]["uid"]
    kubectl(bed, "delete", "pod", "db-0", "--wait=false")          # a StatefulSet member keeps its IP
    eventually(lambda: (p := bed.cluster.server.get("pods", "db-0", "default")) and p["metadata"]["uid"] != old
               and ips_by_pod("db").get("db-0"), what="db-0 re-created and running", timeout=90, context=context(bed))
    assert ips_by_pod("db")["db-0"] == db["db-0"]
    kubectl(bed, "delete", "statefulset", "db")
    kubectl(bed, "delete", "daemonset", "node-agent")
    eventually(lambda: pool_of("db") is None and pool_of("node-agent") is None, what="both pools reclaimed",
               timeout=90, context=context(bed))
