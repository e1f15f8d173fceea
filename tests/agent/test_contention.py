"""Agents on different nodes racing for one pool never hand out an IP twice; a full pool says why."""

from __future__ import annotations

import threading
from collections import Counter

from .conftest import POOLS


def test_two_agents_racing_for_one_small_pool_never_duplicate_an_ip(cluster, objects, agents):
    objects.pool("small", ["10.6.1.1-10.6.1.12"], default=True)
    nodes = ("node-a", "node-b")
    pods = [objects.pod(f"web-{i:02d}", nodes[i % 2]) for i in range(16)]  # 16 pods, 12 IPs
    running = {node: agents(node) for node in nodes}
    replies = {}

    def add(pod):
        replies[pod["metadata"]["name"]] = running[pod["spec"]["nodeName"]].add(pod)

    threads = [threading.Thread(target=add, args=(p,)) for p in pods]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    given = [r.ips[0] for r in replies.values() if r.ok]
    assert len(given) == 12 and len(set(given)) == 12
    assert all(r.code == 11 and "all IP addresses used out" in r.json["msg"] for r in replies.values() if not r.ok)
    records = objects.records("small")
    assert sorted(records) == sorted(given)
    assert len(Counter(r["podUid"] for r in records.values())) == 12
    assert cluster.get(POOLS, "small")["status"]["allocatedIPCount"] == 12


def test_an_exhausted_pool_fails_the_add_naming_every_candidate_and_changes_nothing(cluster, objects, agents):
    objects.pool("first", ["10.6.1.1"], default=True)
    objects.pool("second", ["10.6.2.1"], default=True)
    agent = agents("worker1")
    assert agent.add(objects.pod("a", "worker1")).ok
    assert agent.add(objects.pod("b", "worker1")).ok
    writes = cluster.stats.writes

    reply = agent.add(objects.pod("c", "worker1"))

    assert reply.code == 11
    message = reply.json["msg"]
    assert message.startswith("spiderpool IP allocation error: all IP addresses used out")
    assert "first" in message and "second" in message and "default/c" in message
    assert cluster.stats.writes == writes
    assert objects.endpoint("c") is None
