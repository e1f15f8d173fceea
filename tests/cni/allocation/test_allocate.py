"""allocate(): dual-stack all-or-nothing, multi-NIC, gateways and routes, idempotency, what to write."""

from __future__ import annotations

import json

import pytest

from cni.allocation import (DeadPodError, Endpoint, ExhaustedError, NoPoolError, PoolChange, Record, Request,
                            StaleSnapshotError, UnavailableIPError, allocate, render_status)

from .builders import commit, ips, pod, pool, snapshot

DUAL = {"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["p4"], "ipv6": ["p6"]})}
FULL_V6 = {f"fd00::{i}": (f"default/x{i}", f"x{i}") for i in range(10, 12)}


def dual_stack(**v6):
    return snapshot(pool("p4"), pool("p6", ("fd00::10-fd00::11",), **v6))


def test_dual_stack_gives_one_address_per_family_ipv4_first():
    decision = allocate(Request(pod(annotations=DUAL)), dual_stack())
    assert [(a.version, a.cidr, a.pool, a.gateway) for a in decision.result.addresses] == [
        (4, "10.6.168.60/16", "p4", "10.6.0.1"), (6, "fd00::10/64", "p6", "fd00::1")]
    assert [c.pool for c in decision.pool_changes] == ["p4", "p6"]


@pytest.mark.parametrize("v6", [{"records": FULL_V6}, {"disable": True}], ids=["ipv6 pool full", "ipv6 pool disabled"])
def test_dual_stack_is_all_or_nothing(v6):
    with pytest.raises(NoPoolError) as error:
        allocate(Request(pod(annotations=DUAL)), dual_stack(**v6))
    assert "no IPv6 pool for pod default/web-0" in str(error.value)
    assert "IPv4" not in str(error.value)


def test_when_both_families_fail_both_are_reported():
    snap = snapshot(pool("p4", disable=True), pool("p6", ("fd00::10-fd00::11",), records=FULL_V6))
    with pytest.raises(NoPoolError) as error:
        allocate(Request(pod(annotations=DUAL)), snap)
    assert "no IPv4 pool" in str(error.value) and "no IPv6 pool" in str(error.value)
    assert [c.version for c in error.value.failures] == [4, 6]


def test_a_dead_pod_gets_nothing():
    for dead in (pod(deleting=True), pod(phase="Succeeded", restart_policy="OnFailure"),
                 pod(phase="Failed", restart_policy="Never"), pod(phase="Failed", reason="Evicted")):
        with pytest.raises(DeadPodError, match="^dead Pod default/web-0, we cannot allocate"):
            allocate(Request(dead), dual_stack())


def test_a_finished_pod_the_kubelet_restarts_is_alive_as_upstreams_is_pod_alive():
    for alive in (pod(phase="Succeeded", restart_policy="Always", annotations=DUAL),
                  pod(phase="Failed", restart_policy="OnFailure", annotations=DUAL),
                  pod(phase="Failed", restart_policy="Always", annotations=DUAL)):
        assert allocate(Request(alive), dual_stack()).result.addresses


MULTI_NIC = {"ipam.spidernet.io/ippools": json.dumps([
    {"interface": "eth0", "ipv4": ["eth0-pool"]},
    {"interface": "net1", "ipv4": ["net1-pool"], "cleangateway": True}])}


def multi_nic_snapshot():
    return snapshot(pool("eth0-pool"), pool("net1-pool", ("10.7.0.10-10.7.0.20",), subnet="10.7.0.0/16",
                                             gateway="10.7.0.1"))


def test_each_interface_of_a_multi_nic_pod_gets_its_own_pool_and_endpoint_entry():
    snap = multi_nic_snapshot()
    first = allocate(Request(pod(annotations=MULTI_NIC), nic="eth0"), snap)
    snap = commit(snap, first)
    second = allocate(Request(pod(annotations=MULTI_NIC), nic="net1"), snap)
    snap = commit(snap, second)
    assert ips(first) == ["10.6.168.60"] and ips(second) == ["10.7.0.10"]
    assert second.pool_changes[0].add == (Record("10.7.0.10", "default/web-0", "uid-web-0", "net1"),)
    entries = snap.endpoints[("default", "web-0")].status["current"]["ips"]
    assert [(e["interface"], e["ipv4"], e["cleanGateway"]) for e in entries] == [
        ("eth0", "10.6.168.60/16", False), ("net1", "10.7.0.10/16", True)]


@pytest.mark.parametrize("item_clean, request_clean, default_route", [
    (None, False, True), (None, True, False), (True, False, False), (False, True, True),
], ids=["default route via the gateway", "clean_gateway in the CNI config", "cleangateway in the annotation",
        "the annotation's false overrides the CNI config"])
def test_cleangateway_drops_the_default_route(item_clean, request_clean, default_route):
    item = {"interface": "eth0", "ipv4": ["p4"]}
    if item_clean is not None:
        item["cleangateway"] = item_clean
    request = Request(pod(annotations={"ipam.spidernet.io/ippools": json.dumps([item])}), clean_gateway=request_clean)
    result = allocate(request, dual_stack()).result
    assert (("0.0.0.0/0", "10.6.0.1") in [(r.dst, r.gw) for r in result.routes]) is default_route
    assert result.clean_gateway is not default_route


def test_routes_come_from_the_gateway_the_pool_and_the_pod_annotation_on_the_matching_interface():
    snap = snapshot(pool("p4", routes=[{"dst": "10.8.0.0/16", "gw": "10.6.0.254"}]))
    annotations = {"ipam.spidernet.io/ippool": '{"ipv4": ["p4"]}', "ipam.spidernet.io/routes": json.dumps([
        {"dst": "10.9.0.0/16", "gw": "10.6.0.253"},
        {"dst": "172.16.0.0/12", "gw": "10.7.0.1"},
        {"dst": "10.8.0.0/16", "gw": "10.6.0.252"}])}
    decision = allocate(Request(pod(annotations=annotations)), snap)
    assert [(r.dst, r.gw) for r in decision.result.routes] == [
        ("0.0.0.0/0", "10.6.0.1"), ("10.8.0.0/16", "10.6.0.254"), ("10.9.0.0/16", "10.6.0.253")]
    assert decision.notes == (
        "route 172.16.0.0/12 via 10.7.0.1: the gateway is in no subnet of eth0; not attached to eth0",
        "route 10.8.0.0/16 via 10.6.0.252 ignored on eth0: 10.8.0.0/16 already goes via 10.6.0.254")
    entry = decision.endpoint.status["current"]["ips"][0]
    assert entry["routes"] == [{"dst": "10.8.0.0/16", "gw": "10.6.0.254"}, {"dst": "10.9.0.0/16", "gw": "10.6.0.253"}]


def test_a_repeated_add_returns_the_same_addresses_and_writes_nothing():
    snap = dual_stack()
    first = allocate(Request(pod(annotations=DUAL)), snap)
    snap = commit(snap, first)
    again = allocate(Request(pod(annotations=DUAL)), snap)
    assert again.result == first.result
    assert again.pool_changes == () and again.endpoint is None


def test_an_add_interrupted_between_pool_commits_continues_where_it_stopped():
    snap = dual_stack()
    first = allocate(Request(pod(annotations=DUAL)), snap)
    v4_only = type(first)(first.result, first.pool_changes[:1], None)  # the agent died after the first pool
    snap = commit(snap, v4_only)
    again = allocate(Request(pod(annotations=DUAL)), snap)
    assert again.result == first.result
    assert [c.pool for c in again.pool_changes] == ["p6"]


def test_a_record_written_by_upstream_without_nic_belongs_to_the_interface_its_endpoint_names():
    endpoint = Endpoint.from_object({"metadata": {"namespace": "default", "name": "web-0"}, "status": {"current": {
        "uid": "uid-web-0", "node": "worker1", "ips": [{"interface": "net1", "ipv4": "10.6.168.65/16", "ipv4Pool": "p4"}]}}})
    snap = snapshot(pool("p4", records={"10.6.168.65": ("default/web-0", "uid-web-0")}), endpoints=[endpoint])
    annotations = {"ipam.spidernet.io/ippool": '{"ipv4": ["p4"]}'}
    assert ips(allocate(Request(pod(annotations=annotations), nic="net1"), snap)) == ["10.6.168.65"]
    assert ips(allocate(Request(pod(annotations=annotations), nic="eth0"), snap)) == ["10.6.168.60"]


def test_a_record_without_nic_and_without_endpoint_is_taken_as_eth0s():
    snap = snapshot(pool("p4", records={"10.6.168.65": ("default/web-0", "uid-web-0")}))
    decision = allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p4"]}'})), snap)
    assert ips(decision) == ["10.6.168.65"] and decision.pool_changes == ()


def _endpoint_with(ip):
    return Endpoint.from_object({"metadata": {"namespace": "default", "name": "web-0", "resourceVersion": "7"},
                                 "status": {"current": {"uid": "uid-web-0", "node": "worker1", "ips": [
                                     {"interface": "eth0", "ipv4": f"{ip}/16", "ipv4Pool": "p4"}]}}})


def test_an_address_the_endpoint_records_but_no_pool_record_holds_is_taken_back():
    snap = snapshot(pool("p4"), endpoints=[_endpoint_with("10.6.168.66")])
    decision = allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p4"]}'})), snap)
    assert ips(decision) == ["10.6.168.66"]
    assert decision.endpoint.resource_version == "7"


def test_an_endpoint_address_now_held_by_another_pod_is_not_taken_back():
    snap = snapshot(pool("p4", records={"10.6.168.66": ("default/other", "uid-other")}),
                    endpoints=[_endpoint_with("10.6.168.66")])
    decision = allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p4"]}'})), snap)
    assert ips(decision) == ["10.6.168.60"]


def test_a_re_created_stateless_pod_gets_a_new_address_and_leaves_the_old_record_to_its_del():
    snap = snapshot(pool("p4", records={"10.6.168.60": ("default/web-0", "old-uid")}))
    decision = allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p4"]}'})), snap)
    assert ips(decision) == ["10.6.168.61"]
    assert decision.pool_changes[0].remove == ()


def test_the_decision_carries_the_endpoint_status_in_upstreams_shape():
    decision = allocate(Request(pod(annotations=DUAL, owner=("ReplicaSet", "web-5d8")), nic="eth0"), dual_stack())
    assert decision.endpoint.status == {
        "current": {"uid": "uid-web-0", "node": "worker1", "ips": [{
            "interface": "eth0", "ipv4": "10.6.168.60/16", "ipv4Pool": "p4", "ipv4Gateway": "10.6.0.1",
            "ipv6": "fd00::10/64", "ipv6Pool": "p6", "ipv6Gateway": "fd00::1", "vlan": 0, "cleanGateway": False}]},
        "ownerControllerType": "ReplicaSet", "ownerControllerName": "web-5d8"}
    assert decision.endpoint.owner_pod_uid == "uid-web-0" and decision.endpoint.resource_version is None


def test_render_status_refuses_a_change_decided_on_another_version():
    snap = dual_stack()
    decision = allocate(Request(pod(annotations=DUAL)), snap)
    newer = commit(snap, decision).pools["p4"]
    with pytest.raises(StaleSnapshotError):
        render_status(newer, decision.pool_changes[0])


def test_render_status_refuses_to_give_a_held_address_to_someone_else():
    p4 = snapshot(pool("p4", records={"10.6.168.60": ("default/a", "uid-a")})).pools["p4"]
    change = PoolChange("p4", p4.resource_version, add=(Record("10.6.168.60", "default/b", "uid-b", "eth0"),))
    with pytest.raises(StaleSnapshotError, match="already held by default/a"):
        render_status(p4, change)


def test_exhaustion_error_asks_the_runtime_to_try_again_later():
    with pytest.raises(ExhaustedError) as error:
        allocate(Request(pod(annotations=DUAL)), dual_stack(records=FULL_V6))
    assert error.value.cni_code == 11


V4_ONLY = {"ipam.spidernet.io/ippool": '{"ipv4": ["p4"]}'}


def test_an_ip_the_runtime_asks_for_is_given_from_a_candidate_pool_without_moving_the_cursor():
    snap = dual_stack()
    decision = allocate(Request(pod(annotations=V4_ONLY), requested_ips=("10.6.168.65/16",)), snap)
    assert ips(decision) == ["10.6.168.65"] and decision.pool_changes[0].cursor is None
    snap = commit(snap, decision)
    again = allocate(Request(pod(annotations=V4_ONLY), requested_ips=("10.6.168.65/16",)), snap)
    assert ips(again) == ["10.6.168.65"] and again.pool_changes == ()


@pytest.mark.parametrize("requested, snap_kw, message", [
    ("10.6.168.65", {"records": {"10.6.168.65": ("default/other", "u-other")}},
     "requested IP 10.6.168.65 for pod default/web-0 on node worker1 (eth0): held by default/other in pool p4"),
    ("10.6.168.65", {"reserved": True}, "requested IP 10.6.168.65 for pod default/web-0 on node worker1 (eth0): "
                                        "reserved by a SpiderReservedIP"),
    ("10.9.0.1", {}, "requested IP 10.9.0.1 for pod default/web-0 on node worker1 (eth0): in no usable pool (pools "
                     "from pod annotation ipam.spidernet.io/ippool): p4: does not contain 10.9.0.1"),
    ("fd00::10", {}, "requested IP fd00::10 for pod default/web-0 on node worker1 (eth0): no IPv6 pools are named "
                     "for this pod"),
    ("10.6.168.65 10.6.168.66", {}, "requested IPs 10.6.168.65, 10.6.168.66 for pod default/web-0: one per family"),
], ids=["held by another pod", "reserved", "in no candidate pool", "family not selected", "two of one family"])
def test_an_ip_the_runtime_asks_for_and_cannot_have_fails_explicitly(requested, snap_kw, message):
    reserved = [("10.6.168.65",)] if snap_kw.pop("reserved", False) else []
    snap = snapshot(pool("p4", **snap_kw), reserved=reserved)
    with pytest.raises(UnavailableIPError) as error:
        allocate(Request(pod(annotations=V4_ONLY), requested_ips=tuple(requested.split())), snap)
    assert str(error.value) == message
