"""Which records the garbage collector frees: leaked ones, after being seen so for the grace period."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cni.allocation import Endpoint, StatefulSetInfo, find_leaks, render_status

from .builders import NOW, pod, pool, snapshot

GRACE = timedelta(minutes=2)
WEB0 = {"10.6.168.60": ("default/web-0", "uid-1")}


def sts_endpoint():
    return Endpoint.from_object({"metadata": {"namespace": "default", "name": "web-0"}, "status": {
        "current": {"uid": "uid-1", "node": "worker1", "ips": [{"interface": "eth0", "ipv4": "10.6.168.60/16",
                                                                 "ipv4Pool": "p"}]},
        "ownerControllerType": "StatefulSet", "ownerControllerName": "web"}})


CASES = [
    ("alive pod", dict(pods=[pod("web-0", uid="uid-1")]), None),
    ("pending pod", dict(pods=[pod("web-0", uid="uid-1", phase="Pending")]), None),
    ("pod gone", dict(), "pod default/web-0 is gone"),
    ("pod succeeded, restartPolicy Never", dict(pods=[pod("web-0", uid="uid-1", phase="Succeeded", restart_policy="Never")]),
     "pod default/web-0 has finished (phase Succeeded, restartPolicy Never)"),
    ("pod succeeded, restartPolicy OnFailure", dict(pods=[pod("web-0", uid="uid-1", phase="Succeeded",
                                                              restart_policy="OnFailure")]),
     "pod default/web-0 has finished (phase Succeeded, restartPolicy OnFailure)"),
    ("pod succeeded, restartPolicy Always: restarted, keeps it",
     dict(pods=[pod("web-0", uid="uid-1", phase="Succeeded", restart_policy="Always")]), None),
    ("pod failed, restartPolicy Never", dict(pods=[pod("web-0", uid="uid-1", phase="Failed", restart_policy="Never")]),
     "has finished (phase Failed, restartPolicy Never)"),
    ("pod failed, restartPolicy OnFailure: restarted, keeps it",
     dict(pods=[pod("web-0", uid="uid-1", phase="Failed", restart_policy="OnFailure")]), None),
    ("pod failed, evicted", dict(pods=[pod("web-0", uid="uid-1", phase="Failed", reason="Evicted")]),
     "has finished (phase Failed, evicted)"),
    ("pod re-created", dict(pods=[pod("web-0", uid="uid-2")]), "pod default/web-0 was re-created (UID uid-2, record has uid-1)"),
    ("terminating past its deadline", dict(pods=[pod("web-0", uid="uid-1", deleting=True)]),
     "pod default/web-0 is terminating past its deadline 2026-05-01T12:00:00+00:00"),
    ("statefulset pod gone, set wants it", dict(endpoints=[sts_endpoint()],
                                                statefulsets=[StatefulSetInfo("default", "web", 1)]), None),
    ("statefulset pod gone, set scaled down", dict(endpoints=[sts_endpoint()],
                                                   statefulsets=[StatefulSetInfo("default", "web", 0)]),
     "pod default/web-0 is gone"),
    ("statefulset pod re-created, not yet added", dict(pods=[pod("web-0", uid="uid-2", owner=("StatefulSet", "web"))],
                                                       statefulsets=[StatefulSetInfo("default", "web", 1)]), None),
]


@pytest.mark.parametrize("inputs, reason", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_record_is_leaked_only_when_its_pod_no_longer_owns_it(inputs, reason):
    snap = snapshot(pool("p", records=WEB0), **inputs)
    plan = find_leaks(snap, now=NOW, grace=timedelta(0))
    reasons = [leak.reason for leak in plan.release]
    if reason is None:
        assert reasons == []
    else:
        assert len(reasons) == 1 and reason in reasons[0]


def test_a_statefulset_pod_that_already_has_a_new_address_leaks_the_old_one():
    snap = snapshot(pool("p", records={**WEB0, "10.6.168.61": ("default/web-0", "uid-2")}),
                    pods=[pod("web-0", uid="uid-2", owner=("StatefulSet", "web"))],
                    statefulsets=[StatefulSetInfo("default", "web", 1)])
    plan = find_leaks(snap, now=NOW, grace=timedelta(0))
    assert [leak.record.ip for leak in plan.release] == ["10.6.168.60"]


def test_a_leak_is_freed_only_after_it_has_been_seen_for_the_grace_period():
    snap = snapshot(pool("p", records=WEB0))
    first = find_leaks(snap, now=NOW, grace=GRACE)
    assert first.release == () and first.suspects == {("p", "10.6.168.60", "uid-1"): NOW}
    early = find_leaks(snap, now=NOW + GRACE / 2, grace=GRACE, suspects=first.suspects)
    assert early.release == ()
    due = find_leaks(snap, now=NOW + GRACE, grace=GRACE, suspects=early.suspects)
    assert [leak.since for leak in due.release] == [NOW]


def test_a_suspect_that_turns_out_alive_is_forgotten():
    gone = snapshot(pool("p", records=WEB0))
    first = find_leaks(gone, now=NOW, grace=GRACE)
    back = snapshot(pool("p", records=WEB0), pods=[pod("web-0", uid="uid-1")])
    assert find_leaks(back, now=NOW + GRACE, grace=GRACE, suspects=first.suspects).suspects == {}


def test_freeing_a_leak_never_removes_a_record_that_has_another_uid_by_then():
    snap = snapshot(pool("p", records=WEB0))
    (change,) = find_leaks(snap, now=NOW, grace=timedelta(0)).pool_changes(snap)
    fresh = snapshot(pool("p", records={"10.6.168.60": ("default/web-0", "uid-9")})).pools["p"]
    assert '"uid-9"' in render_status(fresh, change)["allocatedIPs"]
