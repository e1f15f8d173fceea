"""VLAN networks through the real chain: ifacer makes `<master>.<vlanID>` (or a bond) on the node, Debian's
macvlan sits on it, our IPAM gives the pod its address, and the pod reaches its gateway on that VLAN.

One namespace cluster per module:

    router   eth0 (untagged, no address), eth0.100 10.100.0.1/16, eth0.200 10.200.0.1/16
    node1    ens192 10.6.0.11/16, ens224 (no address): both on the switch

The gateways exist only on the router's VLAN interfaces, so a pod that reaches one sent tagged frames:
its macvlan sits on the VLAN interface ifacer made. A kernel without 802.1Q (CONFIG_VLAN_8021Q) or
bonding (CONFIG_BONDING) cannot run these; they skip saying so (the first test needs neither).
"""

from __future__ import annotations

import functools
import json

import pytest

from tests.cluster.api import RealCluster

from . import kernel
from .bed import Bed
from .requirements import require_agent_bed
from .runtime import Network

SPEC = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: netns-vlan
spec:
  cluster:
    ipVersions: [4]
  ippools:
    - name: plain-6
      subnet: 10.6.0.0/16
      ips: [10.6.168.60-10.6.168.69]
      gateway: 10.6.0.1
    - name: vlan-100
      subnet: 10.100.0.0/16
      ips: [10.100.0.10-10.100.0.19]
      gateway: 10.100.0.1
    - name: vlan-200
      subnet: 10.200.0.0/16
      ips: [10.200.0.10-10.200.0.19]
      gateway: 10.200.0.1
  networks:
    - name: plain
      namespace: kube-system
      type: macvlan
      master: ens192
      cniVersion: 1.0.0
      ippools: {ipv4: [plain-6]}
      coordinator: false
    - name: vlan100
      namespace: kube-system
      type: macvlan
      master: ens192
      vlanID: 100
      cniVersion: 1.0.0
      ippools: {ipv4: [vlan-100]}
      coordinator: false
    - name: bond-vlan200
      namespace: kube-system
      type: macvlan
      master: [ens192, ens224]
      vlanID: 200
      bond: {name: bond0, mode: 1, options: "miimon=100"}
      cniVersion: 1.0.0
      ippools: {ipv4: [vlan-200]}
      coordinator: false
"""


@functools.cache
def missing_link_kind(kind: str) -> str | None:
    """Why the kernel cannot make a `kind` link ("vlan", "bond"), or None: tried in a scratch namespace."""
    probe = f"spnb-probe-{kind}"
    kernel.delete_netns(probe)
    kernel.add_netns(probe)
    try:
        kernel.ip("link", "add", "probe0", "type", "veth", "peer", "name", "probe1", netns=probe)
        args = ["link", "probe0", "name", "probe0.7", "type", "vlan", "id", "7"] if kind == "vlan" else \
            ["name", "probe-bond", "type", "bond"]
        kernel.ip("link", "add", *args, netns=probe)
        return None
    except kernel.KernelError as error:
        feature = "802.1Q VLAN (CONFIG_VLAN_8021Q)" if kind == "vlan" else "bonding (CONFIG_BONDING)"
        return f"this kernel has no {feature} support: {error}"
    finally:
        kernel.delete_netns(probe)


def require(kind: str) -> None:
    reason = missing_link_kind(kind)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, real_control_plane):
    require_agent_bed()
    spec = tmp_path_factory.mktemp("spec") / "spec.yaml"
    spec.write_text(SPEC)
    with Bed(server=RealCluster(real_control_plane)) as bed:
        switch = bed.add_switch()
        router = bed.add_router(addresses=["10.6.0.1/16"])
        if missing_link_kind("vlan") is None:
            for vlan in (100, 200):
                kernel.ip("link", "add", "link", "eth0", "name", f"eth0.{vlan}", "type", "vlan", "id", str(vlan),
                          netns=router)
                kernel.add_address(f"eth0.{vlan}", f"10.{vlan}.0.1/16", router)
                kernel.set_up(f"eth0.{vlan}", router)
        node = bed.add_node("node1", address="10.6.0.11/16", switch=switch)
        bed._plug("ens224", node.netns, switch)
        kernel.set_up("ens224", node.netns)
        bed.install_plugins()
        bed.apply(spec)
        bed.start_agents()
        yield bed


@pytest.fixture
def bed(cluster):
    yield cluster
    errors = cluster.delete_all_pods()
    assert not errors, f"tearing the pods down failed: {errors}\n{cluster.agent_log('node1')}"


def link(bed: Bed, name: str) -> dict | None:
    found = [entry for entry in kernel.ip_json("-d", "link", "show", netns=bed.node("node1").netns)
             if entry["ifname"] == name]
    return found[0] if found else None


def test_ifacer_before_macvlan_hands_it_a_result_it_takes(bed):
    """Needs no VLAN support: ifacer on a plain master only checks it is up; macvlan and our IPAM follow."""
    plain = bed.network("kube-system/plain").to_dict()
    plain["plugins"].insert(0, {"type": "ifacer", "interfaces": ["ens192"]})
    pod = bed.run_pod("node1", "plain-0", network=Network.parse(plain))
    assert pod.ip.startswith("10.6.168.")
    assert bed.ping(pod, "10.6.0.1", count=2)["received"] >= 1
    bed.check_pod(pod)


def test_a_vlan_network_gets_its_sub_interface_made_once_and_kept_for_the_other_pods(bed):
    require("vlan")
    network = bed.network("kube-system/vlan100")
    assert [p["type"] for p in network.plugins] == ["ifacer", "macvlan"]
    assert link(bed, "ens192.100") is None
    first = bed.run_pod("node1", "vlan-0", network=network)
    made = link(bed, "ens192.100")
    assert made is not None and made["linkinfo"]["info_kind"] == "vlan", made
    assert made["linkinfo"]["info_data"]["id"] == 100 and made["link"] == "ens192" and "UP" in made["flags"]
    assert first.ip.startswith("10.100.0.")
    assert bed.ping(first, "10.100.0.1", count=2)["received"] >= 1  # tagged: the gateway is only on eth0.100
    second = bed.run_pod("node1", "vlan-1", network=network)
    assert link(bed, "ens192.100")["ifindex"] == made["ifindex"]  # the same interface, not made again
    bed.delete_pod(first)
    assert link(bed, "ens192.100") is not None  # DEL leaves it: the second pod's macvlan sits on it
    assert bed.ping(second, "10.100.0.1", count=2)["received"] >= 1
    bed.check_pod(second)


def test_a_bonded_vlan_network_gets_the_bond_of_its_masters_and_the_vlan_on_it(bed):
    require("vlan")
    require("bond")
    pod = bed.run_pod("node1", "bond-0", network=bed.network("kube-system/bond-vlan200"))
    bond = link(bed, "bond0")
    assert bond is not None and bond["linkinfo"]["info_kind"] == "bond", bond
    assert bond["linkinfo"]["info_data"]["mode"] == "active-backup"
    assert bond["linkinfo"]["info_data"]["miimon"] == 100
    assert {link(bed, name).get("master") for name in ("ens192", "ens224")} == {"bond0"}
    vlan = link(bed, "bond0.200")
    assert vlan["link"] == "bond0" and vlan["linkinfo"]["info_data"]["id"] == 200
    assert bed.ping(pod, "10.200.0.1", count=2)["received"] >= 1
    assert json.loads(kernel.ip("-j", "link", "show", "bond0.200", netns=bed.node("node1").netns))
