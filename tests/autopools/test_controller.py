"""The auto-pool controller on the real control plane: pools made, sized, scaled and reclaimed with their apps."""

from __future__ import annotations

from agent import kube as k8s
from cni.allocation import autopool as ap
from tests.conftest import eventually

from .conftest import annotated, auto_pools, controlled, deployment, pool_ips, subnet


def test_a_deployment_gets_a_pool_of_replicas_plus_n_that_follows_it_and_goes_with_it(cluster, kube, controller):
    cluster.create(subnet())
    controller()
    app = cluster.create(deployment("nginx", 2, annotated(number="+3")))
    uid = app["metadata"]["uid"]
    pool = eventually(lambda: auto_pools(kube, "nginx"), what="the auto pool")[0]
    name = pool["metadata"]["name"]
    assert name == f"auto4-nginx-eth0-{uid.split('-')[-1][:5]}"
    eventually(lambda: len(pool_ips(auto_pools(kube, "nginx")[0])) == 5, what="5 IPs")
    pool = auto_pools(kube, "nginx")[0]
    assert pool_ips(pool) == {f"10.244.100.{i}" for i in range(5)}       # the lowest free IPs of the subnet
    labels = pool["metadata"]["labels"]
    assert {k: labels[k] for k in (ap.LABEL_SUBNET, ap.LABEL_GV, ap.LABEL_KIND, ap.LABEL_NAMESPACE, ap.LABEL_NAME,
                                   ap.LABEL_UID, ap.LABEL_INTERFACE, ap.LABEL_VERSION, ap.LABEL_RECLAIM,
                                   ap.LABEL_CIDR)} == {
        ap.LABEL_SUBNET: "nginx-subnet-v4", ap.LABEL_GV: "apps_v1", ap.LABEL_KIND: "Deployment",
        ap.LABEL_NAMESPACE: "default", ap.LABEL_NAME: "nginx", ap.LABEL_UID: uid, ap.LABEL_INTERFACE: "eth0",
        ap.LABEL_VERSION: "IPv4", ap.LABEL_RECLAIM: "true", ap.LABEL_CIDR: "10-244-0-0-16"}
    assert pool["metadata"]["annotations"][ap.IP_NUMBER] == "+3"
    assert pool["spec"]["gateway"] == "10.244.0.1" and pool["spec"]["subnet"] == "10.244.0.0/16"
    assert pool["spec"]["podAffinity"]["matchLabels"] == {
        "ipam.spidernet.io/app-api-group": "apps", "ipam.spidernet.io/app-api-version": "v1",
        "ipam.spidernet.io/app-kind": "Deployment", "ipam.spidernet.io/app-namespace": "default",
        "ipam.spidernet.io/app-name": "nginx"}
    assert "gitops.spidernet.io/ip-release" in pool["metadata"]["finalizers"]
    assert controlled(kube) == {name: {"ips": ["10.244.100.0-10.244.100.4"], "application":
                                       "apps_v1_Deployment_default_nginx"}}
    status = eventually(lambda: (s := kube.get(k8s.SUBNETS, "nginx-subnet-v4")["status"]).get("allocatedIPCount") == 5
                        and s, what="subnet counts")
    assert status["totalIPCount"] == 25602                                # as the seed's `kubectl get ss` shows
    eventually(lambda: (auto_pools(kube, "nginx")[0].get("status") or {}).get("totalIPCount") == 5,
               what="the pool's totalIPCount")

    cluster.patch("deployments.apps", "nginx", {"spec": {"replicas": 3}}, "default")
    eventually(lambda: len(pool_ips(auto_pools(kube, "nginx")[0])) == 6, what="grown to 6")
    eventually(lambda: controlled(kube)[name]["ips"] == ["10.244.100.0-10.244.100.5"], what="the ledger grown")

    cluster.delete("deployments.apps", "nginx", "default")
    eventually(lambda: not auto_pools(kube), what="the pool reclaimed")
    eventually(lambda: controlled(kube) == {} and
               kube.get(k8s.SUBNETS, "nginx-subnet-v4")["status"]["allocatedIPCount"] == 0, what="the subnet free")


def test_controller_once_makes_the_pools_and_exits(cluster, kube):
    import contextlib
    import io

    from reconciler.cli import main

    cluster.create(subnet())
    cluster.create(deployment("web", 2, annotated(number="+1")))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["controller", "--once", "--kubeconfig", str(cluster.kubeconfig)])
    assert code == 0 and "auto pools: 1 created" in out.getvalue(), out.getvalue()
    assert [len(pool_ips(p)) for p in auto_pools(kube, "web")] == [3]
