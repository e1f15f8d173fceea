"""The agent enters only the node's network namespace, or the caller's: a request naming another is refused
and nothing is created there (issue 8, item 10).

The victim is a namespace with a process in it; the "pod" one has net1 with the address of prevResult.
Requests go through a real agent server socket (SO_PEERCRED gives the caller's pid), as a hostile
client on the node would send them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from agent.client import AgentClient, CniReply
from agent.coordinator import SpiderCoordinators
from agent.server import AgentServer, Routes
from coordinator import service as coordinator_service
from coordinator.service import CoordinatorService

from .requirements import require_namespaces

SYNCED = {"metadata": {"name": "default"}, "spec": {"mode": "underlay", "hostRuleTable": 500},
          "status": {"overlayPodCIDR": ["10.244.0.0/16"], "serviceCIDR": ["10.96.0.0/12"]}}
PREV = {"cniVersion": "1.0.0", "interfaces": [{"name": "net1"}],
        "ips": [{"address": "10.6.0.50/16", "gateway": "10.6.0.1", "interface": 0}], "dns": {}}


class Kube:
    def get(self, kind, name, namespace=None):
        return SYNCED


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10).stdout


@pytest.fixture
def namespaces():
    require_namespaces()
    tag = uuid.uuid4().hex[:6]
    victim, pod = f"victim-{tag}", f"pod-{tag}"
    for name in (victim, pod):
        ip("netns", "add", name)
    ip("-n", pod, "link", "add", "net1", "type", "veth", "peer", "name", "peer1")
    ip("-n", pod, "addr", "add", "10.6.0.50/16", "dev", "net1")
    ip("-n", pod, "link", "set", "net1", "up")
    sleeper = subprocess.Popen(["ip", "netns", "exec", victim, "sleep", "120"])
    try:
        yield victim, pod, sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()
        for name in (victim, pod):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def kernel_state(netns: str) -> tuple[str, str, str]:
    return ip("-n", netns, "-o", "link"), ip("-n", netns, "rule"), ip("-n", netns, "route", "show", "table", "all")


@pytest.fixture
def client(sock_dir):
    svc = CoordinatorService(spider_coordinator=SpiderCoordinators(Kube()), pod_of=lambda body: None)
    path = str(sock_dir / "agent.sock")
    server = AgentServer(path, Routes(cni=lambda body, peer: {}, ready=lambda: [], metrics=lambda: "",
                                      coordinator=lambda b, peer: svc.handle(b, caller_pid=peer.pid).to_body())).start()
    yield AgentClient(path, timeout=30)
    server.stop()


@pytest.fixture
def sock_dir():
    path = Path(tempfile.mkdtemp(prefix="spn-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def request(command: str, pod: str, host_netns: str) -> dict:
    return {"command": command, "containerID": "c0ffee42", "netns": f"/var/run/netns/{pod}", "ifName": "net1",
            "cniArgs": {}, "path": "/opt/cni/bin", "hostNetns": host_netns,
            "config": {"cniVersion": "1.0.0", "name": "macvlan-ens192", "type": "coordinator", "prevResult": PREV}}


@pytest.mark.parametrize("command", ["ADD", "DEL"])
def test_a_request_naming_another_processs_namespace_is_refused_and_leaves_it_untouched(namespaces, client,
                                                                                        command):
    victim, pod, victim_pid = namespaces
    host_netns = f"/proc/{victim_pid}/ns/net"
    before = kernel_state(victim)

    status, data = client.request("POST", "/v1/coordinator", request(command, pod, host_netns))
    reply = CniReply(**{"exit_code": json.loads(data)["exitCode"], "stdout": json.loads(data)["stdout"]})

    assert reply.exit_code == 1 and reply.json["code"] == 4
    assert reply.json["msg"] == (f"coordinator: hostNetns {host_netns} is neither the node's network namespace "
                                 "nor the caller's; refusing to touch it")
    assert kernel_state(victim) == before


def test_the_callers_own_namespace_and_the_nodes_are_accepted(namespaces):
    victim, _, victim_pid = namespaces
    own = f"/proc/{os.getpid()}/ns/net"
    assert coordinator_service._host_netns({"hostNetns": own}, 0) == own  # the test runs in the node's namespace
    foreign = f"/proc/{victim_pid}/ns/net"
    assert coordinator_service._host_netns({"hostNetns": foreign}, victim_pid) == foreign  # the caller's own
