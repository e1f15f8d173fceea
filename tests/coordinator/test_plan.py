"""What the coordinator plans for a pod NIC, mode by mode: pure, no kernel."""

from __future__ import annotations

import pytest

from coordinator.config import CoordinatorConfig
from coordinator.plan import (HostState, Link, Nic, Op, PlanError, PodState, RouteEntry, host_ips, host_veth_name,
                              mac_from_ip, plan_add, plan_del, resolve_mode, veth_macs)

CID = "0123456789abcdef"
NODE_IP = "10.6.212.132"
CFG = CoordinatorConfig(mode="overlay", pod_cidrs=("10.233.64.0/18",), service_cidrs=("10.233.0.0/18",))
HOST = HostState(links=(Link("lo", 1, addresses=("127.0.0.1/8",)), Link("ens192", 2, addresses=(f"{NODE_IP}/16",)),
                        Link("cali1234", 7, mac="ee:ee:ee:ee:ee:ee", addresses=("169.254.1.1/32",))),
                 route_src=(NODE_IP,))
CALICO_POD = PodState(
    links=(Link("lo", 1), Link("eth0", 4, mac="a2:99:9d:04:01:80", peer_index=7, addresses=("10.233.73.210/32",)),
           Link("net1", 5, mac="2a:1e:a1:db:2a:9a", addresses=("10.6.212.145/16",))),
    routes=(RouteEntry("default", "eth0", gw="169.254.1.1"), RouteEntry("169.254.1.1/32", "eth0", scope="link"),
            RouteEntry("10.6.0.0/16", "net1", src="10.6.212.145", scope="link"),
            RouteEntry("default", "net1", gw="10.6.0.1")))
NET1 = Nic("net1", (("10.6.212.145/16", "10.6.0.1"),))


def routes(ops, table):
    return {(op.dst, op.gw, op.dev, op.scope) for op in ops if op.kind == "route_add" and op.where == "pod"
            and op.table == table}


def test_an_overlay_nic_gets_seed_002s_rules_and_routes_in_upstreams_table_101():
    plan = plan_add(CFG, nic=NET1, container_id=CID, pod=CALICO_POD, host=HOST)
    assert plan.mode == "overlay"
    assert Op("rule_add", "pod", src="10.6.212.145/32", table=101) in plan.ops
    assert routes(plan.ops, 101) == {
        ("default", "10.6.0.1", "net1", "universe"), ("10.6.0.0/16", None, "net1", "link"),
        (f"{NODE_IP}/32", None, "eth0", "link"), ("10.233.0.0/18", NODE_IP, "eth0", "universe"),
        ("10.233.64.0/18", NODE_IP, "eth0", "universe")}
    assert routes(plan.ops, 254) == {(f"{NODE_IP}/32", None, "eth0", "link"),
                                     ("10.233.0.0/18", NODE_IP, "eth0", "universe"),
                                     ("10.233.64.0/18", NODE_IP, "eth0", "universe")}
    assert Op("route_del", "pod", dst="default", dev="net1", gw="10.6.0.1") in plan.ops  # eth0 keeps the default


def test_the_host_reaches_the_overlay_nic_ip_through_the_calico_veth():
    ops = plan_add(CFG, nic=NET1, container_id=CID, pod=CALICO_POD, host=HOST).ops
    assert Op("rule_add", "host", table=500, priority=1000, dst="0.0.0.0/0") in ops
    assert Op("route_add", "host", dst="10.6.212.145/32", dev="cali1234", scope="link", table=500) in ops
    assert Op("neigh_add", "host", dev="cali1234", dst="10.6.212.145", mac="a2:99:9d:04:01:80") in ops
    assert Op("neigh_add", "pod", dev="eth0", dst=NODE_IP, mac="ee:ee:ee:ee:ee:ee") in ops


def test_a_second_overlay_nic_gets_table_102_and_leaves_main_alone():
    pod = PodState(links=CALICO_POD.links + (Link("net2", 6, addresses=("10.7.0.5/16",)),), routes=())
    ops = plan_add(CFG, nic=Nic("net2", (("10.7.0.5/16", "10.7.0.1"),)), container_id=CID, pod=pod, host=HOST).ops
    assert Op("rule_add", "pod", src="10.7.0.5/32", table=102) in ops
    assert routes(ops, 254) == set()
    assert ("default", "10.7.0.1", "net2", "universe") in routes(ops, 102)


@pytest.mark.parametrize("nic, expected", [("net1", "default via net1"), ("eth0", "default via eth0"),
                                           ("", "default via eth0")])
def test_the_default_route_follows_pod_default_route_nic(nic, expected):
    cfg = CoordinatorConfig(mode="overlay", pod_cidrs=CFG.pod_cidrs, pod_default_route_nic=nic)
    ops = plan_add(cfg, nic=NET1, container_id=CID, pod=CALICO_POD, host=HOST).ops
    deleted = {op.dev for op in ops if op.kind == "route_del" and op.dst == "default" and op.table == 254}
    added = {op.dev for op in ops if op.kind == "route_add" and op.dst == "default" and op.table == 254}
    keeps = (added or {"eth0"}) - deleted if expected == "default via eth0" else added
    assert keeps == {expected.split()[-1]}


def test_tune_pod_routes_false_adds_no_table_and_no_rule():
    cfg = CoordinatorConfig(mode="overlay", pod_cidrs=CFG.pod_cidrs, tune_pod_routes=False)
    ops = plan_add(cfg, nic=NET1, container_id=CID, pod=CALICO_POD, host=HOST).ops
    assert not [op for op in ops if op.kind == "rule_add" and op.where == "pod"]
    assert routes(ops, 101) == {(f"{NODE_IP}/32", None, "eth0", "link"),
                                ("10.233.64.0/18", NODE_IP, "eth0", "universe")}


UNDERLAY_POD = PodState(links=(Link("lo", 1), Link("eth0", 2, mac="aa:aa:aa:aa:aa:aa", addresses=("10.6.0.50/16",))),
                        routes=(RouteEntry("default", "eth0", gw="10.6.0.1"),))
ETH0 = Nic("eth0", (("10.6.0.50/16", "10.6.0.1"),))


def test_an_underlay_eth0_gets_veth0_to_the_host_and_cluster_routes_in_main():
    cfg = CoordinatorConfig(mode="underlay", service_cidrs=("10.96.0.0/12",), hijack_cidrs=("169.254.0.0/16",))
    ops = plan_add(cfg, nic=ETH0, container_id=CID, pod=UNDERLAY_POD, host=HOST).ops
    pod_mac, host_mac = veth_macs(CID)
    assert Op("veth_add", "pod", dev="veth0", mac=pod_mac, peer=host_veth_name(CID), peer_mac=host_mac,
              value=1500) in ops
    assert {(op.dst, op.gw, op.src) for op in ops if op.kind == "route_add" and op.where == "pod"
            and op.table == 254} == {
        (f"{NODE_IP}/32", None, "10.6.0.50"), ("10.96.0.0/12", NODE_IP, "10.6.0.50"),
        ("169.254.0.0/16", NODE_IP, "10.6.0.50")}
    assert Op("route_add", "host", dst="10.6.0.50/32", dev="vetha0123456789"[:4] + CID[:11], scope="link",
              table=500) in ops
    assert not [op for op in ops if op.kind == "rule_add" and op.where == "pod" and op.src]  # eth0 keeps main


def test_an_underlay_net1_uses_the_existing_veth0_and_its_own_table():
    pod = PodState(links=UNDERLAY_POD.links + (Link("veth0", 3, mac="0a:00:00:00:00:01"),
                                               Link("net1", 4, addresses=("10.7.0.9/16",))),
                   routes=(RouteEntry("10.7.0.0/16", "net1", src="10.7.0.9", scope="link"),))
    host = HostState(links=HOST.links + (Link(host_veth_name(CID), 9, mac="0a:00:00:00:00:02"),), route_src=(NODE_IP,))
    plan = plan_add(CoordinatorConfig(mode="auto"), nic=Nic("net1", (("10.7.0.9/16", "10.7.0.1"),)), container_id=CID,
                    pod=pod, host=host)
    assert plan.mode == "underlay"
    assert Op("rule_add", "pod", src="10.7.0.9/32", table=101) in plan.ops
    assert (f"{NODE_IP}/32", None, "veth0", "link") in routes(plan.ops, 101)
    assert not [op for op in plan.ops if op.kind == "veth_add"]


@pytest.mark.parametrize("mode, if_name, links, expected", [
    ("auto", "eth0", ("lo", "eth0"), "underlay"),
    ("auto", "net1", ("lo", "eth0", "net1"), "overlay"),
    ("auto", "net1", ("lo", "eth0", "veth0", "net1"), "underlay"),
    ("overlay", "net1", ("lo", "eth0", "net1"), "overlay"),
    ("underlay", "eth0", ("lo", "eth0"), "underlay"),
])
def test_auto_mode_is_decided_per_interface(mode, if_name, links, expected):
    pod = PodState(links=tuple(Link(name, i) for i, name in enumerate(links)))
    assert resolve_mode(CoordinatorConfig(mode=mode), if_name, pod) == expected


@pytest.mark.parametrize("mode, if_name, links, message", [
    ("overlay", "eth0", ("lo", "eth0"), "belongs to the default CNI"),
    ("overlay", "net1", ("lo", "eth0", "veth0", "net1"), "has veth0"),
    ("underlay", "net1", ("lo", "eth0", "net1"), "was not created"),
])
def test_a_mode_that_cannot_apply_is_refused(mode, if_name, links, message):
    pod = PodState(links=tuple(Link(name, i) for i, name in enumerate(links)))
    with pytest.raises(PlanError, match=message):
        resolve_mode(CoordinatorConfig(mode=mode), if_name, pod)


def test_disabled_plans_nothing():
    assert plan_add(CoordinatorConfig(mode="disabled"), nic=NET1, container_id=CID, pod=CALICO_POD,
                    host=HOST).ops == ()


def test_mac_prefix_tx_queue_len_rp_filter_and_policy_routes_are_planned():
    cfg = CoordinatorConfig(mode="overlay", pod_mac_prefix="0a:1b", tx_queue_len=2000, pod_rp_filter=0,
                            policy_routes=(("172.16.0.0/16", "10.6.0.254"),))
    ops = plan_add(cfg, nic=NET1, container_id=CID, pod=CALICO_POD, host=HOST).ops
    assert Op("link_set", "pod", dev="net1", mac="0a:1b:0a:06:d4:91", value=2000) in ops
    assert Op("sysctl", "pod", key="net/ipv4/conf/all/rp_filter", value=0) in ops
    assert Op("route_add", "pod", dst="172.16.0.0/16", gw="10.6.0.254", dev="net1", table=101) in ops


@pytest.mark.parametrize("ip, mac", [("10.6.212.145/16", "0a:1b:0a:06:d4:91"),
                                     ("fd00::1:2:3:4/64", "0a:1b:00:03:00:04")])
def test_the_mac_is_derived_from_the_ip(ip, mac):
    assert mac_from_ip("0a:1b", ((ip, None),)) == mac


def test_host_ips_skip_virtual_interfaces_and_the_pod_itself():
    host = HostState(links=HOST.links + (Link("docker0", 8, addresses=("172.17.0.1/16",)),), route_src=(NODE_IP,))
    assert host_ips(host, ["10.6.212.145"], 4) == [NODE_IP]


def test_del_removes_the_host_veth_routes_and_leftover_rules_only():
    ops = plan_del(CoordinatorConfig(host_rule_table=500), container_id=CID, pod_ips=["10.6.0.50"]).ops
    assert {op.where for op in ops} == {"host"}
    assert [op.kind for op in ops] == ["link_del", "route_del", "rule_del"]
    assert ops[0].dev == host_veth_name(CID)


def test_moving_the_default_keeps_the_old_nics_replies_in_table_100_as_upstream():
    cfg = CoordinatorConfig(mode="overlay", pod_cidrs=CFG.pod_cidrs, pod_default_route_nic="net1")
    ops = plan_add(cfg, nic=NET1, container_id=CID, pod=CALICO_POD, host=HOST).ops
    assert Op("rule_add", "pod", src="10.233.73.210/32", table=100) in ops
    assert Op("route_add", "pod", dst="default", gw="169.254.1.1", dev="eth0", table=100) in ops
    assert Op("route_add", "pod", dst="default", gw="10.6.0.1", dev="net1") in ops


def test_a_dual_stack_nic_is_planned_per_family():
    host = HostState(links=HOST.links + (Link("ens224", 3, addresses=("fd00:10:6::11/64",)),), route_src=(NODE_IP,))
    cfg = CoordinatorConfig(mode="overlay", pod_cidrs=("10.233.64.0/18", "fd85:ee78:d8a6:8607::/64"))
    nic = Nic("net1", (("10.6.212.145/16", "10.6.0.1"), ("fd00:10:6::2e5/64", "fd00:10:6::1")))
    ops = plan_add(cfg, nic=nic, container_id=CID, pod=CALICO_POD, host=host).ops
    assert Op("rule_add", "pod", src="fd00:10:6::2e5/128", table=101) in ops
    assert ("fd85:ee78:d8a6:8607::/64", "fd00:10:6::11", "eth0", "universe") in routes(ops, 101)
    assert ("10.233.64.0/18", NODE_IP, "eth0", "universe") in routes(ops, 101)
    assert Op("route_add", "pod", dst="default", gw="fd00:10:6::1", dev="net1", table=101) in ops
    assert not [op for op in ops if op.kind == "route_add" and op.gw and (":" in op.gw) != (":" in op.dst)
                and op.dst != "default"]


DUAL_POD = PodState(links=(Link("lo", 1), Link("eth0", 2, mac="aa:aa:aa:aa:aa:aa",
                                                addresses=("10.6.0.50/16", "fd00:6::50/64"))),
                    routes=(RouteEntry("default", "eth0", gw="10.6.0.1"), RouteEntry("default", "eth0", gw="fd00:6::1")))
DUAL_ETH0 = Nic("eth0", (("10.6.0.50/16", "10.6.0.1"), ("fd00:6::50/64", "fd00:6::1")))
DUAL_HOST = HostState(links=(Link("lo", 1), Link("ens192", 2, addresses=(f"{NODE_IP}/16", "fd00:6::11/64"))),
                      route_src=(NODE_IP, "fd00:6::11"))


def test_ipv6_is_enabled_in_the_pod_before_any_ipv6_route_and_only_for_ipv6_nics():
    ops = plan_add(CoordinatorConfig(mode="underlay"), nic=DUAL_ETH0, container_id=CID, pod=DUAL_POD,
                   host=DUAL_HOST).ops
    keys = [op.key for op in ops if op.kind == "sysctl"]
    assert keys[:3] == ["net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6",
                        "net/ipv6/conf/eth0/disable_ipv6"]
    assert "net/ipv6/conf/veth0/disable_ipv6" in keys
    first_v6 = min(i for i, op in enumerate(ops) if op.kind in ("route_add", "rule_add") and op.where == "pod"
                   and ":" in (op.dst + (op.gw or "")))
    last_sysctl = max(i for i, op in enumerate(ops) if op.kind == "sysctl")
    veth = next(i for i, op in enumerate(ops) if op.kind == "veth_add")
    assert last_sysctl < first_v6 and keys.index("net/ipv6/conf/default/disable_ipv6") < veth
    v4_only = plan_add(CoordinatorConfig(mode="underlay"), nic=ETH0, container_id=CID, pod=UNDERLAY_POD,
                       host=HOST).ops
    assert not [op for op in v4_only if op.kind == "sysctl" and "ipv6" in op.key]


def test_an_underlay_eth0_answers_the_nodes_connections_through_veth0_in_both_families():
    ops = plan_add(CoordinatorConfig(mode="underlay"), nic=DUAL_ETH0, container_id=CID, pod=DUAL_POD,
                   host=DUAL_HOST).ops
    for family, any_dst, host_ip in ((4, "0.0.0.0/0", NODE_IP), (6, "::/0", "fd00:6::11")):
        assert Op("rule_add", "pod", mark=0x1, table=100, priority=1000, dst=any_dst) in ops
        assert Op("route_add", "pod", dst="default", gw=host_ip, dev="veth0", table=100) in ops
        assert [op.args for op in ops if op.kind == "iptables" and op.key == str(family)] == [(
            "PREROUTING -i veth0 -m conntrack --ctstate NEW -j MARK --set-xmark 0x1/0xffffffff",
            "PREROUTING -m mark --mark 0x1 -j CONNMARK --save-mark",
            "OUTPUT -j CONNMARK --restore-mark")]
        assert (f"{host_ip}/{32 if family == 4 else 128}", None, "veth0", "link") in routes(ops, 254)
    overlay = plan_add(CFG, nic=NET1, container_id=CID, pod=CALICO_POD, host=HOST).ops
    assert not [op for op in overlay if op.kind == "iptables" or op.mark]


def test_veth_mtu_and_link_address_reach_veth0():
    cfg = CoordinatorConfig(mode="underlay", veth_mtu=9000, veth_link_address="169.254.200.1")
    ops = plan_add(cfg, nic=ETH0, container_id=CID, pod=UNDERLAY_POD, host=HOST).ops
    (veth,) = [op for op in ops if op.kind == "veth_add"]
    assert veth.value == 9000
    assert Op("addr_add", "pod", dev="veth0", dst="169.254.200.1/32") in ops


def test_pod_default_cni_nic_names_the_cluster_nic():
    cfg = CoordinatorConfig(mode="auto", pod_default_cni_nic="net1")
    pod = PodState(links=(Link("lo", 1), Link("net1", 2, addresses=("10.6.0.50/16",))))
    plan = plan_add(cfg, nic=Nic("net1", (("10.6.0.50/16", "10.6.0.1"),)), container_id=CID, pod=pod, host=HOST)
    assert plan.mode == "underlay" and [op.kind for op in plan.ops].count("veth_add") == 1
