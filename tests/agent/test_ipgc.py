"""The IP garbage collector frees a deleted pod's IP once it has looked leaked for the grace period,
re-checks with a fresh read before it does, and never frees a live pod's IP."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from agent import kube as k8s
from agent.ipgc import IpGc
from reconciler.cli import main


class Clock:
    def __init__(self):
        self.now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def two_pods(objects, agents, kube):
    """live and dead got an IP each; dead's pod object is then deleted (its DEL never came)."""
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    live, dead = objects.pod("live", "worker1"), objects.pod("dead", "worker1")
    agent = agents("worker1")
    assert agent.add(live).ok and agent.add(dead).ok
    objects.delete_pod("dead", "default")
    return live, dead


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def gc(cluster, clock):
    collector = IpGc(k8s.connect(kubeconfig=str(cluster.kubeconfig)), grace=30, clock=clock)
    collector.cache.start()
    assert collector.cache.wait_synced(10)
    yield collector
    collector.cache.stop()


def test_a_deleted_pods_ip_is_released_only_after_the_grace_and_a_live_pods_never(two_pods, gc, clock, objects):
    live, dead = two_pods
    first = gc.run_pass()
    assert (first.released, first.suspects) == ([], 1)

    clock.advance(10)
    assert gc.run_pass().released == []  # still within the grace period
    clock.advance(25)
    released = gc.run_pass().released

    assert [(leak.record.pod, leak.record.uid) for leak in released] == [("default/dead", dead["metadata"]["uid"])]
    assert [r["pod"] for r in objects.records("p4").values()] == ["default/live"]
    assert objects.endpoint("dead") is None and objects.endpoint("live") is not None
    clock.advance(3600)
    assert gc.run_pass().released == [] and gc.run_pass().suspects == 0


def test_a_lagging_cache_never_frees_a_live_pods_ip_the_fresh_read_still_shows(two_pods, gc, clock, objects):
    gc.cache.forget(k8s.PODS, ("default", "live"))  # the collector's watch has not seen the pod (yet)
    assert gc.run_pass().suspects == 2

    clock.advance(31)
    released = gc.run_pass().released

    assert [leak.record.pod for leak in released] == ["default/dead"]
    assert [r["pod"] for r in objects.records("p4").values()] == ["default/live"]


def test_an_endpoint_no_record_backs_is_swept_after_the_grace(objects, agents, kube, gc, clock):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agents("worker1").add(pod)
    objects.delete_pod("web", "default")
    pool = kube.get(k8s.POOLS, "p4")  # someone freed the record by hand; the endpoint is left over
    kube.replace_status(k8s.POOLS, {**pool, "status": {"allocatedIPs": "{}", "allocatedIPCount": 0,
                                                        "totalIPCount": 9}})
    gc.cache.wait_for(lambda: not gc.cache.pool("p4").records, 5)

    assert gc.run_pass().endpoints_deleted == []
    clock.advance(31)
    assert gc.run_pass().endpoints_deleted == ["default/web"]
    assert objects.endpoint("web") is None


def test_spiderpool_controller_once_collects_leaks_and_reports_them(two_pods, cluster, objects, capsys):
    code = main(["controller", "--once", "--gc-grace", "0.2", "--kubeconfig", str(cluster.kubeconfig),
                 "--log-level", "error"])

    assert code == 0
    assert "1 leaked IP(s) released" in capsys.readouterr().out
    assert [r["pod"] for r in objects.records("p4").values()] == ["default/live"]


def test_the_running_collector_reacts_to_a_pod_deletion_without_waiting_for_its_interval(objects, agents, kube,
                                                                                         cluster):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agents("worker1").add(pod)
    collector = IpGc(k8s.connect(kubeconfig=str(cluster.kubeconfig)), interval=3600, grace=0.3)
    stop = threading.Event()
    thread = threading.Thread(target=collector.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert collector.cache.wait_synced(10)
        objects.delete_pod("web", "default")
        deadline = time.monotonic() + 10
        while objects.records("p4") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert objects.records("p4") == {}
    finally:
        stop.set()
        thread.join(5)
