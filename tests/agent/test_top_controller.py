"""SpiderEndpoint `ownerControllerType/Name` name the pod's TOP controller, as upstream's
`GetPodTopController`: pods made by the real kube-controller-manager from a Deployment (through its
ReplicaSet) and from a CronJob (through its Job), bound by the real scheduler, then ADDed by an agent."""

from __future__ import annotations

import pytest

from tests.conftest import eventually, with_crds

IMAGE = "registry.k8s.io/pause:3.9"


@pytest.fixture
def cluster(real_cluster_with_controllers):
    """The control plane with controllers (Deployments make ReplicaSets make Pods), our CRDs, one Node."""
    server = with_crds(real_cluster_with_controllers)
    server.add_node("worker1")
    return server


def _pods(cluster, prefix: str) -> list[dict]:
    return [p for p in cluster.list("pods", "default") if p["metadata"]["name"].startswith(prefix)
            and p["spec"].get("nodeName")]


def _owner_of_endpoint(objects, agents, pod: dict) -> tuple[str, str]:
    agent = agents("worker1")
    reply = agent.add(pod)
    assert reply.ok, reply.stdout
    status = objects.endpoint(pod["metadata"]["name"])["status"]
    return status["ownerControllerType"], status["ownerControllerName"]


def test_a_deployments_pod_names_the_deployment_not_its_replicaset(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    labels = {"app": "web"}
    cluster.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                             "template": {"metadata": {"labels": labels},
                                          "spec": {"containers": [{"name": "c", "image": IMAGE}]}}}})
    pod = eventually(lambda: _pods(cluster, "web-"), what="the Deployment's pod, bound")[0]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"  # what a plain ownerRef would name

    assert _owner_of_endpoint(objects, agents, pod) == ("Deployment", "web")


def test_a_cronjobs_pod_names_the_cronjob_not_its_job(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": IMAGE}]}}
    cronjob = cluster.create({"apiVersion": "batch/v1", "kind": "CronJob",
                              "metadata": {"name": "nightly", "namespace": "default"},
                              "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}})
    # What `kubectl create job --from=cronjob/nightly` sends: a Job controlled by the CronJob.
    cluster.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {
        "name": "nightly-manual", "namespace": "default", "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "uid": cronjob["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}]}, "spec": {"template": template}})
    pod = eventually(lambda: _pods(cluster, "nightly-manual-"), what="the Job's pod, bound")[0]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"

    assert _owner_of_endpoint(objects, agents, pod) == ("CronJob", "nightly")


def test_an_orphan_pod_names_itself_as_upstream(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    orphan = objects.pod("lonely", "worker1")

    assert _owner_of_endpoint(objects, agents, orphan) == ("Pod", "lonely")
