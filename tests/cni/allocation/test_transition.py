"""The group leader's shortcut (`apply_change`) leaves a pool exactly as `render_status` would."""

from __future__ import annotations

import json
import random

import pytest

from cni.allocation.transition import apply_change, diff
from cni.allocation import NodeInfo, PodInfo, Pool, Request, Snapshot, StaleSnapshotError, allocate, release, \
    render_status


def pool_with(records: int) -> Pool:
    allocated = {f"10.6.0.{i + 1}": {"pod": f"default/old-{i}", "podUid": f"uid-old-{i}", "nic": "eth0"}
                 for i in range(records)}
    return Pool.from_object({"metadata": {"name": "p4", "resourceVersion": "7"},
                             "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.1-10.6.0.200"], "default": True},
                             "status": {"allocatedIPs": json.dumps(allocated)}})


def test_a_group_of_decisions_chained_with_apply_change_writes_what_render_status_computes():
    base = pool_with(50)
    rng = random.Random(7)
    snapshot = Snapshot(pools={"p4": base}, nodes={"n1": NodeInfo("n1")})
    working = base
    for i in range(40):
        current = Snapshot(pools={"p4": working}, nodes=snapshot.nodes)
        if rng.random() < 0.3:
            victim = rng.choice(sorted(working.records.values()))
            outcome = release(current, namespace=victim.namespace, name=victim.name, uid=victim.uid)
        else:
            outcome = allocate(Request(PodInfo("default", f"new-{i}", f"uid-new-{i}", "n1")), current)
        for change in outcome.pool_changes:
            working = apply_change(working, change)

    written = base.with_status(render_status(base, diff(base, working)), base.resource_version)

    assert written.records == working.records and written.cursor == working.cursor
    assert dict(written.by_uid) == dict(working.by_uid) and dict(written.by_pod) == dict(working.by_pod)
    assert written.allocated == working.allocated


def test_apply_change_refuses_a_decision_made_on_another_version():
    base = pool_with(1)
    decision = allocate(Request(PodInfo("default", "web", "uid-web", "n1")),
                        Snapshot(pools={"p4": base}, nodes={"n1": NodeInfo("n1")}))
    other = Pool.from_object({"metadata": {"name": "p4", "resourceVersion": "8"},
                              "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.1-10.6.0.200"]}})
    with pytest.raises(StaleSnapshotError):
        apply_change(other, decision.pool_changes[0])


@pytest.mark.parametrize(("subnet", "ips", "total"), [
    ("10.6.0.0/16", ["10.6.0.1-10.6.0.200"], 200),
    ("fd00::/64", ["fd00::2-fd00::ffff:ffff:ffff:ffff"], 2 ** 63 - 1),  # 2^64 - 2 addresses
    ("::/0", ["::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], 2 ** 63 - 1),  # 2^128 - 1
])
def test_total_ip_count_is_the_usable_addresses_capped_at_the_crds_int64(subnet, ips, total):
    pool = Pool.from_object({"metadata": {"name": "big", "resourceVersion": "1"},
                             "spec": {"subnet": subnet, "ips": ips, "default": True}})
    outcome = allocate(Request(PodInfo("default", "web", "uid-web", "n1")),
                       Snapshot(pools={"big": pool}, nodes={"n1": NodeInfo("n1")}))
    (change,) = outcome.pool_changes
    assert render_status(pool, change)["totalIPCount"] == total
