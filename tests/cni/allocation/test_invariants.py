"""Property-style: random interleavings never give one IP two owners.

hypothesis is not a dependency of the project, so these are seeded random loops.
Several "agents" decide on snapshots that may be stale, commit pool changes one
by one against an in-memory API that refuses stale resourceVersions (409),
decide again on conflict, and roll back with a forced release when an ADD fails
after a partial commit, as the node agent is meant to. Pods are created,
re-created (StatefulSet and stateless), marked terminating, deleted, DEL'd late
and twice, and a garbage collector runs in between.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import timedelta

import pytest

from cni.allocation import (AllocationError, Endpoint, PodInfo, Release, Request, Snapshot, StatefulSetInfo,
                            allocate, find_leaks, release, render_status)
from cni.allocation.picker import free

from .builders import NOW, commit, pool, snapshot

ANNOT = {"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["a", "b"], "ipv6": ["v6"]})}
NAMES = [f"web-{i}" for i in range(3)] + [f"job-{i}" for i in range(5)]
WEB = StatefulSetInfo("default", "web", 2)


class Cluster:
    """An API server of pools and endpoints, the pods, and what each ADD handed out."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        base = snapshot(pool("a", ("10.6.168.60-10.6.168.63",), exclude=("10.6.168.61",)),
                        pool("b", ("10.6.169.1-10.6.169.3",)), pool("v6", ("fd00::1-fd00::6",)),
                        reserved=[("10.6.169.2",)])
        self.pools, self.reserved = dict(base.pools), base.reserved
        self.pods: dict[str, PodInfo] = {}
        self.endpoints: dict[tuple[str, str], Endpoint] = {}
        self.history: list[Snapshot] = []
        self.given: dict[str, set[str]] = {}  # pod uid -> addresses it was handed and still owns
        self.serial = 0

    def snapshot(self) -> Snapshot:
        snap = Snapshot(pools=dict(self.pools), reserved=self.reserved,
                        pods={(p.namespace, p.name): p for p in self.pods.values()},
                        endpoints=dict(self.endpoints), statefulsets={("default", "web"): WEB})
        self.history.append(snap)
        return snap

    def commit(self, outcome) -> bool:
        for change in outcome.pool_changes:
            current = self.pools[change.pool]
            if current.resource_version != change.resource_version:
                return False  # 409; the changes before it stay committed, as on a real API
            self.pools[change.pool] = current.with_status(render_status(current, change),
                                                          str(int(current.resource_version) + 1))
            for record in change.remove:
                self.given.get(record.uid, set()).discard(record.ip)
            for record in change.add:
                self.given.setdefault(record.uid, set()).add(record.ip)
        if outcome.endpoint is not None:
            change, key = outcome.endpoint, (outcome.endpoint.namespace, outcome.endpoint.name)
            if change.delete:
                self.endpoints.pop(key, None)
            else:
                self.endpoints[key] = Endpoint.from_object({"metadata": {"namespace": key[0], "name": key[1]},
                                                            "status": change.status})
        return True

    def settle(self, decide) -> None:
        for _ in range(20):
            if self.commit(decide(self.snapshot())):
                return
        raise AssertionError("never converged")

    def add(self, pod: PodInfo, nic: str) -> None:
        fresh = self.snapshot()
        view = self.rng.choice(self.history[-4:]) if self.rng.random() < 0.5 else fresh  # another agent's cache
        for _ in range(20):
            try:
                decision = allocate(Request(pod, nic=nic), view)
            except AllocationError:  # roll back what earlier attempts of this ADD committed
                self.settle(lambda s: release(s, namespace="default", name=pod.name, uid=pod.uid, nic=nic, force=True))
                return
            if self.commit(decision):
                assert {a.ip for a in decision.result.addresses} <= self.given[pod.uid]
                return
            view = self.snapshot()
        raise AssertionError("ADD never converged")

    def step(self) -> None:
        rng = self.rng
        name = rng.choice(NAMES)
        pod, action = self.pods.get(name), rng.random()
        if pod is None:
            self.serial += 1
            kind = ("StatefulSet", "web") if name.startswith("web") else ("Job", "job")
            self.pods[name] = PodInfo("default", name, f"{name}-u{self.serial}", "worker1", {}, ANNOT,
                                      owner_kind=kind[0], owner_name=kind[1])
        elif action < 0.5:
            self.add(pod, rng.choice(["eth0", "eth0", "net1"]))
        elif action < 0.65:
            self.pods[name] = replace(pod, deletion_timestamp=NOW)
        elif action < 0.75 and pod.deletion_timestamp is not None:
            del self.pods[name]
        elif action < 0.93:
            uid = pod.uid if rng.random() < 0.7 else f"{name}-u{rng.randint(0, self.serial)}"  # sometimes late
            self.settle(lambda s: release(s, namespace="default", name=name, uid=uid))
        else:
            self.settle(lambda s: Release(find_leaks(s, now=NOW, grace=timedelta(0)).pool_changes(s)))

    def check(self) -> None:
        owners: dict[str, str] = {}
        for uid, addresses in self.given.items():
            for ip in addresses:
                assert owners.setdefault(ip, uid) == uid, f"{ip} is owned by {owners[ip]} and {uid}"
        for p in self.pools.values():
            for value, record in p.records.items():
                assert value in p.usable and value not in self.reserved.family(p.version), f"{record.ip} handed out"
                assert record.ip in self.given.get(record.uid, ()), f"{record.ip} recorded for {record.uid} unknowingly"


@pytest.mark.parametrize("seed", range(40))
def test_random_interleavings_never_give_one_ip_two_owners(seed):
    cluster = Cluster(random.Random(seed))
    for _ in range(150):
        cluster.step()
        cluster.check()


@pytest.mark.parametrize("seed", range(20))
def test_the_address_freed_last_is_never_the_next_pick_while_another_is_free(seed):
    rng = random.Random(seed)
    snap = snapshot(pool("p", ("10.6.168.60-10.6.168.69",), exclude=("10.6.168.64",)))
    live: list[str] = []
    freed_last: str | None = None
    for step in range(300):
        if live and (rng.random() < 0.45 or len(live) == 9):
            name = live.pop(rng.randrange(len(live)))
            outcome = release(snap, namespace="default", name=name, uid=name)
            (freed_last,) = [r.ip for r in outcome.pool_changes[0].remove]
            if not live:
                freed_last = None  # an empty pool has no record to carry its cursor (see picker)
        else:
            name = f"p{step}"
            pod = PodInfo("default", name, name, "worker1", {}, {"ipam.spidernet.io/ippool": '{"ipv4": ["p"]}'})
            outcome = allocate(Request(pod), snap)
            if freed_last is not None and free(snap.pools["p"], snap.reserved.ipv4).size > 1:
                assert outcome.result.addresses[0].ip != freed_last
            live.append(name)
            freed_last = None
        snap = commit(snap, outcome)
