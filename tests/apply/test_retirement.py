"""Pools and subnets outlive their allocations, whoever deletes them (issue 8, item 1):
the ip-release finalizer holds them, the IP GC controller lets them go once empty,
and apply leaves a spec object that someone is deleting alone."""

from __future__ import annotations

import json

import pytest

from agent import kube as k8s
from cni.allocation.retirement import FINALIZER
from tests.conftest import EXAMPLES, running_ipgc
from tests.kubeapi.fixtures import api_client_for

from .test_apply import allocate

POOLS = "spiderippools.spiderpool.spidernet.io"
SUBNETS = "spidersubnets.spiderpool.spidernet.io"
EXAMPLE = EXAMPLES / "cross-zone-pools"


@pytest.fixture
def gc(cluster):
    with running_ipgc(cluster) as collector:
        yield collector


def settled(gc, predicate, timeout=5.0):
    """Let the controller's cache catch up with the last writes, then pass once."""
    gc.cache.wait_for(predicate, timeout)
    return gc.run_pass()


def test_applied_pools_and_subnets_carry_the_ip_release_finalizer(cli, cluster):
    assert cli("apply", EXAMPLE)[0] == 0
    for resource in (POOLS, SUBNETS):
        for obj in cluster.list(resource):
            assert FINALIZER in obj["metadata"]["finalizers"], obj["metadata"]["name"]


def test_a_busy_pool_deleted_by_hand_stays_until_the_controller_finds_it_empty(cli, cluster, gc):
    assert cli("apply", EXAMPLE)[0] == 0
    api = api_client_for(cluster)
    allocate(api, "test-ippool-7", ["10.7.168.61"])
    kube = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    kube.delete(k8s.POOLS, "test-ippool-7")  # kubectl delete, or another tool's prune
    assert cluster.get(POOLS, "test-ippool-7")["metadata"]["deletionTimestamp"]

    busy = settled(gc, lambda: gc.cache.raw(k8s.POOLS, "test-ippool-7")["metadata"].get("deletionTimestamp"))
    assert busy.finalizers_released == [] and cluster.get(POOLS, "test-ippool-7") is not None

    allocate(api, "test-ippool-7", [])
    empty = settled(gc, lambda: json.loads(
        (gc.cache.raw(k8s.POOLS, "test-ippool-7").get("status") or {}).get("allocatedIPs") or "{}") == {})
    assert empty.finalizers_released == ["SpiderIPPool test-ippool-7"]
    assert cluster.get(POOLS, "test-ippool-7") is None
    api.close()
    kube.close()


def test_apply_reports_a_spec_pool_being_deleted_and_writes_nothing_to_it(cli, cluster):
    assert cli("apply", EXAMPLE)[0] == 0
    api = api_client_for(cluster)
    allocate(api, "test-ippool-7", ["10.7.168.61"])
    api.close()
    kube = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    kube.delete(k8s.POOLS, "test-ippool-7")
    kube.close()
    cluster.stats.reset()
    code, out, err = cli("apply", EXAMPLE)
    assert code == 0, err
    assert "- SpiderIPPool test-ippool-7 terminating: being deleted (by someone else)" in out
    assert not [r for r in cluster.stats.write_log() if "spiderippools" in r.path]
    code, out, _ = cli("status", "-o", "json")
    [item] = json.loads(out)["items"]
    assert item["ready"] == "False" and "being deleted" in json.dumps(item)


def test_a_subnet_with_a_busy_pool_is_drained_with_it_then_both_go(cli, cluster, write_spec, gc):
    assert cli("apply", EXAMPLE)[0] == 0
    api = api_client_for(cluster)
    allocate(api, "test-ippool-7", ["10.7.168.61"])
    empty = write_spec("spec:\n  cluster: {ipVersions: [4]}\n  reservedIPs:\n    - {name: routers, ips: [10.6.168.69]}\n",
                       name="cross-zone")
    code, out, err = cli("apply", empty)
    assert code == 0, err
    assert "SpiderIPPool test-ippool-7 draining: 1 IP(s) still allocated" in out
    assert "SpiderSubnet subnet-7 draining: 1 SpiderIPPool(s) still in subnet 10.7.0.0/16: test-ippool-7" in out
    assert "SpiderSubnet subnet-6 deleted" in out and cluster.get(SUBNETS, "subnet-6") is None
    allocate(api, "test-ippool-7", [])
    api.close()
    code, out, _ = cli("apply", empty)
    assert code == 0 and "SpiderIPPool test-ippool-7 deleted" in out and "SpiderSubnet subnet-7 deleted" in out
    assert cluster.get(POOLS, "test-ippool-7") is None and cluster.get(SUBNETS, "subnet-7") is None


def test_a_drained_pool_that_comes_back_into_the_spec_is_enabled_again_without_self_heal(cli, cluster, write_spec):
    """Prune disables a busy pool; when the spec takes it back unchanged, that is a spec change to
    apply (enable it), not drift that only --self-heal would revert."""
    assert cli("apply", EXAMPLE)[0] == 0
    api = api_client_for(cluster)
    allocate(api, "test-ippool-7", ["10.7.168.61"])
    api.close()
    without = write_spec("spec:\n  cluster: {ipVersions: [4]}\n  reservedIPs:\n    - {name: routers, ips: [10.6.168.69]}\n",
                         name="cross-zone")
    code, out, err = cli("apply", without)
    assert code == 0 and "SpiderIPPool test-ippool-7 draining" in out, out + err
    assert cluster.get(POOLS, "test-ippool-7")["spec"]["disable"] is True

    code, out, err = cli("plan", EXAMPLE)
    assert "DRIFTED" not in out and "drift" not in out.lower(), out
    code, out, err = cli("apply", EXAMPLE)
    assert code == 0, out + err
    assert not cluster.get(POOLS, "test-ippool-7")["spec"].get("disable"), out
