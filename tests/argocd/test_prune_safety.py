"""A GitOps prune of a busy pool, on the real kube-apiserver, with the exact call each tool makes:

- Argo CD (gitops-engine sync_context.getDeleteOptions -> KubectlCmd.DeleteResource): DELETE with
  DeleteOptions{propagationPolicy: Foreground} (the default; `PrunePropagationPolicy=background`
  or `orphan` changes only the policy);
- Flux (fluxcd/pkg/ssa ResourceManager.Delete, kustomize-controller's prune): DELETE with
  propagationPolicy Background.

The pool was rendered by `spiderpool render` (so it carries the finalizer gitops.spidernet.io/ip-release)
and applied; a real node agent allocated an IP from it over its CNI socket. The pool must stay
Terminating -- the agent refusing it new IPs -- through controller passes until the pod's IP is
released (CNI DEL); then the controller lets it go and kube-controller-manager's garbage collector
finishes a foreground deletion.
"""

from __future__ import annotations


import pytest

from agent import kube as k8s
from cni.allocation.retirement import FINALIZER
from tests.argocd.pods import worker
from tests.conftest import HEADER, eventually, running_ipgc, with_crds

POOLS = "spiderippools.spiderpool.spidernet.io"
SPEC = HEADER.format(name="prod") + """\
spec:
  cluster: {ipVersions: [4]}
  ippools:
    - {name: web-v4, subnet: 10.6.0.0/16, ips: [10.6.168.10-10.6.168.19], gateway: 10.6.0.1}
"""


@pytest.fixture
def cluster(real_cluster_with_controllers):
    return with_crds(real_cluster_with_controllers)


@pytest.fixture
def rendered(tmp_path, capsys):
    """The objects as Argo CD's plugin or Flux's rendered branch hands them over, applied."""
    from reconciler.cli import main

    (tmp_path / "network.yaml").write_text(SPEC)
    assert main(["render", str(tmp_path / "network.yaml")]) == 0
    return capsys.readouterr().out


@pytest.fixture
def node(cluster):
    with worker(cluster) as running:
        yield running


@pytest.fixture
def controller(cluster):
    with running_ipgc(cluster) as gc:
        yield gc


@pytest.mark.controllers
@pytest.mark.parametrize("tool, policy", [("argocd", "Foreground"), ("flux", "Background")])
def test_a_pruned_busy_pool_stays_terminating_until_its_last_ip_is_released(
        tool, policy, cluster, rendered, node, controller):
    import yaml
    from kubernetes import client as kc

    from tests.kubeapi.fixtures import api_client_for

    [pool] = [o for o in yaml.safe_load_all(rendered) if o["kind"] == "SpiderIPPool"]
    assert pool["metadata"]["finalizers"] == [FINALIZER]
    api = api_client_for(cluster)
    custom = kc.CustomObjectsApi(api)
    # Argo CD applies client-side (kubectl apply), Flux server-side: either way the object as rendered
    custom.create_cluster_custom_object("spiderpool.spidernet.io", "v2beta1", "spiderippools", pool)
    web = node.pod("web-0")
    eventually(lambda: cluster.get(POOLS, "web-v4") is not None and node.cni("ADD", web, "web-v4").ok,
               what="an IP for web-0 from web-v4", timeout=30)

    # the prune, exactly as the tool sends it
    answer = custom.delete_cluster_custom_object("spiderpool.spidernet.io", "v2beta1", "spiderippools", "web-v4",
                                                 body=kc.V1DeleteOptions(propagation_policy=policy))
    if policy == "Foreground":  # as the DELETE left it: the garbage collector drops it soon (no dependents)
        assert sorted(answer["metadata"]["finalizers"]) == sorted(["foregroundDeletion", FINALIZER])
    live = cluster.get(POOLS, "web-v4")
    assert live["metadata"]["deletionTimestamp"]
    assert FINALIZER in live["metadata"]["finalizers"]

    # controller passes: the pool holds an IP, so it stays; the agent hands out nothing more from it
    controller.cache.wait_for(lambda: (controller.cache.raw(k8s.POOLS, "web-v4") or {}).get("metadata", {})
                              .get("deletionTimestamp"), 10)
    for _ in range(3):
        assert controller.run_pass().finalizers_released == []
    assert cluster.get(POOLS, "web-v4")["metadata"]["deletionTimestamp"]
    refused = node.cni("ADD", node.pod("web-1"), "web-v4")
    assert not refused.ok and "web-v4" in refused.stdout

    # the pod goes (the kubelet's confirmed delete, then its CNI DEL): the last IP is released, the
    # controller lets the pool go, and it is gone
    node.remove(web, "web-v4")
    assert controller.cache.wait_for(lambda: not (controller.cache.raw(k8s.POOLS, "web-v4") or {}).get("status", {})
                                     .get("allocatedIPCount"), 10)
    assert controller.run_pass().finalizers_released == ["SpiderIPPool web-v4"]
    eventually(lambda: cluster.get(POOLS, "web-v4") is None, what="web-v4 deleted", timeout=60)
    api.close()
