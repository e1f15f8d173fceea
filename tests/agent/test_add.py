"""CNI ADD through a real agent: the right pool, the record and the endpoint committed, idempotent."""

from __future__ import annotations

import json

from agent.client import netconf
from agent.endpoint import ATTACHMENTS

from .conftest import POOLS

ANNOTATED = {"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["chosen"]})}


def test_add_returns_an_ip_of_the_annotated_pool_and_commits_the_record_and_the_endpoint(objects, agents):
    objects.pool("default-pool", ["10.6.1.1-10.6.1.9"], default=True)
    objects.pool("chosen", ["10.6.2.10-10.6.2.19"], routes=[{"dst": "10.7.0.0/16", "gw": "10.6.0.1"}])
    pod = objects.pod("web", "worker1", annotations=ANNOTATED)
    agent = agents("worker1")

    reply = agent.add(pod, container="4f1c0ffee")

    assert reply.ok, reply.stdout
    assert reply.json == {"cniVersion": "1.0.0", "ips": [{"address": "10.6.2.10/16", "gateway": "10.6.0.1"}],
                          "routes": [{"dst": "0.0.0.0/0", "gw": "10.6.0.1"}, {"dst": "10.7.0.0/16", "gw": "10.6.0.1"}],
                          "dns": {}}
    record = objects.records("chosen")["10.6.2.10"]
    assert (record["pod"], record["podUid"], record["nic"]) == ("default/web", pod["metadata"]["uid"], "eth0")
    assert objects.records("default-pool") == {}
    endpoint = objects.endpoint("web")
    assert endpoint["status"]["current"] == {
        "uid": pod["metadata"]["uid"], "node": "worker1",
        "ips": [{"interface": "eth0", "ipv4": "10.6.2.10/16", "ipv4Pool": "chosen", "ipv4Gateway": "10.6.0.1",
                 "vlan": 0, "cleanGateway": False, "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.1"}]}]}
    assert "ownerReferences" not in endpoint["metadata"]  # it outlives a force-deleted pod (see agent.endpoint)
    assert json.loads(endpoint["metadata"]["annotations"][ATTACHMENTS]) == {
        "eth0": {"containerID": "4f1c0ffee", "network": "macvlan-ens192"}}


def test_a_repeated_add_for_the_same_uid_and_nic_returns_the_same_ip_without_writing(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    first = agent.add(pod)
    writes = cluster.stats.writes

    again = agent.add(pod)

    assert again.ok and again.ips == first.ips == ["10.6.1.1"]
    assert cluster.stats.writes == writes
    assert list(objects.records("p4")) == ["10.6.1.1"]


def test_a_retried_add_from_a_new_sandbox_gets_the_same_ip_and_the_endpoint_learns_the_container(objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    first = agent.add(pod, container="sandbox1")

    again = agent.add(pod, container="sandbox2")

    assert again.ips == first.ips
    attachments = json.loads(objects.endpoint("web")["metadata"]["annotations"][ATTACHMENTS])
    assert attachments["eth0"]["containerID"] == "sandbox2"


def test_each_pod_gets_its_own_address_and_the_result_speaks_the_requested_cni_version(objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    agent = agents("worker1")
    replies = [agent.add(objects.pod(f"web-{i}", "worker1"), config=netconf("0.3.1")) for i in range(3)]

    assert [r.ips for r in replies] == [["10.6.1.1"], ["10.6.1.2"], ["10.6.1.3"]]
    assert replies[0].json["cniVersion"] == "0.3.1"
    assert replies[0].json["ips"][0]["version"] == "4"


def test_a_dual_stack_pod_gets_one_address_of_each_family_in_one_add(objects, agents):
    objects.pool("v4", ["10.6.1.1-10.6.1.9"], default=True)
    objects.pool("v6", ["fd00:10:6::10-fd00:10:6::19"], subnet="fd00:10:6::/64", gateway="fd00:10:6::1", default=True)
    pod = objects.pod("web", "worker1")

    reply = agents("worker1").add(pod)

    assert [ip["address"] for ip in reply.json["ips"]] == ["10.6.1.1/16", "fd00:10:6::10/64"]
    assert list(objects.records("v4")) == ["10.6.1.1"] and list(objects.records("v6")) == ["fd00:10:6::10"]
    (nic,) = objects.endpoint("web")["status"]["current"]["ips"]
    assert (nic["ipv4"], nic["ipv6"]) == ("10.6.1.1/16", "fd00:10:6::10/64")


def test_a_new_pod_the_watch_has_not_brought_yet_is_read_from_the_api(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    agent = agents("worker1")
    pod = objects.pod("late", "worker1")  # created after the agent listed

    assert agent.add(pod).ips == ["10.6.1.1"]
    assert cluster.get(POOLS, "p4")["status"]["allocatedIPCount"] == 1


def test_a_slash_64_pool_gets_its_allocation_committed_with_the_total_count_capped_at_int64(cluster, objects, agents):
    """2^64 - 2 usable addresses: written uncapped, the API server refuses the status (totalIPCount is int64)."""
    objects.pool("v6-64", ["fd00:10:6::2-fd00:10:6::ffff:ffff:ffff:ffff"], subnet="fd00:10:6::/64",
                 gateway="fd00:10:6::1", default=True)
    pod = objects.pod("web", "worker1")

    reply = agents("worker1").add(pod)

    assert reply.ok, reply.stdout
    assert reply.ips == ["fd00:10:6::2"] and list(objects.records("v6-64")) == ["fd00:10:6::2"]
    status = cluster.get(POOLS, "v6-64")["status"]
    assert (status["allocatedIPCount"], status["totalIPCount"]) == (1, 2 ** 63 - 1)
