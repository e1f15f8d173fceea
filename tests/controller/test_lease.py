"""The Lease I/O (agent/leaderelection.py) against the real API server: one holder, guarded writes, takeover."""

from __future__ import annotations

import threading

import pytest

from agent import kube as k8s
from agent.leasedecision import Decision, Observation, Record, Timing
from agent.leaderelection import LEASES, LeaderElector, micro_time

TIMING = Timing(lease_duration=2, renew_deadline=1.5, retry_period=0.2)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def kube(real_cluster):
    client = k8s.connect(kubeconfig=str(real_cluster.kubeconfig))
    yield client
    client.close()


def elector(kube, identity, clock, name="ctl"):
    return LeaderElector(kube, name=name, namespace="default", identity=identity, timing=TIMING, clock=clock)


def test_of_two_candidates_one_holds_the_lease_and_the_other_takes_it_only_once_it_expires(kube):
    clock = Clock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)

    assert a.try_once() is True          # creates it
    assert b.try_once() is False         # sees a fresh holder
    clock.now += 1.0
    assert a.try_once() is True          # renews: b sees the record change
    assert b.try_once() is False
    clock.now += 1.9                     # a stops renewing; b has seen this record for 1.9 s
    assert b.try_once() is False
    clock.now += 0.2
    assert b.try_once() is True          # unchanged for the lease duration: taken over

    lease = kube.get(LEASES, "ctl", "default")
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
    assert a.try_once() is False and a.holder == "b"


def test_a_write_decided_on_a_stale_lease_loses_to_the_one_that_got_there_first(kube):
    clock = Clock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    assert a.try_once() and not b.try_once()
    clock.now += 5.0
    stale = dict(b._lease)
    assert a.try_once()                  # a renews: the resourceVersion moves on

    b._lease = stale                     # b decides on what it read before a's renewal ...
    b.observation = Observation(b.observation.record, stale["metadata"]["resourceVersion"], 0.0)
    with pytest.raises(k8s.Conflict):    # ... and its guarded PUT is refused
        b._write(Decision("acquire", Record("b", 2, micro_time(), micro_time(), 1), "b"))
    assert kube.get(LEASES, "ctl", "default")["spec"]["holderIdentity"] == "a"


def test_the_leader_stops_acting_when_it_cannot_renew_and_releases_the_lease_on_a_clean_stop(kube):
    stop = threading.Event()
    started, stopped = threading.Event(), threading.Event()
    a = LeaderElector(kube, name="ctl", namespace="default", identity="a", timing=TIMING)
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(
        a.run(stop, on_started_leading=started.set, on_stopped_leading=stopped.set)))
    thread.start()
    assert started.wait(10)
    stop.set()
    thread.join(10)

    assert result == [False] and stopped.is_set()
    assert kube.get(LEASES, "ctl", "default")["spec"]["holderIdentity"] == ""

    lost = threading.Event()
    b = LeaderElector(kube, name="ctl", namespace="default", identity="b", timing=TIMING)
    b_stop = threading.Event()
    thread = threading.Thread(target=lambda: result.append(
        b.run(b_stop, on_started_leading=lambda: None, on_stopped_leading=lost.set)))
    thread.start()
    try:
        assert _wait(lambda: b.leading.is_set(), 10)
        lease = kube.get(LEASES, "ctl", "default")   # someone else takes the lease from under b
        lease["spec"]["holderIdentity"] = "intruder"
        kube.replace(LEASES, lease)
        assert lost.wait(10)                          # b notices at its next renewal and stops
        thread.join(10)
        assert result == [False, True] and not b.leading.is_set()
    finally:
        b_stop.set()
        thread.join(10)


def _wait(predicate, timeout):
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        done.wait(0.05)
    return False
