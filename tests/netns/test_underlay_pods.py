"""Pods get underlay IPs through the real chain: macvlan -> our `spiderpool` IPAM -> `spiderpool agent`.

One namespace cluster per module (seed 003's two zones on one L2 segment):

    router   10.6.0.1/16  10.7.0.1/16  10.8.0.1/16   (the pools' gateways; forwards between zones)
    node1    10.6.0.11/16  node-subnet=subnet-6
    node2    10.6.0.12/16  node-subnet=subnet-6
    node3    10.7.0.13/16  node-subnet=subnet-7

The spec below is applied with `spiderpool apply`; the network comes back from the
NetworkAttachmentDefinition it rendered, as Multus would read it. Every test's pods
are torn down (CNI DEL, namespace, object) after it, pass or fail.
"""

from __future__ import annotations

import ipaddress
import json
import time

import pytest

from tests.cluster.api import RealCluster

from .bed import Bed, Pod
from .requirements import require_agent_bed
from .runtime import VERSIONS, CniFailure, Network

SPEC = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: netns-underlay
spec:
  cluster:
    ipVersions: [4]
  zones:
    - name: zone-6
      nodeSelector: {matchLabels: {node-subnet: subnet-6}}
    - name: zone-7
      nodeSelector: {matchLabels: {node-subnet: subnet-7}}
  ippools:
    - name: test-ippool-6
      subnet: 10.6.0.0/16
      ips: [10.6.168.60-10.6.168.69]
      gateway: 10.6.0.1
      routes: [{dst: 172.30.0.0/16, gw: 10.6.0.254}]
      zones: [zone-6]
    - name: test-ippool-7
      subnet: 10.7.0.0/16
      ips: [10.7.168.60-10.7.168.69]
      gateway: 10.7.0.1
      zones: [zone-7]
    - name: one-ip-pool
      subnet: 10.8.0.0/16
      ips: [10.8.0.10]
      gateway: 10.8.0.1
  networks:
    - name: macvlan-ens192
      namespace: kube-system
      type: macvlan
      master: ens192
      mode: bridge
      cniVersion: 1.0.0
      ippools: {ipv4: [test-ippool-6, test-ippool-7]}
      coordinator: false
"""
NAD = "kube-system/macvlan-ens192"
POOL_6 = ipaddress.ip_network("10.6.0.0/16")
POOL_6_IPS = {f"10.6.168.{i}" for i in range(60, 70)}
POOL_7_IPS = {f"10.7.168.{i}" for i in range(60, 70)}
IPPOOL = "ipam.spidernet.io/ippool"
BOTH_ZONES = json.dumps({"ipv4": ["test-ippool-6", "test-ippool-7"]})
INVALID_NETWORK_CONFIG, TRY_AGAIN_LATER, NOT_AVAILABLE = 7, 11, 50  # CNI spec error codes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, real_control_plane):
    require_agent_bed()
    spec = tmp_path_factory.mktemp("spec") / "spec.yaml"
    spec.write_text(SPEC)
    with Bed(server=RealCluster(real_control_plane)) as bed:
        bed.add_switch()
        bed.add_router(addresses=["10.6.0.1/16", "10.7.0.1/16", "10.8.0.1/16"])
        bed.add_node("node1", address="10.6.0.11/16", labels={"node-subnet": "subnet-6"})
        bed.add_node("node2", address="10.6.0.12/16", labels={"node-subnet": "subnet-6"})
        bed.add_node("node3", address="10.7.0.13/16", labels={"node-subnet": "subnet-7"})
        bed.install_plugins()
        bed.apply(spec)
        bed.start_agents()
        yield bed


@pytest.fixture
def bed(cluster):
    """The module's cluster; every pod a test started is torn down afterwards."""
    yield cluster
    errors = cluster.delete_all_pods()
    assert not errors, f"tearing the pods down failed: {errors}\n" + "\n".join(
        cluster.agent_log(n) for n in cluster.nodes)


@pytest.fixture
def network(bed) -> Network:
    return bed.network(NAD)


def explain(bed: Bed, *pods: Pod) -> str:
    """Context for a failed assertion: the agents' last words."""
    return "\n".join(bed.agent_log(n) for n in sorted({p.node.name for p in pods} or bed.nodes))


def route_table(bed: Bed, pod: Pod) -> dict[str, str | None]:
    return {r["dst"]: r.get("gateway") for r in bed.routes(pod) if r.get("dev") == pod.ifname}


def assert_released(bed: Bed, pod: Pod) -> None:
    assert bed.records_of(pod) == {}, f"{pod.key} still holds IPs\n{explain(bed, pod)}"
    assert bed.endpoint(pod) is None, f"the SpiderEndpoint of {pod.key} is still there"


# -- ADD through the chain -------------------------------------------------------------------------

def test_a_pod_gets_an_ip_of_its_zone_pool_with_the_gateway_route_and_the_pool_routes(bed, network):
    pod = bed.run_pod("node1", "web-0", network=network)

    (cidr,) = pod.cidrs()
    ip, prefix = cidr.split("/")
    assert ip in POOL_6_IPS and prefix == "16", explain(bed, pod)
    assert pod.result["ips"][0]["gateway"] == "10.6.0.1"
    assert bed.cidrs(pod) == [cidr]  # what the kernel has, not what the plugin said
    routes = route_table(bed, pod)
    assert routes["default"] == "10.6.0.1"
    assert routes["172.30.0.0/16"] == "10.6.0.254"
    assert routes[str(POOL_6)] is None  # the connected route of the /16
    record = bed.allocations("test-ippool-6")[ip]
    assert (record["pod"], record["podUid"]) == ("default/web-0", pod.uid)
    assert bed.ping(pod, "10.6.0.1")["received"] == 1


def test_pods_on_two_nodes_reach_each_other_over_the_macvlan_l2(bed, network):
    a = bed.run_pod("node1", "ping-a", network=network)
    b = bed.run_pod("node2", "ping-b", network=network)

    assert a.ip != b.ip and {a.ip, b.ip} <= POOL_6_IPS
    there, back = bed.ping(a, b.ip, count=2), bed.ping(b, a.ip, count=2)
    assert there["received"] == 2 and back["received"] == 2
    assert there["ttls"] == [64, 64]  # same segment: no router in between


def test_del_releases_the_ip_and_removes_the_link_and_a_second_del_succeeds(bed, network):
    pod = bed.run_pod("node1", "gone-0", network=network)
    assert set(bed.records_of(pod)) == {pod.ip}

    bed.terminate_pod(pod)  # kubectl delete: terminating; then the kubelet stops the sandbox
    bed.cni_del(pod)

    assert pod.ifname not in bed.links(pod)
    assert_released(bed, pod)
    bed.cni_del(pod)  # again: no cached result any more
    bed.delete_pod(pod)  # and once more without a namespace (no CNI_NETNS); the object goes
    assert_released(bed, pod)


def test_a_re_created_sandbox_keeps_the_ip_of_its_live_pod(bed, network):
    pod = bed.run_pod("node2", "restarted-0", network=network)
    first = pod.ip

    bed.restart_sandbox(pod)  # DEL while the pod object lives, then ADD with a new container ID

    assert pod.ip == first and bed.cidrs(pod) == pod.cidrs(), explain(bed, pod)
    assert bed.records_of(pod) == {first: "test-ippool-6"}
    bed.delete_pod(pod)
    assert_released(bed, pod)


def test_a_released_ip_serves_the_next_pod_of_a_full_pool(bed, network):
    annotations = {IPPOOL: json.dumps({"ipv4": ["one-ip-pool"]})}
    first = bed.run_pod("node1", "full-0", annotations=annotations, network=network)
    assert first.cidrs() == ["10.8.0.10/16"]
    bed.delete_pod(first)

    second = bed.run_pod("node2", "full-1", annotations=annotations, network=network)

    assert second.cidrs() == ["10.8.0.10/16"], explain(bed, first, second)
    assert bed.allocations("one-ip-pool") == {"10.8.0.10": {**bed.allocations("one-ip-pool")["10.8.0.10"],
                                                            "pod": "default/full-1", "podUid": second.uid}}


# -- every CNI version ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_a_pod_lives_and_dies_through_the_chain_at_every_cni_version(bed, network, version):
    node = bed.nodes["node2"]
    supported = node.runtime.version_info("macvlan")["supportedVersions"]
    if version not in supported:
        pytest.skip(f"the reference macvlan here speaks CNI {', '.join(supported)}, not {version} "
                    "(Debian bookworm ships containernetworking-plugins 1.1.1); our IPAM plugin at "
                    f"{version} is covered by test_the_ipam_plugin_serves_cni_1_1_as_a_main_plugin_calls_it")
    network = network.at_version(version)
    pod = bed.run_pod(node, f"v{version.replace('.', '')}", network=network)

    assert pod.result["cniVersion"] == version
    assert pod.ip in POOL_6_IPS and bed.cidrs(pod) == pod.cidrs()
    assert route_table(bed, pod)["default"] == "10.6.0.1"
    if version != "0.3.1":
        bed.check_pod(pod)  # macvlan checks its link and asks our IPAM to check the reservation
    bed.terminate_pod(pod)
    bed.cni_del(pod)
    assert pod.ifname not in bed.links(pod)
    assert_released(bed, pod)
    bed.delete_pod(pod)


def test_check_fails_once_the_reservation_is_gone(bed, network):
    pod = bed.run_pod("node1", "checked-0", network=network)
    bed.check_pod(pod)
    status = bed.cluster.pool("test-ippool-6")["status"]
    records = bed.allocations("test-ippool-6")
    del records[pod.ip]  # someone else freed it (a GC gone wrong, a hand edit)
    bed.cluster.patch_pool_status("test-ippool-6", {**status, "allocatedIPs": json.dumps(records),
                                                    "allocatedIPCount": len(records)})

    failure = _eventually_fails(lambda: bed.check_pod(pod))

    assert failure.plugin == "macvlan" and failure.code is not None, explain(bed, pod)
    assert pod.ip in failure.msg + failure.details, str(failure)


def test_the_ipam_plugin_serves_cni_1_1_as_a_main_plugin_calls_it(bed, network):
    """ADD, CHECK, STATUS and DEL at 1.1.0, each the exact call a 1.1.0 macvlan makes to its IPAM.

    (Debian's macvlan speaks CNI up to 1.0.0: the bed makes the delegated calls itself.)
    """
    network = network.at_version("1.1.0")
    pod = bed.prepare_pod("node1", "v110", network=network)

    result = bed.delegate_ipam("node1", "ADD", network, pod=pod)

    assert result["cniVersion"] == "1.1.0" and "interfaces" not in result, result  # the abbreviated IPAM form
    assert "version" not in result["ips"][0] and pod.ip in POOL_6_IPS
    assert {"dst": "0.0.0.0/0", "gw": "10.6.0.1"} in result["routes"]
    assert set(bed.records_of(pod)) == {pod.ip}
    bed.delegate_ipam("node1", "CHECK", network, pod=pod)
    assert bed.delegate_ipam("node1", "STATUS", network) is None
    bed.terminate_pod(pod)
    bed.delegate_ipam("node1", "DEL", network, pod=pod)
    bed.delegate_ipam("node1", "DEL", network, pod=pod)
    assert_released(bed, pod)


@pytest.mark.parametrize("vanished", ["terminating", "deleted"])
def test_gc_releases_what_the_runtime_no_longer_lists_and_only_on_its_own_node(bed, network, vanished):
    """GC with `cni.dev/valid-attachments` (1.1.0) frees a sandbox lost without DEL, whatever its pod's state.

    Upstream's macvlan does not pass GC on to its IPAM (and Debian's speaks no 1.1.0 at all),
    so the bed sends GC to our IPAM as a main plugin forwarding it would.
    """
    network = network.at_version("1.1.0")
    kept = bed.prepare_pod("node1", "gc-kept", network=network)
    lost = bed.prepare_pod("node1", "gc-lost", network=network)
    elsewhere = bed.prepare_pod("node2", "gc-elsewhere", network=network)
    for pod in (kept, lost, elsewhere):
        bed.delegate_ipam(pod.node, "ADD", network, pod=pod)
    if vanished == "terminating":
        bed.terminate_pod(lost)  # the kubelet died mid-teardown: the pod waits, its sandbox is gone
    bed.abandon_pod(lost, delete_object=vanished == "deleted")  # no DEL: the runtime lost the sandbox
    valid = [{"containerID": kept.container_id, "ifname": kept.ifname}]

    bed.delegate_ipam("node1", "GC", network, extra={"cni.dev/valid-attachments": valid,
                                                      "cni.dev/attachments": valid})

    assert bed.records_of(lost) == {}, (f"endpoint of {lost.key}: {bed.endpoint(lost)}\n" + explain(bed, lost))
    assert set(bed.records_of(kept)) == {kept.ip}
    assert set(bed.records_of(elsewhere)) == {elsewhere.ip}  # node1's runtime does not speak for node2


def test_status_says_not_available_when_the_agent_cannot_be_reached(bed, network):
    network = network.at_version("1.1.0")
    with pytest.raises(CniFailure) as failure:
        bed.delegate_ipam("node1", "STATUS", network, env={"SPIDERPOOL_SOCKET": str(bed.workdir / "nobody.sock")})
    assert failure.value.code == NOT_AVAILABLE
    assert "nobody.sock" in failure.value.msg + failure.value.details


# -- cross-zone (seed 003) ---------------------------------------------------------------------------

def test_pods_in_two_zones_get_their_own_zones_pool_and_reach_each_other_through_the_router(bed, network):
    annotations = {IPPOOL: BOTH_ZONES}
    six = bed.run_pod("node1", "test-app-6", annotations=annotations, network=network)
    seven = bed.run_pod("node3", "test-app-7", annotations=annotations, network=network)

    assert six.ip in POOL_6_IPS and six.result["ips"][0]["gateway"] == "10.6.0.1", explain(bed, six)
    assert seven.ip in POOL_7_IPS and seven.result["ips"][0]["gateway"] == "10.7.0.1", explain(bed, seven)
    assert bed.cidrs(seven) == [f"{seven.ip}/16"]
    assert route_table(bed, seven)["default"] == "10.7.0.1"
    assert set(bed.records_of(six).values()) == {"test-ippool-6"}
    assert set(bed.records_of(seven).values()) == {"test-ippool-7"}
    reply = bed.ping(six, seven.ip, count=2)
    assert reply["received"] == 2 and reply["ttls"] == [63, 63]  # routed once, as in the seed's output


# -- bad input through the real chain ---------------------------------------------------------------

BAD_ANNOTATIONS = {
    "an unknown pool": ({IPPOOL: json.dumps({"ipv4": ["no-such-pool"]})}, INVALID_NETWORK_CONFIG,
                        ["wrong input", "IPPool 'no-such-pool', which does not exist", IPPOOL]),
    "an annotation that is not JSON": ({IPPOOL: '{"ipv4": ["test-ippool-6"'}, INVALID_NETWORK_CONFIG,
                                       [f"annotation {IPPOOL}: not valid JSON", "default/bad-0"]),
}


@pytest.mark.parametrize("case", sorted(BAD_ANNOTATIONS))
def test_a_bad_annotation_fails_the_add_with_a_pointed_error_and_leaves_nothing(bed, network, case):
    annotations, code, words = BAD_ANNOTATIONS[case]
    with pytest.raises(CniFailure) as raised:
        bed.run_pod("node1", "bad-0", annotations=annotations, network=network)
    failure, pod = raised.value, raised.value.pod

    assert failure.code == code, str(failure)
    for word in words:
        assert word in failure.msg, str(failure)
    assert_left_nothing(bed, pod)


def test_an_exhausted_pool_fails_the_add_with_try_again_later_and_leaves_nothing(bed, network):
    annotations = {IPPOOL: json.dumps({"ipv4": ["one-ip-pool"]})}
    first = bed.run_pod("node1", "only-0", annotations=annotations, network=network)
    assert first.cidrs() == ["10.8.0.10/16"]

    with pytest.raises(CniFailure) as raised:
        bed.run_pod("node2", "only-1", annotations=annotations, network=network)
    failure, pod = raised.value, raised.value.pod

    assert failure.code == TRY_AGAIN_LATER, str(failure)
    assert "all IP addresses used out" in failure.msg and "one-ip-pool: exhausted" in failure.msg, str(failure)
    assert_left_nothing(bed, pod)
    assert set(bed.allocations("one-ip-pool")) == {"10.8.0.10"}
    assert bed.allocations("one-ip-pool")["10.8.0.10"]["podUid"] == first.uid
    only_that_pool = network.with_ipam(default_ipv4_ippool=["one-ip-pool"]).at_version("1.1.0")
    with pytest.raises(CniFailure) as status:  # STATUS: a network whose every pool is full is not available
        bed.delegate_ipam("node1", "STATUS", only_that_pool)
    assert status.value.code == NOT_AVAILABLE and "one-ip-pool" in status.value.msg, str(status.value)


def assert_left_nothing(bed: Bed, pod: Pod) -> None:
    assert_released(bed, pod)
    bed.terminate_pod(pod)
    bed.cni_del(pod)  # the runtime's DEL after a failed ADD must succeed too
    assert pod.ifname not in bed.links(pod)  # Debian's macvlan leaves its link after an IPAM failure; DEL takes it
    assert_released(bed, pod)
    bed.delete_pod(pod)


# -- helpers ---------------------------------------------------------------------------------------

def _eventually_fails(call, *, timeout: float = 10.0) -> CniFailure:
    """Repeat `call` until it raises CniFailure (the agent's cache catches up) -> that failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
        except CniFailure as failure:
            return failure
        if time.monotonic() > deadline:
            raise AssertionError(f"still succeeding after {timeout:g} s")
        time.sleep(0.1)
