"""Where a user moving from upstream Spiderpool would trip, through a real agent on the real API server:
pool names checked before anything is allocated (upstream's precheck), pod liveness as upstream's
`IsPodAlive`, pool status as upstream's controller expects it (nil when empty, counts, 5,000 records)."""

from __future__ import annotations

import json

import pytest

from agent import kube as k8s
from agent.client import netconf
from agent.ipgc import IpGc
from tests.conftest import eventually

from .conftest import POOLS


def test_a_typo_beside_a_good_pool_fails_the_add_naming_the_typo_and_allocates_nothing(objects, agents):
    objects.pool("good", ["10.6.1.1-10.6.1.9"])
    pod = objects.pod("web", "worker1", annotations={"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["typo", "good"]})})
    agent = agents("worker1")

    reply = agent.add(pod)

    assert reply.code == 7, reply.stdout
    assert reply.json["msg"] == ("spiderpool IP allocation error: wrong input: pod default/web (eth0): pod annotation "
                                 "ipam.spidernet.io/ippool names IPPool 'typo', which does not exist")
    assert objects.records("good") == {}
    assert objects.endpoint("web") is None


def test_an_unknown_default_pool_of_the_nad_fails_the_add_naming_it(objects, agents):
    objects.pool("good", ["10.6.1.1-10.6.1.9"])
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")

    reply = agent.add(pod, config=netconf(default_ipv4_ippool=["good", "good-v4"]))

    assert reply.code == 7, reply.stdout
    assert "CNI config default_ipv4_ippool names IPPool 'good-v4', which does not exist" in reply.json["msg"]
    assert objects.records("good") == {}


def test_a_pool_named_twice_fails_the_add(objects, agents):
    objects.pool("good", ["10.6.1.1-10.6.1.9"])
    pod = objects.pod("web", "worker1", annotations={"ipam.spidernet.io/ippools": json.dumps(
        [{"interface": "eth0", "ipv4": ["good", "good"]}])})
    agent = agents("worker1")

    reply = agent.add(pod)

    assert reply.code == 7
    assert "duplicate IPPool good specified for NIC eth0" in reply.json["msg"]


# -- pod liveness: upstream's IsPodAlive ---------------------------------------------------------


def _finish(kube, pod: dict, phase: str, reason: str | None = None) -> None:
    status = {"phase": phase, **({"reason": reason} if reason else {})}
    kube.replace_status(k8s.PODS, {**pod, "status": status})


@pytest.mark.parametrize("restart_policy, phase, reason, kept", [
    ("OnFailure", "Failed", None, True),
    ("Always", "Succeeded", None, True),
    ("Never", "Failed", None, False),
    ("OnFailure", "Succeeded", None, False),
    ("Always", "Failed", "Evicted", False),
], ids=["failed, restarts on failure: alive", "succeeded, always restarts: alive", "failed, never restarts: dead",
        "succeeded, restarts on failure only: dead", "evicted: dead"])
def test_a_finished_pod_keeps_its_ip_on_del_exactly_while_upstream_calls_it_alive(objects, agents, kube,
                                                                                 restart_policy, phase, reason, kept):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("job", "worker1", restart_policy=restart_policy)
    agent = agents("worker1")
    assert agent.add(pod).ok
    _finish(kube, pod, phase, reason)

    assert agent.delete(pod).ok

    assert (objects.records("p4") != {}) is kept


def test_the_ip_gc_frees_a_dead_pods_ip_and_keeps_a_restarting_pods(objects, agents, kube, cluster):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    restarts, done = (objects.pod("restarts", "worker1", restart_policy="OnFailure"),
                      objects.pod("done", "worker1", restart_policy="Never"))
    agent = agents("worker1")
    assert agent.add(restarts).ok and agent.add(done).ok
    _finish(kube, restarts, "Failed")
    _finish(kube, done, "Failed")
    collector = IpGc(k8s.connect(kubeconfig=str(cluster.kubeconfig)), grace=0)
    try:
        collector.cache.start()
        assert collector.cache.wait_synced(10)
        eventually(lambda: collector.cache.view(k8s.PODS, ("default", "done")).phase == "Failed")
        eventually(lambda: collector.cache.view(k8s.PODS, ("default", "restarts")).phase == "Failed")

        released = collector.run_pass().released
    finally:
        collector.cache.stop()

    assert [leak.record.pod for leak in released] == ["default/done"]
    assert [r["pod"] for r in objects.records("p4").values()] == ["default/restarts"]


# -- pool status: nil when empty, counts right, bounded ------------------------------------------


def test_a_pool_emptied_by_del_has_no_allocated_ips_field(objects, agents, cluster):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    assert agent.add(pod).ok
    objects.delete_pod("web")

    assert agent.delete(pod).ok

    status = cluster.get(POOLS, "p4")["status"]
    assert "allocatedIPs" not in status  # upstream's controller keeps its finalizer on "{}" for ever
    assert (status["allocatedIPCount"], status["totalIPCount"]) == (0, 9)


def test_a_pool_at_the_record_limit_refuses_with_a_clear_error_and_the_next_pool_serves(objects, agents, kube):
    big = objects.pool("big", ["10.6.0.1-10.6.31.254"])
    records = {f"10.6.{i // 250}.{i % 250 + 1}": {"pod": f"default/old-{i}", "podUid": f"u{i}"} for i in range(5000)}
    kube.replace_status(k8s.POOLS, {**big, "status": {"allocatedIPs": json.dumps(records, separators=(",", ":")),
                                                      "allocatedIPCount": 5000, "totalIPCount": 8188}})
    objects.pool("spare", ["10.6.40.1-10.6.40.9"])
    only_big = objects.pod("a", "worker1", annotations={"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["big"]})})
    both = objects.pod("b", "worker1", annotations={"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["big", "spare"]})})
    agent = agents("worker1")

    refused = agent.add(only_big)
    served = agent.add(both)

    assert refused.code == 11, refused.stdout
    assert ("big: holds 5000 allocation records, the most one pool may hold (5000: status.allocatedIPs is one JSON "
            "string in etcd); add another pool for these pods") in refused.json["msg"]
    assert served.ok and served.ips == ["10.6.40.1"]
    assert len(objects.records("big")) == 5000


def test_the_controller_fills_blank_count_columns_and_drops_an_empty_allocated_ips(objects, kube, cluster):
    """Pools and a subnet made by hand (kubectl, another tool): no agent commit has written their counts."""
    objects.pool("blank", ["10.6.1.1-10.6.1.9"])
    old = objects.pool("old-writer", ["10.6.2.1-10.6.2.4"])
    kube.replace_status(k8s.POOLS, {**old, "status": {"allocatedIPs": "{}", "allocatedIPCount": 0}})
    cluster.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderSubnet",
                    "metadata": {"name": "s6"}, "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.1.1-10.6.3.254"]}})
    collector = IpGc(k8s.connect(kubeconfig=str(cluster.kubeconfig)), grace=0)
    try:
        collector.cache.start()
        assert collector.cache.wait_synced(10)
        repaired = collector.run_pass().counts_repaired
        assert collector.run_pass().counts_repaired == []  # right now: nothing more to write
    finally:
        collector.cache.stop()

    assert sorted(repaired) == ["SpiderIPPool blank", "SpiderIPPool old-writer", "SpiderSubnet s6"]
    assert cluster.get(POOLS, "blank")["status"] == {"allocatedIPCount": 0, "totalIPCount": 9}
    assert cluster.get(POOLS, "old-writer")["status"] == {"allocatedIPCount": 0, "totalIPCount": 4}
    subnet = cluster.get("spidersubnets.spiderpool.spidernet.io", "s6")["status"]
    assert (subnet["allocatedIPCount"], subnet["totalIPCount"]) == (9 + 4, 255 + 256 + 255)
