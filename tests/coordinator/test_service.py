"""The agent's /v1/coordinator answers, where no kernel is needed: errors, pass-through, DEL without a netns."""

from __future__ import annotations

import json

import pytest

from agent.coordinator import SpiderCoordinators
from agent.server import Routes
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
    return CoordinatorService(spider_coordinator=SpiderCoordinators(Kube(coordinator)), pod_of=lambda b: None)


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
    assert svc.spider_coordinator.kube.gets == 1


def test_the_agent_server_routes_coordinator_bodies_apart_from_cni_ones():
    cni, coordinator = (lambda body, peer: {"exitCode": 0, "stdout": ""}), (lambda body, peer: {"exitCode": 0, "stdout": ""})
    routes = Routes(cni=cni, coordinator=coordinator, ready=lambda: [], metrics=lambda: "")
    assert routes.post("/v1/coordinator") is coordinator and routes.post("/v1/cni") is cni


def test_only_a_process_namespace_is_accepted_as_the_host_side():
    error = json.loads(service().handle({**body(prevResult=PREV), "hostNetns": "/etc/passwd"}).stdout)
    assert error["code"] == 4 and "hostNetns" in error["msg"]


# -- detectIPConflict / detectGateway / announce, the probes stubbed --------------------------------

class Probes:
    """coordinator.probes' surface, answering as told and recording the calls."""
    ProbeError = Exception

    def __init__(self, *, conflict=None, gateway_up=True):
        self.conflict, self.gateway_up, self.calls = conflict, gateway_up, []

    def probe_ip_conflict(self, netns, ifname, ip, *, timeout):
        self.calls.append(("conflict", netns, ifname, ip, timeout))
        return self.conflict

    def probe_gateway(self, netns, ifname, gateway, *, timeout):
        self.calls.append(("gateway", netns, ifname, gateway, timeout))
        return self.gateway_up

    def announce(self, netns, ifname, ip):
        self.calls.append(("announce", netns, ifname, ip))


class Reporter:
    def __init__(self):
        self.findings = []

    def report_finding(self, finding_type, **fields):
        self.findings.append((finding_type, fields))


def probed(monkeypatch, probes, *, owner_kind="Deployment"):
    """A service whose kernel side is a no-op, with a pod owned by `owner_kind`."""
    from contextlib import nullcontext

    import coordinator.service as module
    from cni.allocation import PodInfo

    monkeypatch.setattr(module.kernel, "open_iproute", lambda netns: nullcontext())
    monkeypatch.setattr(module.kernel, "netlink", lambda netns: nullcontext())
    monkeypatch.setattr(module.kernel, "read_pod", lambda sock: None)
    monkeypatch.setattr(module.kernel, "read_host", lambda sock, ips: None)
    monkeypatch.setattr(module.kernel, "apply", lambda ops, **kw: None)
    monkeypatch.setattr(module, "plan_add", lambda cfg, **kw: type("Plan", (), {"ops": []})())
    pod = PodInfo("default", "web-0", "uid-1", owner_kind=owner_kind, owner_name="web")
    released, reporter = [], Reporter()
    svc = CoordinatorService(spider_coordinator=SpiderCoordinators(Kube(SYNCED)), pod_of=lambda b: pod, release=lambda p, nic: released.append((p, nic)),
                             nodereport=reporter, probes=probes)
    return svc, released, reporter


def pod_body(**conf):
    b = body(prevResult=PREV, **conf)
    b["cniArgs"] = {"K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": "web-0", "K8S_POD_UID": "uid-1"}
    return b


def test_a_conflict_fails_add_naming_ip_and_mac_and_releases_a_deployment_pods_ip(monkeypatch):
    probes = Probes(conflict="aa:bb:cc:dd:ee:ff")
    svc, released, reporter = probed(monkeypatch, probes)
    reply = svc.handle(pod_body(detectIPConflict=True))
    error = json.loads(reply.stdout)
    assert reply.exit_code == 1 and error["code"] == 100
    assert "10.6.0.50" in error["msg"] and "aa:bb:cc:dd:ee:ff" in error["msg"] and "released" in error["msg"]
    assert [(p.name, nic) for p, nic in released] == [("web-0", "net1")]
    (kind, netns, nic, ip, timeout), = probes.calls  # nothing else: no gateway probe, no announcement
    assert (kind, netns, nic, ip) == ("conflict", "/var/run/netns/nope", "net1", "10.6.0.50") and timeout <= 1.0
    assert [t for t, _ in reporter.findings] == ["IPConflict"]
    assert reporter.findings[0][1]["name"] == "web-0" and "aa:bb:cc:dd:ee:ff" in reporter.findings[0][1]["message"]


def test_a_statefulset_pod_keeps_its_conflicting_ip(monkeypatch):
    svc, released, _ = probed(monkeypatch, Probes(conflict="aa:bb:cc:dd:ee:ff"), owner_kind="StatefulSet")
    error = json.loads(svc.handle(pod_body(detectIPConflict=True)).stdout)
    assert "aa:bb:cc:dd:ee:ff" in error["msg"] and "kept" in error["msg"] and "StatefulSet" in error["msg"]
    assert released == []


def test_an_unreachable_gateway_fails_add_naming_gateway_and_nic(monkeypatch):
    probes = Probes(gateway_up=False)
    svc, released, reporter = probed(monkeypatch, probes)
    error = json.loads(svc.handle(pod_body(detectGateway=True)).stdout)
    assert error["code"] == 100 and "gateway 10.6.0.1" in error["msg"] and "net1" in error["msg"]
    assert [c[0] for c in probes.calls] == ["gateway"] and released == []
    assert [t for t, _ in reporter.findings] == ["GatewayUnreachable"]


def test_a_clean_add_probes_then_announces_each_address(monkeypatch):
    probes = Probes()
    svc, released, reporter = probed(monkeypatch, probes)
    reply = svc.handle(pod_body(detectIPConflict=True, detectGateway=True))
    assert reply.exit_code == 0 and json.loads(reply.stdout) == PREV
    assert [c[0] for c in probes.calls] == ["conflict", "gateway", "announce"]
    assert probes.calls[-1] == ("announce", "/var/run/netns/nope", "net1", "10.6.0.50")
    assert released == [] and reporter.findings == []


def test_without_the_knobs_nothing_is_probed_and_a_failed_announcement_is_ignored(monkeypatch):
    probes = Probes()

    def broken(netns, ifname, ip):
        probes.calls.append(("announce", ip))
        raise OSError("no such device")

    probes.announce = broken
    svc, _, _ = probed(monkeypatch, probes)
    assert svc.handle(pod_body()).exit_code == 0
    assert probes.calls == [("announce", "10.6.0.50")]


# -- what the agent agrees to touch (issue 8, item 10) ------------------------------------------------

@pytest.mark.parametrize(("change", "msg"), [
    ({"containerID": "../x"}, "CNI_CONTAINERID '../x' has invalid characters"),
    ({"containerID": ""}, "coordinator: ADD needs containerID"),
    ({"ifName": "net1/../eth0"}, "CNI_IFNAME 'net1/../eth0' is not a valid interface name"),
    ({"ifName": "a" * 16}, f"CNI_IFNAME '{'a' * 16}' is not a valid interface name"),
    ({"netns": "../../proc/1/ns/net"}, "coordinator: CNI_NETNS '../../proc/1/ns/net' is not a namespace path"),
    ({"netns": "/var/run/netns/../../../proc/1/ns/net"},
     "coordinator: CNI_NETNS '/var/run/netns/../../../proc/1/ns/net' is not a namespace path"),
    ({"netns": "/proc/self/ns/net"}, "coordinator: CNI_NETNS /proc/self/ns/net is the node's own network "
                                     "namespace, not a pod's"),
    ({"hostNetns": "/proc/1/ns/../../self/ns/net"}, "coordinator: hostNetns '/proc/1/ns/../../self/ns/net' is not "
                                                    "/proc/<pid>/ns/net"),
    ({"hostNetns": "/proc/999999999/ns/net"}, "coordinator: hostNetns /proc/999999999/ns/net does not exist "
                                              "(no such process)"),
])
def test_an_add_naming_what_it_may_not_touch_is_refused_with_code_4(change, msg):
    reply = service().handle({**body(prevResult=PREV), **change})
    error = json.loads(reply.stdout)
    assert (reply.exit_code, error["code"], error["msg"], error["cniVersion"]) == (1, 4, msg, "0.4.0")


def test_del_checks_the_container_id_and_interface_name_too():
    error = json.loads(service().handle({**body("DEL"), "ifName": "x:y"}).stdout)
    assert (error["code"], error["msg"]) == (4, "CNI_IFNAME 'x:y' is not a valid interface name")
