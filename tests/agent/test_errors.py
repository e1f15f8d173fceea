"""Refusals carry the spec's codes and name their cause; no refusal changes anything."""

from __future__ import annotations

import json

import pytest

from agent import kube as k8s
from agent.client import AgentClient, netconf
from agent.main import Agent
from agent.service import AgentSettings


@pytest.fixture
def setup(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    agent = agents("worker1")
    cluster.stats.reset()
    return agent


@pytest.mark.parametrize("annotations, code, words", [
    ({"ipam.spidernet.io/ippool": "{not json"}, 7, ["wrong input", "ipam.spidernet.io/ippool", "not valid JSON"]),
    ({"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["no-such-pool"]})}, 7, ["wrong input", "IPPool 'no-such-pool', which does not exist"]),
])
def test_a_bad_annotation_fails_with_code_7_naming_it_and_writes_nothing(setup, cluster, objects, annotations, code,
                                                                         words):
    reply = setup.add(objects.pod("web", "worker1", annotations=annotations))

    assert reply.code == code
    assert reply.json["msg"].startswith("spiderpool IP allocation error: ")
    assert all(w in reply.json["msg"] for w in words), reply.json["msg"]
    assert cluster.stats.writes == 0 and objects.records("p4") == {}


@pytest.mark.parametrize("mutate, code, words", [
    (lambda b: b["config"]["ipam"].update(unknown_key=1), 2, ["ipam.unknown_key"]),
    (lambda b: b["config"].pop("cniVersion"), 7, ["no cniVersion"]),
    (lambda b: b["config"].update(cniVersion="9.9.9"), 1, ["9.9.9"]),
    (lambda b: b.update(ifName=""), 4, ["CNI_IFNAME"]),
    (lambda b: b["cniArgs"].pop("K8S_POD_NAME"), 7, ["K8S_POD_NAME"]),
])
def test_a_malformed_request_is_refused_with_its_code_and_changes_nothing(setup, cluster, objects, mutate, code,
                                                                          words):
    pod = objects.pod("web", "worker1")
    body = {"command": "ADD", "containerID": "c1", "netns": "/var/run/netns/x", "ifName": "eth0",
            "path": "/opt/cni/bin",
            "cniArgs": {"K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": "web", "K8S_POD_UID": pod["metadata"]["uid"]},
            "config": netconf()}
    mutate(body)

    reply = setup.client.post(body)

    assert reply.code == code, reply.stdout
    assert all(w in reply.json["msg"] + reply.json.get("details", "") for w in words), reply.json
    assert cluster.stats.writes == 0 and objects.records("p4") == {}


def test_a_body_that_is_not_json_gets_a_decode_error(setup):
    status, data = setup.client.request("POST", "/v1/cni", None)
    assert status == 200 and json.loads(json.loads(data)["stdout"])["code"] == 6


def test_an_add_for_a_finished_pod_is_refused(setup, cluster, objects):
    pod = objects.pod("done", "worker1", restart_policy="OnFailure")  # Succeeded + Always would restart: alive
    pod["status"] = {"phase": "Succeeded"}
    client = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    client.replace_status(k8s.PODS, pod)
    setup.agent.cache.wait_view(k8s.PODS, ("default", "done"), lambda p: p.phase == "Succeeded", 5)

    reply = setup.add(pod)

    assert reply.code == 7 and "dead Pod default/done" in reply.json["msg"]
    assert objects.records("p4") == {}


@pytest.mark.testserver  # stops the API server under the agent
def test_when_the_api_is_unreachable_add_says_try_again_later_and_status_says_not_available(cluster, objects,
                                                                                           sock_dir):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    objects.node("worker1")
    pod = objects.pod("web", "worker1")
    path = str(sock_dir / "agent.sock")
    agent = Agent(AgentSettings(node="worker1", api_budget=0.5), path,
                  k8s.connect(kubeconfig=str(cluster.kubeconfig), request_timeout=1.0)).start()
    try:
        assert agent.wait_ready(10)
        cluster.stop()
        client = AgentClient(path)

        reply = client.cni("ADD", config=netconf(), container_id="c1", namespace="default", pod="web",
                           uid=pod["metadata"]["uid"])
        assert reply.code == 11, reply.stdout
        assert "spiderpool IP allocation error" in reply.json["msg"]
        assert agent.cache.wait_for(lambda: bool(agent.cache.problems()), 10)
        status = client.cni("STATUS", config=netconf("1.1.0"))
        assert status.code == 50 and "not ready" in status.json["msg"]
        assert client.get("/readyz")[0] == 503
    finally:
        agent.stop()
