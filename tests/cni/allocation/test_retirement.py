"""When the ip-release finalizer may go: only from a deleted pool or subnet that holds nothing."""

from __future__ import annotations

import pytest

from cni.allocation import retirement
from cni.allocation.retirement import FINALIZER


def pool(*, deleting=True, finalizers=(FINALIZER,), allocated=None, name="p", subnet="10.6.0.0/16", labels=None):
    meta = {"name": name, "finalizers": list(finalizers), "resourceVersion": "7", "labels": labels or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-05-01T12:00:00Z"
    status = {} if allocated is None else {"allocatedIPs": allocated}
    return {"kind": "SpiderIPPool", "metadata": meta, "spec": {"subnet": subnet}, "status": status}


@pytest.mark.parametrize("case, obj, may", [
    ("deleted, no status", pool(), True),
    ("deleted, null allocatedIPs", pool(allocated=None), True),
    ("deleted, empty string", pool(allocated=""), True),
    ("deleted, {}", pool(allocated="{}"), True),
    ("deleted, one record", pool(allocated='{"10.6.0.5": {"pod": "default/a", "podUid": "u"}}'), False),
    ("deleted, unreadable records", pool(allocated="{not json"), False),
    ("deleted, records not an object", pool(allocated="[]"), False),
    ("not deleted", pool(deleting=False), False),
    ("not our finalizer", pool(finalizers=("spiderpool.spidernet.io",)), False),
])
def test_a_pools_finalizer_goes_only_when_deleted_and_empty(case, obj, may):
    assert retirement.pool_may_release(obj) is may, case


def subnet(*, deleting=True, status=None):
    meta = {"name": "s", "finalizers": [FINALIZER]}
    if deleting:
        meta["deletionTimestamp"] = "2026-05-01T12:00:00Z"
    return {"kind": "SpiderSubnet", "metadata": meta, "spec": {"subnet": "10.6.0.0/16"}, "status": status or {}}


@pytest.mark.parametrize("case, obj, pools, may", [
    ("deleted, no pools", subnet(), [], True),
    ("a pool in its CIDR", subnet(), [pool(deleting=False)], False),
    ("a terminating pool in its CIDR", subnet(), [pool()], False),
    ("a pool naming it as owner", subnet(),
     [pool(subnet="10.9.0.0/16", labels={"ipam.spidernet.io/owner-spider-subnet": "s"})], False),
    ("pools elsewhere only", subnet(), [pool(subnet="10.7.0.0/16")], True),
    ("controlledIPPools not empty", subnet(status={"controlledIPPools": '{"x": {"ips": ["10.6.0.1"]}}'}), [], False),
    ("a count its deleted pools left behind", subnet(status={"allocatedIPCount": 3}), [], True),
    ("not deleted", subnet(deleting=False), [], False),
])
def test_a_subnets_finalizer_goes_only_when_deleted_and_no_pool_is_left(case, obj, pools, may):
    assert retirement.subnet_may_release(obj, pools) is may, case


def test_the_release_copy_keeps_the_resource_version_and_other_finalizers():
    obj = pool(finalizers=("spiderpool.spidernet.io", FINALIZER))
    out = retirement.without_finalizer(obj)
    assert out["metadata"]["finalizers"] == ["spiderpool.spidernet.io"]
    assert out["metadata"]["resourceVersion"] == "7" and obj["metadata"]["finalizers"][1] == FINALIZER
