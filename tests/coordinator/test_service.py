"""The agent's /v1/coordinator answers, where no kernel is needed: errors, pass-through, DEL without a netns."""

from __future__ import annotations

import json

import pytest

from cni.agent.server import CoordinatorBody
from coordinator.service import CoordinatorService

SYNCED = {"metadata": {"name": "default"}, "spec": {"mode": "auto"},
          "status": {"overlayPodCIDR": ["10.244.0.0/16"], "serviceCIDR": ["10.96.0.0/12"]}}
PREV = {"cniVersion": "0.4.0", "interfaces": [{"name": "net1"}],
        "ips": [{"version": "4", "address": "10.6.0.50/16", "gateway": "10.6.0.1", "interface": 0}], "dns": {}}


class Kube:
    def __init__(self, coordinator):
        self.coordinator, self.gets = coordinator, 0

    def get(self, kind, name, namespace=None):
        self.gets += 1
        return self.coordinator


def body(command="ADD", **conf):
    return {"command": command, "containerID": "c0ffee", "netns": "/var/run/netns/nope", "ifName": "net1",
            "cniArgs": {}, "config": {"cniVersion": "0.4.0", "name": "n", "type": "coordinator", **conf}}


def service(coordinator=SYNCED):
    return CoordinatorService(kube=Kube(coordinator), pod_of=lambda b: None)


def test_disabled_answers_prev_result_unchanged_in_the_confs_version():
    reply = service().handle(body(mode="disabled", prevResult=PREV))
    assert reply.exit_code == 0 and json.loads(reply.stdout) == PREV


def test_unknown_cluster_cidrs_fail_add_with_a_clear_error():
    reply = service({"spec": {"mode": "auto"}}).handle(body(prevResult=PREV))
    error = json.loads(reply.stdout)
    assert reply.exit_code == 1 and error["code"] == 7 and "CIDRs are unknown" in error["msg"]


def test_add_without_prev_result_says_the_coordinator_must_be_chained():
    error = json.loads(service().handle(body()).stdout)
    assert error["code"] == 7 and "chained" in error["msg"]


def test_add_into_a_missing_netns_is_an_environment_error():
    error = json.loads(service().handle(body(prevResult=PREV)).stdout)
    assert error["code"] == 4 and "does not exist" in error["msg"]


@pytest.mark.parametrize("command", ["CHECK", "GC", "STATUS"])
def test_the_other_commands_succeed_quietly(command):
    assert service().handle(body(command, prevResult=PREV)).exit_code == 0


def test_spider_coordinator_is_fetched_once_per_ttl():
    svc = service()
    for _ in range(3):
        svc.handle(body(mode="disabled", prevResult=PREV))
    assert svc.kube.gets == 1


def test_the_agent_server_marks_coordinator_bodies_apart_from_cni_ones():
    assert isinstance(CoordinatorBody({"command": "ADD"}), dict)


def test_only_a_process_namespace_is_accepted_as_the_host_side():
    error = json.loads(service().handle({**body(prevResult=PREV), "hostNetns": "/etc/passwd"}).stdout)
    assert error["code"] == 4 and "hostNetns" in error["msg"]
