"""git push -> Argo CD sync -> pools in the cluster -> Healthy, with Argo CD's own components.

tests/argocd/stack.py runs argocd-application-controller, argocd-repo-server and argocd-cmp-server
(examples/argocd/plugin.yaml) built from Argo CD v3.6.1's module, with Redis, against the real
control plane (with kube-controller-manager: Argo CD prunes with foreground deletion, which the
garbage collector finishes) and a git daemon on loopback. The Application auto-syncs with prune.
"""

from __future__ import annotations

import shutil

import pytest

from tests.argocd import build
from tests.argocd.pods import worker
from tests.argocd.stack import ArgoStack
from tests.conftest import HEADER, eventually, running_ipgc, with_crds
from tests.watch.gitremote import Remote, spec

POOLS = "spiderippools.spiderpool.spidernet.io"
pytestmark = [
    pytest.mark.controllers,
    pytest.mark.skipif(build.cached() is None, reason="Argo CD is not built: run `python -m tests.argocd.build`"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed (Debian redis-server)"),
]


@pytest.fixture
def cluster(real_cluster_with_controllers):
    return with_crds(real_cluster_with_controllers)


@pytest.fixture
def remote(tmp_path):
    (tmp_path / "remote").mkdir()
    served = Remote(tmp_path / "remote").serve()
    yield served
    served.stop()


@pytest.fixture
def argo(cluster, tmp_path):
    (tmp_path / "argo").mkdir()
    with ArgoStack(cluster, tmp_path / "argo") as stack:
        yield stack


def _state(argo, name="net"):
    status = argo.app(name).get("status") or {}
    return status


def _synced(argo, revision, *, in_sync=True):
    """The auto-sync of `revision` succeeded (and, with in_sync, nothing is left to prune)."""
    def check():
        status = _state(argo)
        operation = status.get("operationState") or {}
        ok = (operation.get("phase") == "Succeeded" and operation.get("syncResult", {}).get("revision") == revision
              and (not in_sync or status.get("sync", {}) == {**status.get("sync", {}), "status": "Synced",
                                                              "revision": revision}))
        return status if ok else None
    return check


def test_push_sync_healthy_then_a_busy_pool_pruned_waits_for_its_last_ip_and_an_empty_spec_prunes_nothing(
        cluster, remote, argo):
    two = {"pool-a": "10.6.168.60-10.6.168.69", "pool-b": "10.6.168.70-10.6.168.79"}
    first = remote.push_spec(spec(name="prod", pools=two))
    argo.application("net", repo_url=remote.git_url, path="specs", parameters=[{"name": "sync-waves", "string": "true"}])

    status = eventually(_synced(argo, first), what="the app synced at the first commit", timeout=120,
                        context=lambda: str(_state(argo)) + argo.logs("application-controller")[-2000:])
    eventually(lambda: _state(argo).get("health", {}).get("status") == "Healthy", what="the app Healthy", timeout=60)
    pools = {p["metadata"]["name"]: p for p in cluster.list(POOLS)}
    assert sorted(pools) == ["pool-a", "pool-b"]
    assert pools["pool-a"]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "1"
    assert pools["pool-a"]["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == \
        "net:spiderpool.spidernet.io/SpiderIPPool:/pool-a"
    health = {r["name"]: r.get("health") for r in _state(argo)["resources"]}
    assert health["pool-a"] == {"status": "Healthy", "message": "No IPs allocated yet"}  # our Lua, in argocd-cm

    with worker(cluster) as node, running_ipgc(cluster) as controller:
        web = node.pod("web-0")
        assert node.cni("ADD", web, "pool-b").ok

        # pool-b leaves the spec while web-0 holds one of its IPs: Argo CD prunes it (Foreground DELETE)
        second = remote.push_spec(spec(name="prod", pools={"pool-a": two["pool-a"]}), "drop pool-b")
        argo.refresh("net")  # the push webhook
        # read the result from the status that showed it: pool-b stays (Terminating) so the app stays OutOfSync,
        # and selfHeal starts another sync, which clears status.operationState while it begins (Argo CD v3)
        synced = eventually(_synced(argo, second, in_sync=False), what="the sync of the commit without pool-b",
                            timeout=120, context=lambda: str(_state(argo)))
        pruned = [r for r in synced["operationState"]["syncResult"]["resources"] if r["name"] == "pool-b"]
        assert pruned and pruned[0]["status"] == "Pruned"
        # still there, Terminating: the app is Progressing because of it, with our health check's words
        eventually(lambda: _state(argo).get("health", {}).get("status") == "Progressing", timeout=60,
                   what="the app Progressing while pool-b drains", context=lambda: str(_state(argo)))
        [entry] = [r for r in _state(argo)["resources"] if r["name"] == "pool-b"]
        assert entry["requiresPruning"] is True
        assert entry["health"] == {"status": "Progressing", "message": "Terminating: 1 IP(s) still allocated; the "
                                   "finalizer gitops.spidernet.io/ip-release keeps the pool until they are released"}
        live = cluster.get(POOLS, "pool-b")
        assert live["metadata"]["deletionTimestamp"] and "gitops.spidernet.io/ip-release" in live["metadata"]["finalizers"]
        controller.cache.wait_for(lambda: (controller.cache.raw(k8s_pools(), "pool-b") or {}).get("metadata", {})
                                  .get("deletionTimestamp"), 10)
        assert controller.run_pass().finalizers_released == []
        assert cluster.get(POOLS, "pool-b") is not None  # Terminating, holding web-0's IP

        # an empty spec: the plugin refuses it, Argo CD shows why and prunes nothing
        remote.push_spec(HEADER.format(name="prod") + "spec:\n  zones: []\n", "empty")
        argo.refresh("net")

        def comparison_error():
            return next((c["message"] for c in _state(argo).get("conditions") or []
                         if c["type"] == "ComparisonError" and "renders no objects" in c["message"]), None)

        error = eventually(comparison_error, what="the ComparisonError of the empty spec", timeout=120,
                           context=lambda: str(_state(argo)))
        assert "specs/spec.yaml:5:1: spec: renders no objects" in error and "--allow-empty" in error
        assert cluster.get(POOLS, "pool-a") is not None and not cluster.get(POOLS, "pool-a")["metadata"].get(
            "deletionTimestamp")

        # the last IP of pool-b is released: the controller lets it go
        node.remove(web, "pool-b")
        assert controller.cache.wait_for(lambda: not (controller.cache.raw(k8s_pools(), "pool-b") or {})
                                         .get("status", {}).get("allocatedIPCount"), 10)
        assert controller.run_pass().finalizers_released == ["SpiderIPPool pool-b"]
        eventually(lambda: cluster.get(POOLS, "pool-b") is None, what="pool-b deleted", timeout=60)


def k8s_pools():
    from agent import kube as k8s

    return k8s.POOLS
