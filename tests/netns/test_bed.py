"""The test bed itself, against the reference plugins only (macvlan + host-local, no agent).

If these fail, the underlay tests' failures say nothing about our plugin: the
runtime stand-in, the topology or the read-back is wrong.
"""

from __future__ import annotations

import subprocess

import pytest

from . import kernel
from .bed import NAME_PATTERN, PREFIX, WORK_ROOT, Bed
from .requirements import require_namespaces
from .runtime import CniFailure, GcFailed, Network

CHAIN_VERSIONS = ("0.3.1", "0.4.0", "1.0.0")


@pytest.fixture
def bed():
    """A bed without an API server: a switch and the CNI_PATH; everything removed afterwards."""
    require_namespaces()
    with Bed(cluster=False) as bed:
        bed.add_switch()
        bed.install_plugins()
        yield bed


def host_local(bed: Bed, *, version: str = "1.0.0", start: str = "10.6.200.1", end: str = "10.6.200.50",
               name: str = "hl") -> Network:
    return Network.parse({"cniVersion": version, "name": name, "plugins": [{
        "type": "macvlan", "master": "ens192", "mode": "bridge",
        "ipam": {"type": "host-local", "dataDir": str(bed.workdir / f"leases-{name}"),
                 "ranges": [[{"subnet": "10.6.0.0/16", "rangeStart": start, "rangeEnd": end, "gateway": "10.6.0.1"}]],
                 "routes": [{"dst": "0.0.0.0/0"}, {"dst": "172.30.0.0/16", "gw": "10.6.0.254"}]}}]})


def lease_files(bed: Bed, network: Network) -> set[str]:
    directory = bed.workdir / f"leases-{network.name}" / network.name
    return {p.name for p in directory.iterdir() if p.name[0].isdigit()} if directory.exists() else set()


@pytest.mark.parametrize("version", CHAIN_VERSIONS)
def test_a_pod_gets_its_address_and_routes_from_the_chain_and_loses_them_on_del(bed, version):
    node = bed.add_node("node1", address="10.6.0.11/16")
    network = host_local(bed, version=version)

    pod = bed.run_pod(node, "web-0", network=network)

    assert pod.result["cniVersion"] == version
    assert pod.cidrs() == ["10.6.200.1/16"]
    assert ("version" in pod.result["ips"][0]) == version.startswith("0.")  # 1.0.0 dropped ips[].version
    assert bed.cidrs(pod) == ["10.6.200.1/16"]
    routes = {r["dst"]: r.get("gateway") for r in bed.routes(pod)}
    assert routes["default"] == "10.6.0.1" and routes["172.30.0.0/16"] == "10.6.0.254"
    if version != "0.3.1":
        bed.check_pod(pod)

    bed.cni_del(pod)
    assert "eth0" not in bed.links(pod) and lease_files(bed, network) == set()
    bed.delete_pod(pod)  # again, now without a cached result or a namespace
    assert not kernel.netns_exists(pod.netns)


def test_check_is_refused_before_cni_0_4_0_as_libcni_does(bed):
    node = bed.add_node("node1", address="10.6.0.11/16")
    pod = bed.run_pod(node, "web-0", network=host_local(bed, version="0.3.1"))
    with pytest.raises(ValueError, match="does not support the CHECK command"):
        bed.check_pod(pod)


def test_pods_reach_each_other_over_the_switch_and_other_subnets_through_the_router(bed):
    bed.add_router(addresses=["10.6.0.1/16", "10.7.0.1/16"])
    node1 = bed.add_node("node1", address="10.6.0.11/16")
    node2 = bed.add_node("node2", address="10.6.0.12/16")
    a = bed.run_pod(node1, "a", network=host_local(bed, name="a"))
    b = bed.run_pod(node2, "b", network=host_local(bed, name="b", start="10.6.201.1", end="10.6.201.9"))
    other = Network.parse({**host_local(bed, name="c").to_dict(), "plugins": [{
        "type": "macvlan", "master": "ens192", "mode": "bridge",
        "ipam": {"type": "host-local", "dataDir": str(bed.workdir / "leases-c"),
                 "ranges": [[{"subnet": "10.7.0.0/16", "rangeStart": "10.7.0.50", "rangeEnd": "10.7.0.59",
                              "gateway": "10.7.0.1"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]})
    c = bed.run_pod(node2, "c", network=other)

    same_l2 = bed.ping(a, b.ip, count=2)
    routed = bed.ping(a, c.ip)
    assert same_l2["received"] == 2 and same_l2["ttls"] == [64, 64]
    assert routed["received"] == 1 and routed["ttls"] == [63]  # one hop through the router
    assert bed.ping(a, "10.6.0.1")["received"] == 1


def test_a_plugin_error_reaches_the_runtime_with_its_code_and_message(bed):
    node = bed.add_node("node1", address="10.6.0.11/16")
    with pytest.raises(CniFailure) as failure:
        bed.run_pod(node, "web-0", network=host_local(bed).at_version("9.9.9"))
    assert failure.value.code == 1 and failure.value.msg == "incompatible CNI versions"
    assert "9.9.9" in failure.value.details
    assert failure.value.pod.name == "web-0"


def test_gc_before_cni_1_1_deletes_cached_attachments_missing_from_the_valid_list(bed):
    node = bed.add_node("node1", address="10.6.0.11/16")
    network = host_local(bed)
    kept = bed.run_pod(node, "kept", network=network)
    stale = bed.run_pod(node, "stale", network=network)

    bed.gc(node, network, valid=[kept])

    assert lease_files(bed, network) == {kept.ip}
    assert "eth0" not in bed.links(stale) and bed.cidrs(kept) == kept.cidrs()
    assert stale.result is None


def test_gc_at_cni_1_1_collects_the_failure_of_a_plugin_that_cannot_take_it(bed):
    node = bed.add_node("node1", address="10.6.0.11/16")
    network = host_local(bed)
    bed.run_pod(node, "web-0", network=network)
    if node.runtime.supports("macvlan", "1.1.0"):
        pytest.skip("this macvlan speaks CNI 1.1.0")
    with pytest.raises(GcFailed) as failed:  # Debian's macvlan predates GC: it refuses the call
        bed.gc(node, network.at_version("1.1.0"))
    assert [f.plugin for f in failed.value.failures] == ["macvlan"]


def test_close_removes_every_namespace_and_the_work_dir():
    require_namespaces()
    bed = Bed(cluster=False)
    bed.add_switch()
    bed.add_router(addresses=["10.6.0.1/16"])
    bed.add_node("node1", address="10.6.0.11/16")
    bed._netns("p1")
    assert len([n for n in kernel.list_netns() if n.startswith(bed.id)]) == 4
    bed.close()
    assert [n for n in kernel.list_netns() if n.startswith(bed.id)] == []
    assert not bed.workdir.exists()


def test_a_new_bed_sweeps_what_a_dead_run_left_and_spares_live_ones():
    require_namespaces()
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid names no process now
    leftover, workdir = f"{PREFIX}{dead.pid}-beef-node1", WORK_ROOT / f"{PREFIX}{dead.pid}-beef-x1"
    kernel.add_netns(leftover)
    workdir.mkdir()
    try:
        with Bed(cluster=False) as bed:
            live = bed._netns("node1")
            assert not kernel.netns_exists(leftover) and not workdir.exists()
            kernel.sweep(NAME_PATTERN, workdirs=WORK_ROOT)  # our own run is alive: kept
            assert kernel.netns_exists(live)
    finally:
        kernel.delete_netns(leftover)
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


def test_status_is_skipped_before_cni_1_1_and_asks_every_plugin_from_it_on(bed):
    node = bed.add_node("node1", address="10.6.0.11/16")
    network = host_local(bed)
    bed.status(node, network)  # 1.0.0: libcni does not ask
    if node.runtime.supports("macvlan", "1.1.0"):
        pytest.skip("this macvlan speaks CNI 1.1.0")
    with pytest.raises(CniFailure) as failure:
        bed.status(node, network.at_version("1.1.0"))
    assert failure.value.plugin == "macvlan" and failure.value.command == "STATUS"
