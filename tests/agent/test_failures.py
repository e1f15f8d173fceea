"""Conflicts, failed writes and crashes between writes: nothing lost, nothing duplicated, nothing left behind."""

from __future__ import annotations

import json
import threading

import pytest

from agent import kube as k8s

from .conftest import POOLS


def pool_writes(cluster) -> list:
    return [r for r in cluster.stats.write_log() if r.resource.startswith("spiderippools.")]


@pytest.mark.testserver
def test_conflicting_pool_writes_are_decided_again_and_counted(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    cluster.faults.fail_next(3, kind="conflict", verbs={"update"})

    reply = agent.add(pod)

    assert reply.ips == ["10.6.1.1"]
    assert [r.code for r in pool_writes(cluster)] == [409, 409, 409, 200]
    assert 'spiderpool_ipam_allocation_update_ippool_conflict_counts_total{pool="p4"} 3.0' in \
        agent.client.get("/metrics")[1].splitlines()


@pytest.mark.testserver
def test_concurrent_adds_on_one_node_share_pool_writes(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.99"], default=True)
    pods = [objects.pod(f"web-{i:02d}", "worker1") for i in range(30)]
    agent = agents("worker1")
    # The first pool update is slow, as on a busy API server: everything arriving meanwhile
    # must queue behind it and go out together (without this the test depends on scheduling).
    cluster.faults.fail_next(1, kind="slow", seconds=1.0, verbs={"update"})
    replies = {}
    together = threading.Barrier(len(pods))

    def add(pod):
        together.wait()
        replies[pod["metadata"]["name"]] = agent.add(pod)

    threads = [threading.Thread(target=add, args=(p,)) for p in pods]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len({r.ips[0] for r in replies.values()}) == 30
    assert len(pool_writes(cluster)) <= 10  # status updates carried several allocations each


@pytest.mark.testserver
def test_a_failed_endpoint_write_rolls_the_pool_record_back_and_says_try_again(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1", api_budget=0.3)
    cluster.faults.configure(error_rate=1.0, verbs={"create"})  # every create answers 500

    reply = agent.add(pod)

    assert reply.code == 11 and "cannot reach the Kubernetes API" in reply.json["msg"]
    assert objects.records("p4") == {} and objects.endpoint("web") is None
    cluster.faults.reset()
    assert agent.add(pod).ips == ["10.6.1.1"]


def test_an_add_retried_after_a_crash_between_the_pool_and_endpoint_writes_gets_the_same_ip(cluster, objects,
                                                                                              agents, kube):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    uid = pod["metadata"]["uid"]
    crashed = kube.get(k8s.POOLS, "p4")  # what a killed agent had committed: the record, no endpoint
    crashed["status"] = {"allocatedIPs": json.dumps({"10.6.1.5": {"pod": "default/web", "podUid": uid, "nic": "eth0"}}),
                         "allocatedIPCount": 1, "totalIPCount": 9}
    kube.replace_status(k8s.POOLS, crashed)
    agent = agents("worker1")

    assert agent.add(pod).ips == ["10.6.1.5"]
    assert objects.endpoint("web")["status"]["current"]["ips"][0]["ipv4"] == "10.6.1.5/16"
    assert cluster.get(POOLS, "p4")["status"]["allocatedIPCount"] == 1
