"""The agent's side of auto pools, on the real control plane: it waits (bounded) for the app's pool and
allocates from it, refuses orphan pods, and makes a third-party controller's pool itself."""

from __future__ import annotations

from agent import kube as k8s
from cni.allocation import autopool as ap
from tests.agent.conftest import Objects
from tests.conftest import ensure_crd, eventually

from .conftest import annotated, auto_pools, controlled, deployment, pool_ips, subnet, template


def pods_of(cluster, app: str) -> list[dict]:
    return [p for p in cluster.list("pods", "default") if p["metadata"].get("labels", {}).get("app") == app
            and p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")]


def test_an_orphan_pod_with_a_subnet_annotation_gets_a_clear_error(cluster, agent):
    cluster.create(subnet())
    running = agent()
    pod = cluster.create({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": "lonely", "namespace": "default", "annotations": annotated()},
                          "spec": {"nodeName": "worker1", "containers": [{"name": "c", "image": "pause"}]}})
    reply = running.add(pod)
    assert reply.code == 7
    assert "SpiderSubnet feature doesn't support no-controller pod" in reply.json["msg"] + reply.json.get("details", "")
    assert "ipam.spidernet.io/ippool" in reply.json["msg"] + reply.json.get("details", "")


def test_a_pod_waits_for_its_apps_pool_then_allocates_from_it_and_keeps_to_it(cluster, kube, agent, controller):
    cluster.create(subnet())
    running = agent(wait=2.0)
    app = cluster.create(deployment("web", 2, annotated(number="+1")))
    pods = eventually(lambda: len(pods_of(cluster, "web")) == 2 and pods_of(cluster, "web"), what="2 bound pods")
    name = ap.pool_name(4, "web", "eth0", app["metadata"]["uid"])
    reply = running.add(pods[0])                                   # no controller yet: no pool
    assert reply.code == 11, reply.stdout
    text = reply.json["msg"] + reply.json.get("details", "")
    assert f"waited 2s for the auto pool {name} of Deployment default/web" in text and "not created yet" in text
    controller()
    ips = {}
    for pod in pods:
        reply = eventually(lambda: (r := running.add(pod)).ok and r, what="an IP once the pool is there")
        ips[pod["metadata"]["name"]] = reply.ips[0]
    pool = auto_pools(kube, "web")[0]
    assert set(ips.values()) <= pool_ips(pool) and len(set(ips.values())) == 2
    assert reply.json["ips"][0]["gateway"] == "10.244.0.1"
    gone = pods[0]                                                  # a pod re-created takes an IP of the same pool
    Objects(cluster).delete_pod(gone["metadata"]["name"])
    assert running.delete(gone).ok
    fresh = eventually(lambda: [p for p in pods_of(cluster, "web") if p["metadata"]["name"] not in ips],
                       what="the replacement pod")[0]
    reply = eventually(lambda: (r := running.add(fresh)).ok and r, what="the replacement's IP")
    assert reply.ips[0] in pool_ips(auto_pools(kube, "web")[0])


WIDGETS = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_a_third_party_controllers_pool_is_made_on_its_first_pods_add(cluster, kube, agent, controller):
    ensure_crd(cluster, WIDGETS)
    cluster.create(subnet())
    running = agent()
    controller()
    widget = cluster.create({"apiVersion": "example.com/v1", "kind": "Widget",
                             "metadata": {"name": "w", "namespace": "default"}})
    owner = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": widget["metadata"]["uid"],
             "controller": True}

    def pod(name: str, number: str) -> dict:
        return cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": "default", "annotations": annotated(number=number),
            "ownerReferences": [owner]},
            "spec": {"nodeName": "worker1", "containers": [{"name": "c", "image": "pause"}]}})

    refused = running.add(pod("w-flexible", "+1"))
    assert refused.code == 7 and "Widget default/w only supports fixed auto-created IPPool IP Number" in \
        refused.json["msg"]
    cluster.delete("pods", "w-flexible", "default")
    first = pod("w-0", "3")
    reply = running.add(first)
    assert reply.ok, reply.stdout
    pool = auto_pools(kube, "w")[0]
    labels = pool["metadata"]["labels"]
    assert (labels[ap.LABEL_KIND], labels[ap.LABEL_GV], labels[ap.LABEL_UID]) == (
        "Widget", "example.com_v1", widget["metadata"]["uid"])
    assert len(pool_ips(pool)) == 3 and reply.ips[0] in pool_ips(pool)
    assert pool["metadata"]["name"] in controlled(kube)            # recorded in the subnet's ledger
    import time
    time.sleep(2)                                                   # the controller leaves a live app's pool alone
    assert auto_pools(kube, "w")
    Objects(cluster).delete_pod("w-0")                             # the pod goes, then its DEL releases the IP
    assert running.delete(first).ok
    cluster.delete("widgets.example.com", "w", "default")
    eventually(lambda: not auto_pools(kube, "w"), what="the pool reclaimed once the Widget is gone")


ROLLOUTS = {**WIDGETS, "metadata": {"name": "rollouts.example.com"},
            "spec": {**WIDGETS["spec"], "names": {"plural": "rollouts", "singular": "rollout", "kind": "Rollout"}}}


def test_replicasets_of_a_third_party_controller_share_its_pool_across_revisions(cluster, kube, agent, controller):
    """An Argo-Rollout-like kind owns a ReplicaSet per revision: the top controller is the Rollout (upstream's
    GetPodTopController), so both revisions' pods take IPs from the Rollout's one pool, and the controller
    makes no pool for either ReplicaSet."""
    ensure_crd(cluster, ROLLOUTS)
    cluster.create(subnet())
    running = agent()
    controller()
    rollout = cluster.create({"apiVersion": "example.com/v1", "kind": "Rollout",
                              "metadata": {"name": "shop", "namespace": "default"}})
    owner = {"apiVersion": "example.com/v1", "kind": "Rollout", "name": "shop",
             "uid": rollout["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}

    def revision(hash_: str) -> dict:
        labels = {"app": "shop", "rollouts-pod-template-hash": hash_}
        return cluster.create({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": f"shop-{hash_}", "namespace": "default", "ownerReferences": [owner]},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": template(annotated(number="4"), labels)}})

    ips = []
    for hash_ in ("5d4f8", "7c9b2"):
        revision(hash_)
        [pod] = eventually(lambda: [p for p in pods_of(cluster, "shop")
                                    if p["metadata"]["labels"]["rollouts-pod-template-hash"] == hash_],
                           what=f"the pod of revision {hash_}")
        reply = running.add(pod)
        assert reply.ok, reply.stdout
        ips.append(reply.ips[0])
        endpoint = kube.get(k8s.ENDPOINTS, pod["metadata"]["name"], "default")
        assert (endpoint["status"]["ownerControllerType"], endpoint["status"]["ownerControllerName"]) == (
            "Rollout", "shop")
    [pool] = auto_pools(kube)                                        # one pool, the Rollout's, none per ReplicaSet
    labels = pool["metadata"]["labels"]
    assert (labels[ap.LABEL_KIND], labels[ap.LABEL_NAME], labels[ap.LABEL_UID]) == (
        "Rollout", "shop", rollout["metadata"]["uid"])
    assert pool["metadata"]["name"] == ap.pool_name(4, "shop", "eth0", rollout["metadata"]["uid"])
    assert len(pool_ips(pool)) == 4 and set(ips) <= pool_ips(pool) and len(set(ips)) == 2
