"""`spiderpool controller` gives every pool its status counts (totalIPCount, allocatedIPCount) as
upstream's controller does, before anyone allocates from it, and keeps them right; never over an
allocation it has not seen (the write is guarded by the resourceVersion it counted)."""

from __future__ import annotations

import json

import pytest

from agent import kube as k8s
from cni.allocation import status_repair
from tests.conftest import running_ipgc

POOLS = "spiderippools.spiderpool.spidernet.io"


@pytest.fixture
def gc(cluster):
    with running_ipgc(cluster) as collector:
        yield collector


def status(cluster, name):
    return cluster.get(POOLS, name).get("status") or {}


def test_a_new_pool_gets_its_counts_and_a_steady_one_no_write(objects, gc, cluster):
    objects.pool("p4", ["10.6.1.1-10.6.1.9", "10.6.2.1"], excludeIPs=["10.6.1.5"])
    assert gc.cache.wait_for(lambda: gc.cache.raw(k8s.POOLS, "p4") is not None, 10)
    assert "status" not in cluster.get(POOLS, "p4")
    assert gc.run_pass().counts_repaired == ["SpiderIPPool p4"]
    assert status(cluster, "p4") == {"totalIPCount": 9, "allocatedIPCount": 0}
    assert gc.cache.wait_for(lambda: (gc.cache.raw(k8s.POOLS, "p4").get("status") or {}).get("totalIPCount") == 9, 10)
    assert gc.run_pass().counts_repaired == []


def test_counts_follow_a_changed_ips_and_keep_the_allocations(objects, agents, gc, cluster):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    assert agents("worker1").add(pod).ok
    cluster.patch(POOLS, "p4", {"spec": {"ips": ["10.6.1.1-10.6.1.19"]}})
    assert gc.cache.wait_for(lambda: gc.cache.raw(k8s.POOLS, "p4")["spec"]["ips"] == ["10.6.1.1-10.6.1.19"], 10)
    assert gc.cache.wait_for(lambda: (gc.cache.raw(k8s.POOLS, "p4").get("status") or {}).get("allocatedIPCount") == 1, 10)
    assert gc.run_pass().counts_repaired == ["SpiderIPPool p4"]
    after = status(cluster, "p4")
    assert (after["totalIPCount"], after["allocatedIPCount"]) == (19, 1)
    assert list(json.loads(after["allocatedIPs"])) == ["10.6.1.1"]


def test_a_pool_with_counts_from_an_allocation_it_has_not_seen_is_left_alone():
    obj = {"metadata": {"name": "p", "resourceVersion": "7"},
           "spec": {"ipVersion": 4, "subnet": "10.6.0.0/16", "ips": ["10.6.1.1-10.6.1.2"]},
           "status": {"allocatedIPs": json.dumps({"10.6.1.1": {"pod": "a/b", "podUid": "u"}}),
                      "allocatedIPCount": 1, "totalIPCount": 2}}
    assert status_repair("SpiderIPPool", obj) is None
