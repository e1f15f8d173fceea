"""Where an IP is picked: never excluded or reserved, spread reuse by the pool cursor, spans not addresses."""

from __future__ import annotations

import pytest

from cni.allocation import ExhaustedError, Request, allocate, release
from cni.allocation.picker import cursor_after_release, next_after
from cni.ipranges import RangeSet

from .builders import commit, ips, pod, pool, snapshot



def add(snap, name, **request):
    decision = allocate(Request(pod(name, annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p"]}'}), **request), snap)
    return commit(snap, decision), ips(decision)[0]


def delete(snap, name):
    return commit(snap, release(snap, namespace="default", name=name, uid=f"uid-{name}"))


@pytest.mark.parametrize("exclude, reserved, expected", [
    (("10.6.168.60-10.6.168.68",), (), ["10.6.168.69"]),
    ((), (("10.6.168.60-10.6.168.68",),), ["10.6.168.69"]),
    (("10.6.168.60-10.6.168.64",), (("10.6.168.65", "10.6.168.67"),), ["10.6.168.66", "10.6.168.68", "10.6.168.69"]),
    ((), (("fd00::1-fd00::ff",),), [f"10.6.168.{i}" for i in range(60, 70)]),
], ids=["excludeIPs", "reserved IPs", "both", "reserved IPs of the other family do not count"])
def test_excluded_and_reserved_addresses_are_never_handed_out(exclude, reserved, expected):
    snap = snapshot(pool("p", exclude=exclude), reserved=reserved)
    given = []
    for i in range(len(expected)):
        snap, ip = add(snap, f"pod-{i}")
        given.append(ip)
    assert given == expected
    with pytest.raises(ExhaustedError):
        add(snap, "one-too-many")


def test_a_just_released_address_is_not_handed_to_the_next_pod():
    snap = snapshot(pool("p"))
    for name in ("a", "b", "c"):
        snap, _ = add(snap, name)
    snap = delete(snap, "b")  # frees .61
    snap, ip = add(snap, "d")
    assert ip == "10.6.168.63"


def test_releasing_the_last_allocated_address_keeps_the_cursor():
    snap = snapshot(pool("p"))
    snap, _ = add(snap, "a")
    snap, _ = add(snap, "b")  # .61, the cursor
    snap = delete(snap, "b")
    snap, ip = add(snap, "c")
    assert ip == "10.6.168.62"


def test_after_a_wrap_older_freed_addresses_come_before_the_one_freed_last():
    snap = snapshot(pool("p"))
    for i in range(10):
        snap, _ = add(snap, f"p{i}")  # full, cursor at .69
    snap = delete(snap, "p5")  # .65
    snap = delete(snap, "p2")  # .62 freed last
    snap, ip = add(snap, "new")
    assert ip == "10.6.168.65"


def test_the_only_free_address_is_reused_because_it_must_be():
    snap = snapshot(pool("p", ("10.6.168.60-10.6.168.61",)))
    snap, _ = add(snap, "a")
    snap, _ = add(snap, "b")
    snap = delete(snap, "a")
    snap, ip = add(snap, "c")
    assert ip == "10.6.168.60"


def test_an_empty_pool_forgets_its_cursor_and_starts_at_its_first_address():
    snap = snapshot(pool("p"))
    snap, _ = add(snap, "a")
    snap = delete(snap, "a")
    assert snap.pools["p"].records == {}
    snap, ip = add(snap, "b")
    assert ip == "10.6.168.60"


def test_a_slash_8_pool_with_a_few_allocations_picks_from_spans():
    records = {f"10.{i}.0.0": (f"default/x{i}", f"x{i}") for i in range(0, 200, 7)}
    snap = snapshot(pool("p", ("10.0.0.0-10.255.255.255",), subnet="10.0.0.0/8", gateway=None, records=records,
                         cursor="10.0.0.0"), reserved=[("10.0.0.1-10.0.0.9",)])
    snap, ip = add(snap, "a")
    assert ip == "10.0.0.10"
    assert snap.pools["p"].usable.size == 2 ** 24


def test_a_huge_ipv6_range_is_no_slower_to_pick_from():
    snap = snapshot(pool("p6", ("fd00::-fd00::ffff:ffff:ffff:ffff",)))
    decision = allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv6": ["p6"]}'})), snap)
    assert ips(decision) == ["fd00::"]


@pytest.mark.parametrize("spans, cursor, expected", [
    ([], None, None),
    ([(5, 9)], None, 5),
    ([(5, 9)], 6, 7),
    ([(5, 9), (20, 25)], 9, 20),
    ([(5, 9), (20, 25)], 12, 20),
    ([(5, 9), (20, 25)], 25, 5),
    ([(5, 9), (20, 25)], 30, 5),
    ([(5, 9)], 1, 5),
], ids=["empty", "no cursor", "inside a span", "next span", "in a gap", "wrap at the top", "above everything",
        "below everything"])
def test_next_after_is_the_lowest_free_address_above_the_cursor_wrapping(spans, cursor, expected):
    assert next_after(RangeSet(spans), cursor) == expected


@pytest.mark.parametrize("free, cursor, released, expected", [
    ([(5, 5), (8, 8)], 4, {5}, 5),
    ([(5, 5), (8, 8)], 4, {8}, 4),
    ([(5, 6)], 4, {5, 6}, 6),
    ([(5, 5)], 5, {5}, 5),
    ([(1, 1), (9, 9)], 9, {1}, 1),
], ids=["freed address would be next: cursor moves onto it", "something free in between: cursor stays",
        "several freed in a row", "only free address", "after the wrap the freed address is skipped too"])
def test_the_cursor_moves_past_a_release_only_when_it_skips_no_free_address(free, cursor, released, expected):
    assert cursor_after_release(RangeSet(free), cursor, released) == expected
