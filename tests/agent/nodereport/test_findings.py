"""Pure findings: what a node's cache views and host view say differs from the spec."""

from __future__ import annotations

import json

from netaddr import IPNetwork

from agent.nodereport import HostView, find, masters_of
from cni.allocation import NodeInfo, Pool, ReservedIPs

HOST = HostView(frozenset({"lo", "eth0", "ens192"}), (IPNetwork("192.168.1.0/24"),))
NODE = NodeInfo("worker1", {"zone": "a"})


def pool(name: str, ips: list[str], *, subnet: str = "10.6.0.0/16", **spec) -> Pool:
    return Pool.from_object({"metadata": {"name": name}, "spec": {"subnet": subnet, "ips": ips, **spec}})


def nad(name: str, config: dict) -> dict:
    return {"metadata": {"name": name, "namespace": "kube-system"}, "spec": {"config": json.dumps(config)}}


def types(findings) -> list[tuple[str, str]]:
    return [(f.type, f.name) for f in findings]


def test_a_nad_whose_master_is_missing_is_an_error_naming_the_nad():
    found = find(NODE, [], ReservedIPs(), [nad("m", {"type": "macvlan", "master": "ens999"})], HOST)
    assert types(found) == [("MasterInterfaceMissing", "m")]
    assert found[0].severity == "Error" and found[0].namespace == "kube-system" and "ens999" in found[0].message


def test_a_nad_whose_master_exists_is_fine_and_chains_are_read():
    chain = {"plugins": [{"type": "macvlan", "master": "ens192"}, {"type": "coordinator"}]}
    assert find(NODE, [], ReservedIPs(), [nad("m", chain)], HOST) == []


def test_ifacer_makes_the_master_so_its_parent_interfaces_are_what_must_exist():
    chain = {"plugins": [{"type": "ifacer", "interfaces": ["ens192"], "vlanID": 100},
                         {"type": "macvlan", "master": "ens192.100"}]}
    assert masters_of(nad("v", chain)) == ["ens192"]


def test_a_pool_with_no_free_ip_is_exhausted_and_one_with_room_is_not():
    full = Pool.from_object({"metadata": {"name": "full"}, "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.1"]},
                             "status": {"allocatedIPs": json.dumps({"10.6.0.1": {"pod": "d/p", "uid": "u"}})}})
    found = find(NODE, [full, pool("room", ["10.6.0.2"])], ReservedIPs(), [], HOST)
    assert types(found) == [("PoolExhausted", "full")]


def test_reserved_ips_count_as_taken():
    reserved = ReservedIPs.from_objects([{"spec": {"ips": ["10.6.0.1"]}}])
    assert types(find(NODE, [pool("p", ["10.6.0.1"])], reserved, [], HOST)) == [("PoolExhausted", "p")]


def test_pools_not_selectable_on_this_node_are_ignored():
    pools = [pool("other-node", [], nodeName=["worker2"]),
             pool("other-zone", [], nodeAffinity={"matchLabels": {"zone": "b"}}), pool("off", [], disable=True)]
    assert find(NODE, pools, ReservedIPs(), [], HOST) == []


def test_a_zone_pool_the_node_has_no_address_in_or_route_to_is_unreachable():
    zoned = pool("z", ["10.9.0.1"], subnet="10.9.0.0/24", nodeAffinity={"matchLabels": {"zone": "a"}})
    near = pool("near", ["192.168.1.10"], subnet="192.168.1.0/24", nodeAffinity={"matchLabels": {"zone": "a"}})
    assert types(find(NODE, [zoned, near], ReservedIPs(), [], HOST)) == [("ZoneUnreachable", "z")]
