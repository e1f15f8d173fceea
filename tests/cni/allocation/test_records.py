"""status.allocatedIPs: upstream's records are read as written, and what we write upstream can read."""

from __future__ import annotations

import json

import pytest

from cni.allocation import Pool, PoolChange, Record, render_status

from .builders import pool


def test_upstream_records_are_read_without_nic_or_cursor():
    view = Pool.from_object(pool("p", records={"10.6.168.61": ("default/a", "ua")}))
    assert list(view.records.values()) == [Record("10.6.168.61", "default/a", "ua", None)]
    assert view.cursor is None


def test_written_records_keep_upstreams_keys_in_gos_order_and_the_cursor_rides_on_the_lowest_ip():
    view = Pool.from_object(pool("p", ("10.6.168.1-10.6.168.200",)))
    change = PoolChange("p", "1", add=(Record("10.6.168.100", "default/b", "ub", "eth0"),
                                       Record("10.6.168.61", "default/a", "ua", "net1")), cursor="10.6.168.100")
    status = render_status(view, change)
    assert status == {
        "allocatedIPs": '{"10.6.168.100":{"pod":"default/b","podUid":"ub","nic":"eth0"},'
                        '"10.6.168.61":{"pod":"default/a","podUid":"ua","nic":"net1","poolCursor":"10.6.168.100"}}',
        "allocatedIPCount": 2, "totalIPCount": 200}
    upstream_view = {ip: {k: v for k, v in body.items() if k in ("pod", "podUid")}
                     for ip, body in json.loads(status["allocatedIPs"]).items()}
    assert upstream_view == {"10.6.168.100": {"pod": "default/b", "podUid": "ub"},
                             "10.6.168.61": {"pod": "default/a", "podUid": "ua"}}
    assert view.with_status(status, "2").cursor_ip == "10.6.168.100"


def test_ipv6_keys_are_canonicalised():
    view = Pool.from_object(pool("p6", ("fd00::10-fd00::20",), records={"FD00:0::0010": ("default/a", "ua")}))
    assert [r.ip for r in view.records.values()] == ["fd00::10"]


@pytest.mark.parametrize("text, problem", [
    ("{not json", "status.allocatedIPs is not valid JSON"),
    ('["10.6.168.60"]', "status.allocatedIPs is not a JSON object"),
    ('{"pod-a": {"pod": "default/a"}}', "status.allocatedIPs has a key 'pod-a' that is not an IP"),
    ('{"fd00::1": {"pod": "default/a"}}', "status.allocatedIPs[fd00::1] is not an IPv4 record"),
], ids=["bad JSON", "not an object", "key not an IP", "wrong family"])
def test_an_unreadable_allocation_string_marks_the_pool_broken(text, problem):
    raw = pool("p")
    raw["status"] = {"allocatedIPs": text}
    assert Pool.from_object(raw).broken.startswith(problem)


def test_a_broken_spec_marks_the_pool_broken_with_every_problem():
    view = Pool.from_object(pool("p", ("10.6.168.60-10.6.168.1", "fd00::1"), gateway="nope"))
    assert view.broken == ("spec.ips: range '10.6.168.60-10.6.168.1' starts after it ends; "
                           "spec.ips: 'fd00::1' is not IPv4; spec.gateway: 'nope' is not an IP address")
