"""The count columns (`kubectl get sp/ss`) and an emptied pool's status, decided in one place."""

from __future__ import annotations

import pytest

from cni.allocation import ExhaustedError, Record, Request, allocate, pool_status, status_repair, subnet_counts
from cni.allocation.picker import MAX_RECORDS

from .builders import pod, pool, snapshot


def test_an_emptied_pool_has_no_allocated_ips_field_never_an_empty_object():
    """Upstream's controller drops its finalizer only when allocatedIPs is nil: "{}" would keep it Terminating."""
    assert pool_status([], cursor="10.6.0.9", total=10) == {"allocatedIPCount": 0, "totalIPCount": 10}
    held = pool_status([Record("10.6.0.1", "default/a", "u1")], cursor=None, total=10)
    assert held["allocatedIPs"] == '{"10.6.0.1":{"pod":"default/a","podUid":"u1"}}' and held["allocatedIPCount"] == 1


def subnet(ips, exclude=(), cidr="10.6.0.0/16"):
    return {"metadata": {"name": "s"}, "spec": {"subnet": cidr, "ips": list(ips), "excludeIPs": list(exclude)}}


def test_a_subnet_counts_its_usable_addresses_and_those_its_pools_hand_out():
    pools = [pool("a", ("10.6.0.1-10.6.0.5",)), pool("b", ("10.6.0.20-10.6.0.29",), exclude=("10.6.0.29",)),
             pool("elsewhere", ("10.7.0.1-10.7.0.5",), subnet="10.7.0.0/16"),
             pool("outside-ips", ("10.6.1.1-10.6.1.3",))]
    counts = subnet_counts(subnet(["10.6.0.1-10.6.0.100"], exclude=["10.6.0.100"]), pools)
    assert counts == {"totalIPCount": 99, "allocatedIPCount": 5 + 9}


@pytest.mark.parametrize("status, fix", [
    ({}, {"allocatedIPCount": 0, "totalIPCount": 10}),
    ({"allocatedIPs": "{}", "allocatedIPCount": 0, "totalIPCount": 10}, {"allocatedIPCount": 0, "totalIPCount": 10,
                                                                         "allocatedIPs": None}),
    ({"allocatedIPCount": 0, "totalIPCount": 10}, None),
    ({"allocatedIPCount": 0, "totalIPCount": 8}, {"allocatedIPCount": 0, "totalIPCount": 10}),
], ids=["blank columns", "an empty object left by an old writer", "right already", "ips changed"])
def test_status_repair_says_what_to_write_and_nothing_when_it_is_right(status, fix):
    obj = pool("p", ("10.6.0.1-10.6.0.10",), gateway=None)
    obj["status"] = status
    assert status_repair("SpiderIPPool", obj) == fix


def test_a_pool_holding_the_record_limit_is_full_and_the_next_candidate_serves():
    limit = pool("big", ("10.6.0.1-10.6.255.254",),
                 records={f"10.6.{i // 250}.{i % 250 + 1}": (f"default/p{i}", f"u{i}") for i in range(MAX_RECORDS)})
    annotated = pod("new", annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["big", "spare"]}'})
    decision = allocate(Request(annotated), snapshot(limit, pool("spare", ("10.6.9.1-10.6.9.9",))))
    assert decision.result.addresses[0].pool == "spare"
    with pytest.raises(ExhaustedError, match=r"big: holds 5000 allocation records, the most one pool may hold "
                                             r"\(5000: status.allocatedIPs is one JSON string in etcd\)"):
        allocate(Request(pod("new", annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["big"]}'})),
                 snapshot(limit))
