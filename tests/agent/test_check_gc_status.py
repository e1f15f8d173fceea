"""CHECK against prevResult, CNI GC by valid attachments, STATUS readiness and exhaustion."""

from __future__ import annotations

import pytest

from agent import kube as k8s
from agent.client import netconf


def prev_result(*addresses: str) -> dict:
    return {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
            "ips": [{"address": a, "interface": 0} for a in addresses]}


def test_check_passes_when_prev_result_matches_the_records_and_fails_naming_the_difference(objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    agent.add(pod)
    meta = pod["metadata"]

    def check(*addresses):
        config = {**netconf("1.1.0"), "prevResult": prev_result(*addresses)}
        return agent.client.cni("CHECK", config=config, container_id="c-web", namespace="default", pod="web",
                                uid=meta["uid"])

    assert check("10.6.1.1/16").ok
    wrong = check("10.6.1.7/16")
    assert wrong.code == 100
    assert "10.6.1.7" in wrong.json["msg"] and "10.6.1.1" in wrong.json["msg"]


@pytest.mark.parametrize("vanished", ["finished", "deleted"])
def test_gc_releases_this_networks_attachments_the_runtime_no_longer_lists(objects, agents, kube, vanished):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    kept, gone, alive = (objects.pod(n, "worker1", restart_policy="Never") for n in ("kept", "gone", "alive"))
    agent = agents("worker1")
    for pod in (kept, gone, alive):
        agent.add(pod, container=f"sandbox-{pod['metadata']['name']}")
    if vanished == "finished":
        kube.replace_status(k8s.PODS, {**gone, "status": {"phase": "Failed"}})  # its DEL never came
    else:
        objects.delete_pod("gone", "default")  # force-deleted: the endpoint still knows the sandbox
    other_network = netconf("1.1.0", name="another-network")
    config = {**netconf("1.1.0"), "cni.dev/valid-attachments": [{"containerID": "sandbox-kept", "ifname": "eth0"}]}

    assert agent.client.cni("GC", config={**other_network, "cni.dev/valid-attachments": []}).ok
    assert len(objects.records("p4")) == 3  # another network's GC touches nothing of ours
    reply = agent.client.cni("GC", config=config)

    assert reply.ok, reply.stdout
    holders = {r["pod"] for r in objects.records("p4").values()}
    assert holders == {"default/kept", "default/alive"}  # a live pod keeps its IP (DEL semantics)
    assert objects.endpoint("gone") is None


def test_gc_without_an_attachment_list_is_refused(objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    agent = agents("worker1")
    assert agent.client.cni("GC", config=netconf("1.1.0")).code == 7


def test_status_is_ok_when_synced_and_50_when_every_pool_of_the_network_is_exhausted(objects, agents):
    objects.pool("tiny", ["10.6.1.1"])
    objects.pool("roomy", ["10.6.2.1-10.6.2.9"], default=True)
    agent = agents("worker1")
    tiny = netconf("1.1.0", default_ipv4_ippool=["tiny"])
    assert agent.client.cni("STATUS", config=tiny).ok
    assert agent.add(objects.pod("web", "worker1"), config=tiny).ips == ["10.6.1.1"]
    agent.agent.cache.wait_for(lambda: bool(agent.agent.cache.pool("tiny").records), 5)

    reply = agent.client.cni("STATUS", config=tiny)

    assert reply.code == 50 and "all IP addresses used out" in reply.json["msg"] and "tiny" in reply.json["msg"]
    assert agent.client.cni("STATUS", config=netconf("1.1.0")).ok  # the default pools still have room
