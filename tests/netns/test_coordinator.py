"""The coordinator tunes real pods' routes: Debian's ptp stands in for Calico on eth0, macvlan + our IPAM on net1.

One namespace cluster per module:

    router   10.6.0.1/16  10.7.0.1/16  fd00:6::1/64    (the underlay gateway; 10.7.0.1 is "outside")
    node1    10.6.0.11/16  fd00:6::11/64  lo 10.96.0.10, fd96::10   (a "service" address of each service CIDR)
    node2    10.6.0.12/16  fd00:6::12/64

Cluster CIDRs: pods 10.244.0.0/16 (ptp's host-local hands out 10.244.<n>.0/24 per node) and
fd44::/64, services 10.96.0.0/16 and fd96::/112; they reach the agent through SpiderCoordinator
`default` status. Overlay pods must end up with seed 002's `ip rule` / `ip route` / policy table
(numbered as upstream does today: the first extra NIC's table is 101, seed 002's older release
used 100).
"""

from __future__ import annotations

import json

import pytest

from tests.cluster.api import RealCluster

from . import kernel
from .bed import Bed, CniFailure, Pod
from .requirements import require_agent_bed
from .runtime import Attachment, Network

SPEC = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: netns-coordinator
spec:
  cluster:
    ipVersions: [4, 6]
  ippools:
    - name: underlay-6
      subnet: 10.6.0.0/16
      ips: [10.6.168.60-10.6.168.79]
      gateway: 10.6.0.1
    - name: underlay-6-v6
      subnet: fd00:6::/64
      ips: [fd00:6::100-fd00:6::1ff]
      gateway: fd00:6::1
  networks:
    - name: macvlan-ens192
      namespace: kube-system
      type: macvlan
      master: ens192
      mode: bridge
      cniVersion: 1.0.0
      ippools: {ipv4: [underlay-6]}
      coordinator: false
    - name: macvlan-dual
      namespace: kube-system
      type: macvlan
      master: ens192
      mode: bridge
      cniVersion: 1.0.0
      ippools: {ipv4: [underlay-6], ipv6: [underlay-6-v6]}
      coordinator: false
  coordinator:
    mode: auto
    hostRuleTable: 500
    tunePodRoutes: true
"""
NAD, DUAL_NAD = "kube-system/macvlan-ens192", "kube-system/macvlan-dual"
POD_CIDR, SERVICE_CIDR, SERVICE_IP = "10.244.0.0/16", "10.96.0.0/16", "10.96.0.10"
POD_CIDR6, SERVICE_CIDR6, SERVICE_IP6 = "fd44::/64", "fd96::/112", "fd96::10"
NODES = {"node1": ("10.6.0.11", "10.244.1.0/24"), "node2": ("10.6.0.12", "10.244.2.0/24")}
NODES6 = {"node1": "fd00:6::11", "node2": "fd00:6::12"}
DEFAULT_ROUTE_NIC = "ipam.spidernet.io/default-route-nic"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, real_control_plane):
    require_agent_bed()
    spec = tmp_path_factory.mktemp("spec") / "spec.yaml"
    spec.write_text(SPEC)
    with Bed(server=RealCluster(real_control_plane)) as bed:
        bed.add_switch()
        router = bed.add_router(addresses=["10.6.0.1/16", "10.7.0.1/16"])
        kernel.ip("address", "add", "fd00:6::1/64", "dev", "eth0", "nodad", netns=router)
        for name, (address, _) in NODES.items():
            node = bed.add_node(name, address=f"{address}/16")
            kernel.ip("address", "add", f"{NODES6[name]}/64", "dev", node.master, "nodad", netns=node.netns)
            kernel.add_address("lo", f"{SERVICE_IP}/32", node.netns)  # no dummy module here: lo serves
            kernel.ip("address", "add", f"{SERVICE_IP6}/128", "dev", "lo", "nodad", netns=node.netns)
            kernel.set_up("lo", node.netns)
        bed.install_plugins()
        bed.apply(spec)
        _publish_cluster_cidrs(bed)
        bed.start_agents()
        yield bed


def _publish_cluster_cidrs(bed: Bed) -> None:
    """What CIDR discovery will write: SpiderCoordinator default status overlayPodCIDR/serviceCIDR."""
    from kubernetes import client

    client.CustomObjectsApi(bed.cluster.client).patch_cluster_custom_object_status(
        "spiderpool.spidernet.io", "v2beta1", "spidercoordinators", "default",
        {"status": {"phase": "Synced", "overlayPodCIDR": [POD_CIDR, POD_CIDR6],
                    "serviceCIDR": [SERVICE_CIDR, SERVICE_CIDR6]}})


@pytest.fixture
def bed(cluster):
    yield cluster
    for pod in cluster.pods:
        for extra in getattr(pod, "extras", ()):
            if extra[1].result is not None:
                pod.node.runtime.delete(*extra)
    errors = cluster.delete_all_pods()
    assert not errors, f"tearing the pods down failed: {errors}"


def ptp_network(bed: Bed, node: str) -> Network:
    return Network.parse({"cniVersion": "1.0.0", "name": "k8s-pod-network", "plugins": [{
        "type": "ptp", "ipam": {"type": "host-local", "subnet": NODES[node][1], "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(bed.workdir / f"host-local-{node}")}}]})


def macvlan_network(bed: Bed, nad: str = NAD, **coordinator) -> Network:
    base = bed.network(nad).without("coordinator").to_dict()
    base["plugins"].append({"type": "coordinator", **coordinator})
    return Network.parse(base)


def overlay_pod(bed: Bed, node: str, name: str, *, annotations=None, **coordinator) -> tuple[Pod, Attachment]:
    """eth0 from ptp (the default CNI), then net1 from macvlan + spiderpool + coordinator."""
    pod = bed.run_pod(node, name, network=ptp_network(bed, node), annotations=annotations)
    net1 = Attachment(pod.container_id, "net1", pod.attachment.netns, pod.attachment.cni_args)
    network = macvlan_network(bed, mode="overlay", **coordinator)
    pod.extras = [(network, net1)]
    try:
        pod.node.runtime.add(network, net1)
    except Exception as failure:
        raise AssertionError(f"{failure}\n{bed.agent_log(node)}") from None
    return pod, net1


def net1_ip(net1: Attachment) -> str:
    return net1.result["ips"][0]["address"].split("/")[0]


def shape(routes: list[dict]) -> set[str]:
    """`ip route` lines, reduced to dst/via/dev/scope/src, as seed 002 shows them."""
    out = set()
    for r in routes:
        line = r["dst"] + (f" via {r['gateway']}" if r.get("gateway") else "") + f" dev {r['dev']}"
        line += " scope link" if r.get("scope") == "link" else ""
        line += f" src {r['prefsrc']}" if r.get("prefsrc") and r["dst"] != "default" else ""
        out.add(line)
    return out


def rule_shape(rules: list[dict]) -> set[str]:
    return {(f"from {r['src']}" if r.get("src") else "from all") + (f" fwmark {r['fwmark']}" if r.get("fwmark") else "")
            + f" lookup {r['table']}" for r in rules}


def route_set(routes: list[dict]) -> set[tuple]:
    """(dst, via, dev, src) of each route: the same shape for both families (`ip -6` prints no scope)."""
    return {(r["dst"], r.get("gateway"), r["dev"], r.get("prefsrc")) for r in routes}


def eth0_ip(bed: Bed, pod: Pod) -> str:
    return bed.cidrs(pod, "eth0")[0].split("/")[0]


# -- overlay: seed 002 -------------------------------------------------------------------------------

def test_an_overlay_pod_gets_seed_002s_rules_and_routes(bed):
    pod, net1 = overlay_pod(bed, "node1", "seed-002")
    ip, node_ip = net1_ip(net1), NODES["node1"][0]
    ptp_gw = "10.244.1.1"

    assert "from %s lookup 101" % ip in rule_shape(bed.rules(pod))
    main = shape(bed.routes(pod))
    assert {f"default via {ptp_gw} dev eth0", f"10.6.0.0/16 dev net1 scope link src {ip}",
            f"{node_ip} dev eth0 scope link", f"{SERVICE_CIDR} via {node_ip} dev eth0",
            f"{POD_CIDR} via {node_ip} dev eth0"} <= main, main
    assert not any(line.startswith("default") and "net1" in line for line in main)
    table = shape(bed.routes(pod, table="101"))
    assert table == {"default via 10.6.0.1 dev net1", f"10.6.0.0/16 dev net1 scope link src {ip}",
                     f"{node_ip} dev eth0 scope link", f"{SERVICE_CIDR} via {node_ip} dev eth0",
                     f"{POD_CIDR} via {node_ip} dev eth0"}, table


def test_an_overlay_pod_reaches_services_and_its_node_through_eth0_and_the_underlay_through_net1(bed):
    pod, net1 = overlay_pod(bed, "node1", "traffic")
    assert bed.ping(pod, SERVICE_IP, count=2)["received"] >= 1
    assert bed.ping(pod, NODES["node1"][0], count=2)["received"] >= 1
    assert bed.ping(pod, "10.6.0.1", count=2)["received"] >= 1
    via = kernel.ip("-j", "route", "get", "10.7.0.1", "from", net1_ip(net1), netns=pod.netns)
    assert json.loads(via)[0]["dev"] == "net1"  # replies from the underlay IP leave where they came in
    assert bed.ping(pod.node, net1_ip(net1), count=2)["received"] >= 1  # the node, through the host rule table


def test_a_second_overlay_nic_gets_the_next_table(bed):
    pod, net1 = overlay_pod(bed, "node1", "two-nics")
    net2 = Attachment(pod.container_id, "net2", pod.attachment.netns, pod.attachment.cni_args)
    network = pod.extras[0][0]
    pod.extras.append((network, net2))
    pod.node.runtime.add(network, net2)
    ip2 = net2.result["ips"][0]["address"].split("/")[0]
    assert {f"from {net1_ip(net1)} lookup 101", f"from {ip2} lookup 102"} <= rule_shape(bed.rules(pod))
    assert "default via 10.6.0.1 dev net2" in shape(bed.routes(pod, table="102"))
    assert not any(line.startswith("default") and "net2" in line for line in shape(bed.routes(pod)))


def test_the_default_route_follows_the_pod_annotation(bed):
    pod, _ = overlay_pod(bed, "node1", "default-net1", annotations={DEFAULT_ROUTE_NIC: "net1"})
    defaults = [line for line in shape(bed.routes(pod)) if line.startswith("default")]
    assert defaults == ["default via 10.6.0.1 dev net1"]
    assert f"from {eth0_ip(bed, pod)} lookup 100" in rule_shape(bed.rules(pod))  # eth0 still answers via eth0
    assert shape(bed.routes(pod, table="100")) == {"default via 10.244.1.1 dev eth0"}
    assert bed.ping(pod, "10.7.0.1", count=2)["received"] >= 1  # outside, through the underlay gateway
    assert bed.ping(pod, SERVICE_IP, count=2)["received"] >= 1  # services still through eth0


def test_the_nad_entry_wins_over_the_pod_annotation(bed):
    pod, _ = overlay_pod(bed, "node1", "nad-wins", annotations={DEFAULT_ROUTE_NIC: "net1"},
                         podDefaultRouteNic="eth0")
    defaults = [line for line in shape(bed.routes(pod)) if line.startswith("default")]
    assert defaults == ["default via 10.244.1.1 dev eth0"]


def test_del_removes_the_host_routes_and_is_idempotent(bed):
    pod, net1 = overlay_pod(bed, "node1", "del-me")
    ip = net1_ip(net1)
    assert any(r["dst"] == ip for r in bed.routes(pod.node, table="500"))
    network = pod.extras[0][0]
    pod.node.runtime.delete(network, net1)
    assert not any(r["dst"] == ip for r in bed.routes(pod.node, table="500"))
    pod.node.runtime.delete(network, net1)  # again: still success


# -- underlay -------------------------------------------------------------------------------------------

def underlay_pod(bed: Bed, node: str, name: str) -> Pod:
    return bed.run_pod(node, name, network=macvlan_network(bed, mode="underlay"))


def test_an_underlay_pod_gets_veth0_and_the_node_reaches_it_through_it(bed):
    pod = underlay_pod(bed, "node1", "under-0")
    node_ip = NODES["node1"][0]
    assert "veth0" in bed.links(pod)
    assert "veth" + pod.container_id[:11] in bed.links(pod.node)
    main = shape(bed.routes(pod))
    assert f"{node_ip} dev veth0 scope link src {pod.ip}" in main, main
    assert f"{SERVICE_CIDR} via {node_ip} dev veth0 src {pod.ip}" in main, main
    assert "from all lookup 500" in rule_shape(bed.rules(pod.node))
    assert bed.ping(pod.node, pod.ip, count=2)["received"] >= 1
    assert bed.ping(pod, SERVICE_IP, count=2)["received"] >= 1
    assert bed.ping(pod, "10.7.0.1", count=2)["received"] >= 1  # default via the underlay gateway


def test_underlay_pods_on_two_nodes_reach_each_other(bed):
    one, two = underlay_pod(bed, "node1", "under-1"), underlay_pod(bed, "node2", "under-2")
    assert bed.ping(one, two.ip, count=2)["received"] >= 1
    assert bed.ping(two, one.ip, count=2)["received"] >= 1


def test_underlay_del_removes_the_host_veth(bed):
    pod = underlay_pod(bed, "node1", "under-del")
    host_veth = "veth" + pod.container_id[:11]
    bed.delete_pod(pod)
    assert host_veth not in bed.links(pod.node)
    bed.cni_del(pod)  # a retried DEL with the netns gone: success


# -- the NIC knobs -------------------------------------------------------------------------------------

def test_mac_prefix_tx_queue_len_rp_filter_hijack_and_policy_routes_reach_the_kernel(bed):
    before = open("/proc/sys/net/ipv4/conf/all/rp_filter").read()
    pod, net1 = overlay_pod(bed, "node1", "knobs", podMACPrefix="0a:1b", txQueueLen=2000, podRPFilter=2,
                            hijackCIDR=["169.254.0.0/16"], policyRoutes=[{"dst": "172.16.0.0/16", "gw": "10.6.0.254"}])
    ip = net1_ip(net1)
    (link,) = json.loads(kernel.ip("-j", "link", "show", "net1", netns=pod.netns))
    assert link["address"] == "0a:1b:" + ":".join(f"{int(o):02x}" for o in ip.split("."))
    assert link["txqlen"] == 2000
    rp = kernel.exec_in(pod.netns, ["cat", "/proc/sys/net/ipv4/conf/all/rp_filter"]).stdout.decode().strip()
    assert rp == "2"
    assert open("/proc/sys/net/ipv4/conf/all/rp_filter").read() == before  # the pod's, not the agent's
    assert f"169.254.0.0/16 via {NODES['node1'][0]} dev eth0" in shape(bed.routes(pod))
    assert "172.16.0.0/16 via 10.6.0.254 dev net1" in shape(bed.routes(pod, table="101"))
    assert bed.ping(pod, "10.6.0.1", count=2)["received"] >= 1  # the router learns the new MAC


def test_disabled_mode_passes_the_result_through_and_touches_nothing(bed):
    pod = bed.run_pod("node1", "plain", network=ptp_network(bed, "node1"))
    net1 = Attachment(pod.container_id, "net1", pod.attachment.netns, pod.attachment.cni_args)
    network = macvlan_network(bed, mode="disabled")
    pod.extras = [(network, net1)]
    pod.node.runtime.add(network, net1)
    assert net1.result["ips"][0]["address"].startswith("10.6.168.")
    assert not [r for r in bed.rules(pod) if r.get("table") in ("100", "101")]


# -- reply via veth0, veth knobs (underlay) --------------------------------------------------------------

def test_an_underlay_pod_answers_what_came_in_through_veth0_through_veth0(bed):
    """A connection the node forwards into the pod (kube-proxy, a NodePort) is answered back through veth0,
    not straight out of eth0 by the underlay: upstream's CONNMARK + `fwmark 0x1 lookup 100`."""
    pod = underlay_pod(bed, "node1", "reply-veth0")
    node1, node2 = bed.node("node1"), bed.node("node2")
    host_veth = "veth" + pod.container_id[:11]
    assert "from all fwmark 0x1 lookup 100" in rule_shape(bed.rules(pod))
    assert shape(bed.routes(pod, table="100")) == {f"default via {NODES['node1'][0]} dev veth0"}
    mangle = kernel.exec_in(pod.netns, ["iptables-save", "-t", "mangle"]).stdout.decode()
    assert "-A PREROUTING -i veth0 -m conntrack --ctstate NEW -j MARK --set-xmark 0x1/0xffffffff" in mangle, mangle
    assert "-A OUTPUT -j CONNMARK --restore-mark" in mangle, mangle
    kernel.write_sysctl(node1.netns, "net.ipv4.ip_forward", "1")
    kernel.ip("route", "replace", f"{pod.ip}/32", "via", NODES["node1"][0], netns=node2.netns)  # as a NodePort hop
    count = ["iptables", "-w", "-A", "FORWARD", "-i", host_veth, "-d", NODES["node2"][0], "-p", "icmp",
             "--icmp-type", "echo-reply", "-j", "ACCEPT"]
    try:
        assert kernel.exec_in(node1.netns, count).returncode == 0
        answered = bed.ping(node2, pod.ip, count=3)["received"]
        listed = kernel.exec_in(node1.netns, ["iptables", "-w", "-L", "FORWARD", "-v", "-x", "-n"]).stdout.decode()
        replies = int(next(line.split()[0] for line in listed.splitlines() if host_veth in line))
    finally:
        kernel.ip("route", "del", f"{pod.ip}/32", netns=node2.netns)
        kernel.exec_in(node1.netns, ["iptables", "-w", "-D", *count[3:]])
        kernel.write_sysctl(node1.netns, "net.ipv4.ip_forward", "0")
    assert answered >= 1
    assert replies >= answered, f"{replies} replies came back through {host_veth} for {answered} answered pings"


def test_the_reply_marks_are_added_once_however_often_add_runs(bed):
    from coordinator.apply import apply
    from coordinator.plan import REPLY_IPTABLES, Op

    scratch = bed._netns("marks")
    try:
        for _ in range(2):  # a retried ADD
            apply([Op("iptables", "pod", key=family, args=REPLY_IPTABLES) for family in ("4", "6")],
                  pod_netns=scratch, host_netns=None)
        for tool in ("iptables", "ip6tables"):
            listed = kernel.exec_in(scratch, [tool, "-t", "mangle", "-S"]).stdout.decode().splitlines()
            assert len([line for line in listed if line.startswith("-A ")]) == 3, (tool, listed)
    finally:
        kernel.delete_netns(scratch)


def test_veth_mtu_and_link_address_reach_the_veth_pair(bed):
    pod = bed.run_pod("node1", "veth-knobs", network=macvlan_network(bed, mode="underlay", vethMTU=1400,
                                                                          vethLinkAddress="169.254.200.1"))
    (veth0,) = json.loads(kernel.ip("-j", "link", "show", "veth0", netns=pod.netns))
    (peer,) = json.loads(kernel.ip("-j", "link", "show", "veth" + pod.container_id[:11], netns=pod.node.netns))
    assert veth0["mtu"] == peer["mtu"] == 1400
    assert "169.254.200.1/32" in bed.cidrs(pod, "veth0")


# -- dual stack ---------------------------------------------------------------------------------------

def sysctl(netns: str, key: str) -> str:
    return kernel.exec_in(netns, ["cat", "/proc/sys/" + key.replace(".", "/")]).stdout.decode().strip()


def dual_pod(bed: Bed, node: str, name: str) -> Pod:
    """A dual-stack underlay pod whose sandbox starts with IPv6 off (all and default disable_ipv6=1), as
    runtimes leave it on nodes that turn IPv6 off by default."""
    pod = bed.prepare_pod(node, name, network=macvlan_network(bed, DUAL_NAD, mode="underlay"))
    for scope in ("all", "default"):
        kernel.write_sysctl(pod.netns, f"net.ipv6.conf.{scope}.disable_ipv6", "1")
    try:
        bed._add(pod)
    except CniFailure as failure:
        raise AssertionError(f"{failure}\n{bed.agent_log(node)}") from None
    return pod


def family_ips(pod_or_attachment) -> tuple[str, str]:
    ips = [ip["address"].split("/")[0] for ip in pod_or_attachment.result["ips"]]
    return next(ip for ip in ips if ":" not in ip), next(ip for ip in ips if ":" in ip)


def test_a_dual_stack_underlay_pod_gets_ipv6_routes_and_rules_like_the_ipv4_ones(bed):
    pod = dual_pod(bed, "node1", "dual-0")
    ip4, ip6 = family_ips(pod)
    node4, node6 = NODES["node1"][0], NODES6["node1"]
    for key in ("all", "default", "eth0", "veth0"):
        assert sysctl(pod.netns, f"net.ipv6.conf.{key}.disable_ipv6") == "0", key
    for family, node_ip, service, ip in ((4, node4, SERVICE_CIDR, ip4), (6, node6, SERVICE_CIDR6, ip6)):
        main = route_set(bed.routes(pod, family=family))
        assert {(node_ip, None, "veth0", ip), (service, node_ip, "veth0", ip)} <= main, (family, main)
        assert "from all fwmark 0x1 lookup 100" in rule_shape(bed.rules(pod, family=family)), family
        assert route_set(bed.routes(pod, family=family, table="100")) == {("default", node_ip, "veth0", None)}
        assert "from all lookup 500" in rule_shape(bed.rules(pod.node, family=family)), family
        assert (ip, None, "veth" + pod.container_id[:11], None) in route_set(
            bed.routes(pod.node, family=family, table="500"))
    assert bed.ping(pod.node, ip6, count=2)["received"] >= 1  # the node, through the host rule table
    assert bed.ping(pod, SERVICE_IP6, count=2)["received"] >= 1  # a service, through veth0
    assert bed.ping(pod, "fd00:6::1", count=2)["received"] >= 1  # the underlay gateway, through eth0


def test_a_second_dual_stack_underlay_nic_gets_table_101_with_a_rule_per_family(bed):
    pod = dual_pod(bed, "node1", "dual-1")
    net1 = Attachment(pod.container_id, "net1", pod.attachment.netns, pod.attachment.cni_args)
    network = macvlan_network(bed, DUAL_NAD, mode="underlay")
    pod.extras = [(network, net1)]
    try:
        pod.node.runtime.add(network, net1)
    except CniFailure as failure:
        raise AssertionError(f"{failure}\n{bed.agent_log('node1')}") from None
    ip4, ip6 = family_ips(net1)
    for family, ip, gateway in ((4, ip4, "10.6.0.1"), (6, ip6, "fd00:6::1")):
        assert f"from {ip} lookup 101" in rule_shape(bed.rules(pod, family=family)), family
        assert ("default", gateway, "net1", None) in route_set(bed.routes(pod, family=family, table="101"))
        main = bed.routes(pod, family=family)
        assert not [r for r in main if r["dst"] == "default" and "net1" in json.dumps(r)], (family, main)


# -- multi-NIC DEL -------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["net1 then eth0", "eth0 alone"])
def test_deleting_a_two_nic_pod_releases_every_ip(bed, order):
    """Multus DELs net1 then eth0; when net1's DEL never comes (a lost delegate), eth0's frees it as well."""
    pod = underlay_pod(bed, "node1", "two-nic-" + order.split()[0])
    net1 = Attachment(pod.container_id, "net1", pod.attachment.netns, pod.attachment.cni_args)
    network = macvlan_network(bed, mode="underlay")
    pod.extras = [(network, net1)]
    pod.node.runtime.add(network, net1)
    assert len(bed.records_of(pod)) == 2 and net1_ip(net1) in bed.records_of(pod)
    bed.terminate_pod(pod)
    if order == "net1 then eth0":
        pod.node.runtime.delete(network, net1)
    pod.node.runtime.delete(pod.network, pod.attachment)
    assert bed.records_of(pod) == {}, bed.agent_log("node1")
    assert bed.endpoint(pod) is None
    if order == "eth0 alone":
        pod.node.runtime.delete(network, net1)  # the late DEL: nothing left to free, and success


# -- detectIPConflict (last in the module: the intruder's addresses must not linger in neighbour caches) --

def test_an_ip_already_held_on_the_l2_fails_add_naming_the_holders_mac_and_frees_the_pods_record(bed):
    intruder = bed._netns("intruder")  # on the switch, holding every address the pool could hand out
    try:
        bed._plug("eth0", intruder, bed._switch(None))
        for last in range(60, 80):
            kernel.add_address("eth0", f"10.6.168.{last}/16", intruder)
        kernel.set_up("eth0", intruder)
        (link,) = json.loads(kernel.ip("-j", "link", "show", "eth0", netns=intruder))
        with pytest.raises(CniFailure) as failure:
            bed.run_pod("node1", "conflicted", network=macvlan_network(bed, mode="underlay", detectIPConflict=True))
        pod = failure.value.pod
        assert failure.value.plugin == "coordinator" and failure.value.code == 100, failure.value
        assert link["address"] in failure.value.msg and "10.6.168." in failure.value.msg, failure.value.msg
        assert "released" in failure.value.msg, failure.value.msg
        assert bed.records_of(pod) == {}, bed.agent_log("node1")
    finally:
        kernel.delete_netns(intruder)
