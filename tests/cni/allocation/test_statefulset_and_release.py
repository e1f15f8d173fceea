"""StatefulSet pods keep their IPs; DEL frees only what the same pod UID holds, and only when upstream would."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cni.allocation import Record, Request, StatefulSetInfo, allocate, release

from .builders import commit, holders, ips, pod, pool, snapshot

STS = ("StatefulSet", "web")
ANNOT = {"ipam.spidernet.io/ippool": '{"ipv4": ["p4"]}'}


def sts_pod(uid, name="web-0", **kw):
    return pod(name, uid=uid, owner=STS, annotations=kw.pop("annotations", ANNOT), **kw)


def first_life(replicas=3, **pool_spec):
    """web-0 got .60 under uid-1, then was deleted; the set still exists."""
    snap = snapshot(pool("p4", **pool_spec), pool("other", ("10.6.170.1-10.6.170.9",)),
                    statefulsets=[StatefulSetInfo("default", "web", replicas)])
    return commit(snap, allocate(Request(sts_pod("uid-1")), snap))


def test_a_statefulset_pod_keeps_its_address_across_re_creation_and_the_record_takes_the_new_uid():
    snap = first_life()
    decision = allocate(Request(sts_pod("uid-2")), snap)
    assert ips(decision) == ["10.6.168.60"]
    (change,) = decision.pool_changes
    assert change.remove == (Record("10.6.168.60", "default/web-0", "uid-1", "eth0"),)
    assert change.add == (Record("10.6.168.60", "default/web-0", "uid-2", "eth0"),)
    assert change.cursor is None
    assert decision.endpoint.status["current"]["uid"] == "uid-2"
    assert decision.endpoint.owner_pod_uid is None  # no ownerReference: it must outlive the pod
    assert holders(commit(snap, decision), "p4") == {"10.6.168.60": "uid-2"}


def test_a_statefulset_pod_keeps_its_address_in_a_disabled_pool():
    snap = first_life()
    snap = snap.with_pools(replace(snap.pools["p4"], disable=True))
    assert ips(allocate(Request(sts_pod("uid-2")), snap)) == ["10.6.168.60"]


@pytest.mark.parametrize("case", ["ordinal beyond replicas", "pool no longer named", "address now reserved"])
def test_a_statefulset_pod_moves_when_its_old_address_is_no_longer_its_to_keep(case):
    replicas = 0 if case == "ordinal beyond replicas" else 3
    snap = first_life(replicas=replicas)
    annotations = {"ipam.spidernet.io/ippool": '{"ipv4": ["other"]}'} if case == "pool no longer named" else ANNOT
    if case == "address now reserved":
        snap = snapshot(*snap.pools.values(), reserved=[("10.6.168.60",)], statefulsets=snap.statefulsets.values())
    decision = allocate(Request(sts_pod("uid-2", annotations=annotations)), snap)
    assert ips(decision) != ["10.6.168.60"]
    removed = [r for c in decision.pool_changes for r in c.remove]
    assert removed == [Record("10.6.168.60", "default/web-0", "uid-1", "eth0")]


def test_a_statefulset_the_agent_does_not_know_still_lets_its_existing_pod_keep_the_address():
    snap = first_life()
    snap = snapshot(*snap.pools.values())  # no StatefulSet objects
    assert ips(allocate(Request(sts_pod("uid-2")), snap)) == ["10.6.168.60"]


def test_del_frees_only_the_records_of_its_uid():
    snap = snapshot(pool("p4", records={"10.6.168.60": ("default/a", "uid-a"), "10.6.168.61": ("default/b", "uid-b")}))
    out = release(snap, namespace="default", name="a", uid="uid-a")
    assert holders(commit(snap, out), "p4") == {"10.6.168.61": "uid-b"}


def test_a_late_del_of_an_old_uid_frees_nothing_given_to_the_new_pod():
    new = pod("web-0", uid="uid-new")
    snap = snapshot(pool("p4", records={"10.6.168.60": ("default/web-0", "uid-new")}), pods=[new])
    out = release(snap, namespace="default", name="web-0", uid="uid-old")
    assert out.pool_changes == () and out.endpoint is None


def test_a_late_del_still_frees_what_the_old_uid_itself_holds():
    new = pod("web-0", uid="uid-new")
    snap = snapshot(pool("p4", records={"10.6.168.60": ("default/web-0", "uid-new"),
                                        "10.6.168.61": ("default/web-0", "uid-old")}), pods=[new])
    out = release(snap, namespace="default", name="web-0", uid="uid-old")
    assert holders(commit(snap, out), "p4") == {"10.6.168.60": "uid-new"}


@pytest.mark.parametrize("the_pod, replicas, kept", [
    (pod("web-0"), None, "pod default/web-0 is alive; its sandbox may be re-created and keeps its IPs"),
    (sts_pod("uid-web-0", deleting=True), 3, "pod default/web-0 is within the replicas of StatefulSet web; it keeps its IPs"),
    (sts_pod("uid-web-0", deleting=True), 0, None),
    (sts_pod("uid-web-0", deleting=True), None, None),
    (pod("web-0", deleting=True), None, None),
    (pod("web-0", phase="Succeeded", restart_policy="Never"), None, None),
    (pod("web-0", phase="Failed", restart_policy="OnFailure"), None,
     "pod default/web-0 is alive; its sandbox may be re-created and keeps its IPs"),
    (pod("web-0", phase="Failed", reason="Evicted"), None, None),
    (None, None, None),
], ids=["alive pod keeps", "statefulset pod within replicas keeps", "statefulset scaled down frees",
        "statefulset gone frees", "terminating pod frees", "finished pod frees",
        "failed pod that restarts keeps (IsPodAlive)", "evicted pod frees", "gone pod frees"])
def test_del_follows_upstream_on_when_to_keep(the_pod, replicas, kept):
    snap = snapshot(pool("p4", records={"10.6.168.60": ("default/web-0", "uid-web-0")}),
                    pods=[the_pod] if the_pod else [],
                    statefulsets=[StatefulSetInfo("default", "web", replicas)] if replicas is not None else [])
    out = release(snap, namespace="default", name="web-0", uid="uid-web-0")
    assert out.kept == kept
    assert bool(out.pool_changes) is (kept is None)
    assert release(snap, namespace="default", name="web-0", uid="uid-web-0", force=True).pool_changes


def test_a_statefulset_pod_gone_from_the_api_keeps_its_ip_through_its_endpoint_owner():
    snap = first_life()
    out = release(snap, namespace="default", name="web-0", uid="uid-1")
    assert out.kept and out.pool_changes == ()


def _two_nics():
    annotations = {"ipam.spidernet.io/ippools": json.dumps([{"interface": "eth0", "ipv4": ["p4"]},
                                                            {"interface": "net1", "ipv4": ["p4"]}])}
    snap = snapshot(pool("p4"))
    for nic in ("eth0", "net1"):
        snap = commit(snap, allocate(Request(pod(annotations=annotations), nic=nic), snap))
    assert set(holders(snap, "p4").values()) == {"uid-web-0"} and len(holders(snap, "p4")) == 2
    return snap


@pytest.mark.parametrize("nic", ["net1", "eth0"])
def test_del_of_any_interface_of_a_dead_pod_frees_every_interface_and_the_endpoint(nic):
    snap = _two_nics()  # the pod is gone from the API: dead
    out = release(snap, namespace="default", name="web-0", uid="uid-web-0", nic=nic)
    assert out.endpoint.delete
    snap = commit(snap, out)
    assert holders(snap, "p4") == {} and ("default", "web-0") not in snap.endpoints
    again = release(snap, namespace="default", name="web-0", uid="uid-web-0", nic="eth0" if nic == "net1" else "net1")
    assert again.pool_changes == () and again.endpoint is None  # the other NIC's DEL: nothing left, success


def test_a_forced_release_frees_only_that_interface():
    snap = commit(_two_nics(), release(_two_nics(), namespace="default", name="web-0", uid="uid-web-0", nic="net1",
                                       force=True))
    assert holders(snap, "p4") == {"10.6.168.60": "uid-web-0"}
    assert [e["interface"] for e in snap.endpoints[("default", "web-0")].status["current"]["ips"]] == ["eth0"]


def test_del_is_idempotent():
    snap = snapshot(pool("p4", records={"10.6.168.60": ("default/a", "uid-a")}))
    snap = commit(snap, release(snap, namespace="default", name="a", uid="uid-a"))
    again = release(snap, namespace="default", name="a", uid="uid-a")
    assert again.pool_changes == () and again.endpoint is None and again.kept is None


def test_del_without_uid_uses_the_pods_and_leaves_a_gone_pod_to_the_collector():
    snap = snapshot(pool("p4", records={"10.6.168.60": ("default/a", "uid-a")}), pods=[pod("a", deleting=True)])
    assert release(snap, namespace="default", name="a", uid=None).pool_changes
    gone = snapshot(pool("p4", records={"10.6.168.60": ("default/a", "uid-a")}))
    assert release(gone, namespace="default", name="a", uid=None).kept == (
        "no pod UID and no pod default/a; left to the garbage collector")
