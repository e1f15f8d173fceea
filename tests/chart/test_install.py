"""`helm install`, `helm upgrade` and `helm uninstall` of the chart on the real control plane
with kube-controller-manager and kube-scheduler running: the Deployment and the DaemonSet are
created and make their pods (bound, never started: no kubelet, no image here), an upgrade rolls
the controller, and an uninstall leaves exactly the CRDs and the pools still holding IPs.

The transcript (each command and its output) is printed: `pytest -rP` shows it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import eventually
from tests.helm_plugin.helm_env import helm_dirs
from tests.k8s_binaries import helm3, helm4

from .chart import CHART, NAMESPACE, RELEASE

POOLS = "spiderippools.spiderpool.spidernet.io"
CRDS = "customresourcedefinitions.apiextensions.k8s.io"


class Transcript:
    def __init__(self, tools, kubeconfig, home):
        self.tools, self.lines = tools, []
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("HELM_")}, **helm_dirs(home),
                    "KUBECONFIG": str(kubeconfig), "HOME": str(home)}

    def run(self, binary: str, *args: str) -> str:
        path = self.tools.helm if binary == "helm" else self.tools.kubectl
        done = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=180, env=self.env)
        self.lines.append(f"$ {binary} {' '.join(args)}\n{done.stdout}{done.stderr}".rstrip())
        assert done.returncode == 0, self.lines[-1]
        return done.stdout


def pods_of(cluster, component: str) -> list[dict]:
    return [p for p in cluster.list("pods", NAMESPACE)
            if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
            and not p["metadata"].get("deletionTimestamp")]


@pytest.mark.controllers
@pytest.mark.parametrize("flavour", ["helm3", "helm4"])
def test_install_upgrade_uninstall(real_cluster_with_controllers, tmp_path, flavour):
    cluster = real_cluster_with_controllers
    tools = {"helm3": helm3, "helm4": helm4}[flavour]()
    for node in ("node-a", "node-b"):             # labelled as a kubelet labels its Node
        cluster.add_node(node, {"kubernetes.io/os": "linux"})
    t = Transcript(tools, cluster.kubeconfig, tmp_path)
    try:
        t.run("helm", "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace")
        deployment = cluster.get("deployments.apps", f"{RELEASE}-spiderpool-gitops-controller", NAMESPACE)
        daemonset = cluster.get("daemonsets.apps", f"{RELEASE}-spiderpool-gitops-agent", NAMESPACE)
        assert deployment and daemonset
        # the controllers make the pods: two controller replicas, one agent per node (bound to it)
        eventually(lambda: len(pods_of(cluster, "controller")) == 2, timeout=60, what="2 controller pods")
        agents = eventually(lambda: len(pods_of(cluster, "agent")) == 2 and pods_of(cluster, "agent"),
                            timeout=60, what="an agent pod per node")
        assert {p["spec"]["nodeName"] for p in agents} == {"node-a", "node-b"}
        eventually(lambda: all(p["spec"].get("nodeName") for p in pods_of(cluster, "controller")), timeout=60,
                   what="the controller pods scheduled")
        for crd in ("spiderippools.spiderpool.spidernet.io", "networksyncs.gitops.spidernet.io"):
            assert cluster.get(CRDS, crd), f"crds/ installed {crd}"
        t.run("kubectl", "get", "deployment,daemonset,pods", "-n", NAMESPACE, "-o", "wide")

        t.run("helm", "upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--reuse-values",
              "--set", "logLevel=debug", "--set", "gitSource.enabled=true",
              "--set", "gitSource.repo=https://git.example.com/netops/underlay.git")
        upgraded = cluster.get("deployments.apps", f"{RELEASE}-spiderpool-gitops-controller", NAMESPACE)
        args = upgraded["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--log-level=debug" in args and "--repo=https://git.example.com/netops/underlay.git" in args
        assert upgraded["metadata"]["generation"] > deployment["metadata"]["generation"]
        # the rollout starts: a new ReplicaSet surges a pod with the new args (it goes no further here:
        # no kubelet makes a pod available, so the old ones are kept, as a rollout must)
        eventually(lambda: any("--log-level=debug" in p["spec"]["containers"][0]["args"]
                               for p in pods_of(cluster, "controller")),
                   timeout=90, what="a controller pod of the new revision")
        t.run("helm", "history", RELEASE, "--namespace", NAMESPACE)

        # the network's objects are the spec's, not the release's: a pool holding an IP (with the
        # finalizer every rendered pool carries) and an empty one both outlive the uninstall
        for name, allocated in (("in-use", '{"10.6.1.1":{"pod":"default/app","podUid":"u1","nic":"eth0"}}'),
                                ("empty", None)):
            pool = cluster.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                                   "metadata": {"name": name, "finalizers": ["gitops.spidernet.io/ip-release"]},
                                   "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.1.1-10.6.1.9"]}})
            if allocated:
                cluster.patch(POOLS, name, {"status": {"allocatedIPs": allocated, "allocatedIPCount": 1}},
                              subresource="status")
            assert pool
        t.run("helm", "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
        assert cluster.get("deployments.apps", f"{RELEASE}-spiderpool-gitops-controller", NAMESPACE) is None
        assert cluster.get("daemonsets.apps", f"{RELEASE}-spiderpool-gitops-agent", NAMESPACE) is None
        assert not [r for r in cluster.list("clusterroles.rbac.authorization.k8s.io")
                    if r["metadata"]["name"].startswith(RELEASE)]
        assert cluster.get(CRDS, "spiderippools.spiderpool.spidernet.io"), "CRDs stay (Helm never deletes crds/)"
        assert cluster.get(POOLS, "in-use") is not None and cluster.get(POOLS, "empty") is not None
        t.run("kubectl", "get", "crds", "-o", "name")
        t.run("kubectl", "get", "spiderippools")
    finally:
        print(f"\n--- transcript ({flavour}: helm {tools.helm_version}, kubectl {tools.kubectl_version}) ---")
        print("\n\n".join(t.lines))
        subprocess.run([str(tools.helm), "uninstall", RELEASE, "--namespace", NAMESPACE], capture_output=True,
                       env=t.env, timeout=120)
