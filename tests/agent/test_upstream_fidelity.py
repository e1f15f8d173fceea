"""Where a user moving from upstream Spiderpool would trip, through a real agent on the real API server:
pool names checked before anything is allocated (upstream's precheck)."""

from __future__ import annotations

import json

from agent.client import netconf


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
