"""`ipam check`: every kind of inconsistency is found, and a consistent cluster has no findings."""

from __future__ import annotations

import json

from cni.allocation import Endpoint, Request, allocate, audit

from .builders import NOW, commit, pod, pool, snapshot


def endpoint(name, uid, ip, pool_name="p"):
    return Endpoint.from_object({"metadata": {"namespace": "default", "name": name}, "status": {"current": {
        "uid": uid, "node": "worker1", "ips": [{"interface": "eth0", "ipv4": f"{ip}/16", "ipv4Pool": pool_name}]}}})


def kinds(snap):
    return [(f.kind, f.subject) for f in audit(snap, now=NOW)]


def test_a_consistent_cluster_has_no_findings():
    web = pod("web-0", annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p"]}'})
    snap = snapshot(pool("p", status={"allocatedIPCount": 0, "totalIPCount": 10}), pods=[web])
    snap = commit(snap, allocate(Request(web), snap))
    assert audit(snap, now=NOW) == ()


def test_an_ip_recorded_in_two_pools_is_a_duplicate():
    snap = snapshot(pool("a", records={"10.6.168.60": ("default/x", "ux")}),
                    pool("b", records={"10.6.168.60": ("default/y", "uy")}), pods=[pod("x", uid="ux"), pod("y", uid="uy")])
    (finding,) = audit(snap, now=NOW)
    assert (finding.kind, finding.subject, finding.message) == (
        "duplicate-ip", "10.6.168.60", "recorded in a (default/x) and b (default/y)")


def test_an_ip_written_twice_in_one_pools_string_is_a_duplicate_record():
    raw = pool("a")
    raw["status"] = {"allocatedIPs": '{"10.6.168.60":{"pod":"default/x","podUid":"u1"},'
                                     '"10.6.168.60":{"pod":"default/y","podUid":"u2"}}'}
    assert ("duplicate-record", "a") in kinds(snapshot(raw, pods=[pod("y", uid="u2")]))


def test_leaks_missing_pods_and_double_allocations_are_reported():
    snap = snapshot(pool("p", records={
        "10.6.168.60": ("default/gone", "u-gone"),
        "10.6.168.61": ("default/done", "u-done"),
        "10.6.168.62": ("default/twice", "u-twice", "eth0"),
        "10.6.168.63": ("default/twice", "u-twice", "eth0"),
    }), pods=[pod("done", uid="u-done", phase="Succeeded", restart_policy="Never"), pod("twice", uid="u-twice")])
    assert kinds(snap) == [("double-allocation", "p"), ("leak", "p 10.6.168.61"), ("missing-pod", "p 10.6.168.60")]


def test_records_outside_the_pool_or_on_reserved_ips_are_reported():
    snap = snapshot(pool("p", exclude=("10.6.168.60",), records={
        "10.6.168.60": ("default/a", "ua"), "10.6.170.1": ("default/b", "ub"), "10.6.168.65": ("default/c", "uc")}),
        pods=[pod("a", uid="ua"), pod("b", uid="ub"), pod("c", uid="uc")], reserved=[("10.6.168.65",)])
    assert kinds(snap) == [("outside-pool", "p 10.6.168.60"), ("outside-pool", "p 10.6.170.1"),
                           ("reserved-ip", "p 10.6.168.65")]


def test_status_counts_that_disagree_are_reported():
    snap = snapshot(pool("p", records={"10.6.168.60": ("default/a", "ua")},
                         status={"allocatedIPCount": 3, "totalIPCount": 12}), pods=[pod("a", uid="ua")])
    messages = [f.message for f in audit(snap, now=NOW)]
    assert messages == ["allocatedIPCount is 3, the records hold 1", "totalIPCount is 12, ips - excludeIPs has 10"]


def test_endpoints_that_no_record_backs_or_that_share_an_ip_are_reported():
    snap = snapshot(pool("p", records={"10.6.168.60": ("default/a", "ua")}),
                    endpoints=[endpoint("a", "ua", "10.6.168.60"), endpoint("b", "ub", "10.6.168.60"),
                               endpoint("c", "uc", "10.6.168.69")],
                    pods=[pod("a", uid="ua"), pod("b", uid="ub"), pod("c", uid="uc")])
    assert [(f.kind, f.subject, f.message) for f in audit(snap, now=NOW)] == [
        ("duplicate-ip", "10.6.168.60", "claimed by SpiderEndpoints default/a and default/b"),
        ("endpoint-mismatch", "default/b", "eth0 10.6.168.60 in pool p: held by default/a (UID ua)"),
        ("endpoint-mismatch", "default/c", "eth0 10.6.168.69 in pool p: not recorded"),
    ]


def test_an_unreadable_pool_is_reported_and_never_allocated_from():
    raw = pool("p")
    raw["status"] = {"allocatedIPs": "{not json"}
    snap = snapshot(raw)
    (finding,) = audit(snap, now=NOW)
    assert finding.kind == "broken-pool" and finding.message.startswith("status.allocatedIPs is not valid JSON")
    try:
        allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["p"]})})), snap)
    except Exception as error:  # noqa: BLE001 - the message is what matters
        assert "p: unusable: status.allocatedIPs is not valid JSON" in str(error)
    else:
        raise AssertionError("allocated from an unreadable pool")
