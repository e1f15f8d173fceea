"""Rendering: the objects a spec becomes, in upstream Spiderpool's dialect."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reconciler.pipeline import render_path
from tests.conftest import EXAMPLES, REPO, spec_examples

OWNER_LABELS = {"app.kubernetes.io/managed-by": "spiderpool-gitops", "gitops.spidernet.io/spec": "demo"}


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def nad_config(obj):
    return json.loads(obj["spec"]["config"])


def test_every_object_carries_ownership_labels_and_its_source_line(write_spec):
    path = write_spec("""\
        spec:
          subnets:
            - {name: s6, subnet: 10.6.0.0/16, ips: [10.6.1.0-10.6.1.255], calicoIPPool: {}}
          ippools:
            - name: p6
              subnet: 10.6.0.0/16
              ips: [10.6.1.10-10.6.1.20]
          reservedIPs:
            - {name: routers, ips: [10.6.1.1]}
          networks:
            - {name: mv, type: macvlan, master: ens192}
          coordinator: {mode: overlay}
        """)
    objects = render_path(path)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("SpiderSubnet", "s6"), ("SpiderIPPool", "p6"), ("SpiderReservedIP", "routers"),
        ("SpiderCoordinator", "default"), ("NetworkAttachmentDefinition", "mv"), ("IPPool", "s6")]
    for obj in objects:
        assert OWNER_LABELS.items() <= obj["metadata"]["labels"].items()
    sources = [o["metadata"]["annotations"]["gitops.spidernet.io/source"] for o in objects]
    assert sources == ["spec.yaml:7", "spec.yaml:9", "spec.yaml:13", "spec.yaml:16", "spec.yaml:15", "spec.yaml:7"]


def test_pools_carry_upstream_fields_and_labels(write_spec):
    path = write_spec("""\
        spec:
          zones:
            - {name: zone-6, nodeSelector: {matchLabels: {node-subnet: subnet-6}}}
          subnets:
            - name: s6
              subnet: 10.6.0.0/16
              ips: [10.6.168.0-10.6.168.255]
              gateway: 10.6.0.1
              routes: [{dst: 10.9.0.0/16, gw: 10.6.0.254}]
          ippools:
            - name: p6
              subnet: 10.6.0.0/16
              ips: [10.6.168.62-10.6.168.69, 10.6.168.60-10.6.168.61, 10.6.168.65]
              excludeIPs: [10.6.168.66]
              zones: [zone-6]
              nodeNames: [node-a]
              namespaces: [team-a]
              podSelector: {matchLabels: {app: web}}
              networks: [mv, other-ns/mv2]
          networks:
            - {name: mv, type: macvlan, master: ens192}
            - {name: mv2, namespace: other-ns, type: macvlan, master: ens192}
        """)
    pool = by_kind(render_path(path), "SpiderIPPool")["p6"]
    assert pool["metadata"]["labels"]["ipam.spidernet.io/ippool-cidr"] == "10-6-0-0-16"
    assert pool["metadata"]["labels"]["ipam.spidernet.io/owner-spider-subnet"] == "s6"
    assert pool["spec"] == {
        "ipVersion": 4, "subnet": "10.6.0.0/16",
        "ips": ["10.6.168.60-10.6.168.69"],  # merged and sorted as upstream's webhook does
        "excludeIPs": ["10.6.168.66"],
        "gateway": "10.6.0.1",  # inherited from the declared subnet
        "routes": [{"dst": "10.9.0.0/16", "gw": "10.6.0.254"}],
        "nodeAffinity": {"matchExpressions": [{"key": "node-subnet", "operator": "In", "values": ["subnet-6"]}]},
        "nodeName": ["node-a"], "namespaceName": ["team-a"], "podAffinity": {"matchLabels": {"app": "web"}},
        "multusName": ["kube-system/mv", "other-ns/mv2"], "default": False, "disable": False,
    }


def test_zones_selecting_values_of_one_label_become_one_in_expression(write_spec):
    path = write_spec("""\
        spec:
          zones:
            - {name: a, nodeSelector: {matchLabels: {rack: r1}}}
            - {name: b, nodeSelector: {matchExpressions: [{key: rack, operator: In, values: [r2]}]}}
          ippools:
            - {name: p, subnet: 10.6.0.0/16, ips: [10.6.0.10], zones: [a, b]}
        """)
    pool = by_kind(render_path(path), "SpiderIPPool")["p"]
    assert pool["spec"]["nodeAffinity"] == {"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r1", "r2"]}]}


@pytest.mark.parametrize("network, plugins", [
    ("{name: n, type: macvlan, master: ens192, ippools: {ipv4: [p4]}}",
     [{"type": "macvlan", "master": "ens192", "mode": "bridge", "ipam": {"type": "spiderpool", "default_ipv4_ippool": ["p4"]}},
      {"type": "coordinator"}]),
    ("{name: n, type: macvlan, master: ens192, vlanID: 100, mtu: 9000, coordinator: false}",
     [{"type": "ifacer", "interfaces": ["ens192"], "vlanID": 100},
      {"type": "macvlan", "master": "ens192.100", "mode": "bridge", "mtu": 9000, "ipam": {"type": "spiderpool"}}]),
    ("{name: n, type: macvlan, master: [ens192, ens224], bond: {name: bond0, mode: 4, options: miimon=100}}",
     [{"type": "ifacer", "interfaces": ["ens192", "ens224"], "bond": {"name": "bond0", "mode": 4, "options": "miimon=100"}},
      {"type": "macvlan", "master": "bond0", "mode": "bridge", "ipam": {"type": "spiderpool"}}, {"type": "coordinator"}]),
    ("{name: n, type: ipvlan, master: [ens192, ens224], vlanID: 30, bond: {name: bond0, mode: 1}, coordinator: false}",
     [{"type": "ifacer", "interfaces": ["ens192", "ens224"], "vlanID": 30, "bond": {"name": "bond0", "mode": 1}},
      {"type": "ipvlan", "master": "bond0.30", "mode": "l2", "ipam": {"type": "spiderpool"}}]),
    ("{name: n, type: macvlan, master: ens192, coordinator: {vethMTU: 9000, vethLinkAddress: 169.254.200.1, "
     "podDefaultCniNic: net0}}",
     [{"type": "macvlan", "master": "ens192", "mode": "bridge", "ipam": {"type": "spiderpool"}},
      {"type": "coordinator", "vethMTU": 9000, "vethLinkAddress": "169.254.200.1", "podDefaultCniNic": "net0"}]),
    ("{name: n, type: ipvlan, master: bond0, coordinator: {mode: underlay, podDefaultRouteNIC: net1}}",
     [{"type": "ipvlan", "master": "bond0", "mode": "l2", "ipam": {"type": "spiderpool"}},
      {"type": "coordinator", "mode": "underlay", "podDefaultRouteNic": "net1"}]),
    ("{name: n, type: sriov, resourceName: intel.com/sriov, vlanID: 5, mtu: 1400, minTxRateMbps: 1, maxTxRateMbps: 9}",
     [{"type": "sriov", "vlan": 5, "min_tx_rate": 1, "max_tx_rate": 9, "ipam": {"type": "spiderpool"}},
      {"type": "coordinator"}, {"type": "tuning", "mtu": 1400}]),
    ("{name: n, type: ovs, bridge: br1, vlanID: 7}",
     [{"type": "ovs", "bridge": "br1", "vlan": 7, "ipam": {"type": "spiderpool"}}, {"type": "coordinator"}]),
])
def test_attachments_render_the_plugin_chain_of_their_type(write_spec, network, plugins):
    path = write_spec(f"""\
        spec:
          ippools:
            - {{name: p4, subnet: 10.6.0.0/16, ips: [10.6.0.10]}}
          networks:
            - {network}
        """)
    nad = by_kind(render_path(path), "NetworkAttachmentDefinition")["n"]
    assert nad["metadata"]["namespace"] == "kube-system"
    assert nad_config(nad) == {"cniVersion": "0.3.1", "name": "n", "plugins": plugins}


def test_sriov_attachments_name_their_device_resource(write_spec):
    path = write_spec("spec:\n  networks:\n    - {name: n, type: sriov, resourceName: intel.com/sriov_netdevice}\n")
    nad = by_kind(render_path(path), "NetworkAttachmentDefinition")["n"]
    assert nad["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"] == "intel.com/sriov_netdevice"


def test_a_custom_attachment_is_rendered_verbatim(write_spec):
    path = write_spec("""\
        spec:
          networks:
            - name: n
              type: custom
              config: {cniVersion: 1.0.0, name: n, plugins: [{type: bridge, bridge: br0, ipam: {type: spiderpool}}]}
        """)
    nad = by_kind(render_path(path), "NetworkAttachmentDefinition")["n"]
    assert nad_config(nad) == {"cniVersion": "1.0.0", "name": "n",
                               "plugins": [{"type": "bridge", "bridge": "br0", "ipam": {"type": "spiderpool"}}]}


def test_calico_pools_follow_the_configured_api_version(write_spec):
    path = write_spec("""\
        spec:
          calico: {apiVersion: crd.projectcalico.org/v1}
          subnets:
            - {name: s6, subnet: 'fd00:6::/64', calicoIPPool: {natOutgoing: true}}
        """)
    pool = by_kind(render_path(path), "IPPool")["s6"]
    assert pool["apiVersion"] == "crd.projectcalico.org/v1"
    assert pool["spec"] == {"cidr": "fd00:6::/64", "blockSize": 122, "ipipMode": "Never", "vxlanMode": "Never",
                            "natOutgoing": True, "nodeSelector": "all()"}


def test_the_coordinator_gets_every_field_with_defaults_filled(write_spec):
    path = write_spec("spec:\n  coordinator: {mode: underlay, hijackCIDR: [169.254.25.10]}\n")
    coordinator = by_kind(render_path(path), "SpiderCoordinator")["default"]
    assert coordinator["spec"] == {"hijackCIDR": ["169.254.25.10/32"], "hostRuleTable": 500, "mode": "underlay",
                                   "podCIDRType": "auto", "podDefaultRouteNIC": "", "podMACPrefix": "",
                                   "podRPFilter": 0, "tunePodRoutes": True, "txQueueLen": 0}


def test_the_cluster_coordinator_carries_the_veth_knobs(write_spec):
    path = write_spec("spec:\n  coordinator: {mode: underlay, vethMTU: 9000, vethLinkAddress: 169.254.200.1}\n")
    spec = by_kind(render_path(path), "SpiderCoordinator")["default"]["spec"]
    assert (spec["vethMTU"], spec["vethLinkAddress"]) == (9000, "169.254.200.1")


def _render_cli(path, cwd):
    return subprocess.run([sys.executable, "-m", "reconciler", "render", str(path)], cwd=cwd,
                          capture_output=True, check=True).stdout


@pytest.mark.parametrize("example", [p.name for p in spec_examples()])
def test_rendering_is_byte_identical_across_runs_and_working_directories(example, tmp_path):
    first = _render_cli(EXAMPLES / example, REPO)
    again = _render_cli(EXAMPLES / example, REPO)
    elsewhere = _render_cli((EXAMPLES / example).resolve(), tmp_path)
    assert first == again == elsewhere
    assert first.startswith(b"---\napiVersion: ")


# -- the seeds' objects ---------------------------------------------------------------------


def test_seed_002_macvlan_attachment_chains_the_coordinator():
    objects = render_path(EXAMPLES / "calico-overlay-macvlan")
    nad = by_kind(objects, "NetworkAttachmentDefinition")["macvlan-ens192"]
    config = nad_config(nad)
    assert config["cniVersion"] == "0.3.1" and config["name"] == "macvlan-ens192"
    assert [p["type"] for p in config["plugins"]] == ["macvlan", "coordinator"]
    macvlan = config["plugins"][0]
    assert macvlan["master"] == "ens192" and macvlan["mode"] == "bridge"
    assert macvlan["ipam"] == {"type": "spiderpool", "default_ipv4_ippool": ["10-6-v4"]}
    assert config["plugins"][1]["mode"] == "overlay"
    pool = by_kind(objects, "SpiderIPPool")["10-6-v4"]
    assert pool["spec"]["subnet"] == "10.6.0.0/16" and pool["spec"]["gateway"] == "10.6.0.1"
    assert pool["spec"]["ips"] == ["10.6.212.100-10.6.212.200"]


def test_seed_003_pools_follow_their_zones():
    pools = by_kind(render_path(EXAMPLES / "cross-zone-pools"), "SpiderIPPool")
    for zone in ("6", "7"):
        spec = pools[f"test-ippool-{zone}"]["spec"]
        assert spec["subnet"] == f"10.{zone}.0.0/16"
        assert spec["ips"] == [f"10.{zone}.168.60-10.{zone}.168.69"]
        assert spec["gateway"] == f"10.{zone}.0.1"
        assert spec["nodeAffinity"] == {
            "matchExpressions": [{"key": "node-subnet", "operator": "In", "values": [f"subnet-{zone}"]}]}


def test_seed_000_subnet_and_calico_pool():
    objects = render_path(EXAMPLES / "calico-bgp-fixed-ip")
    subnet = by_kind(objects, "SpiderSubnet")["nginx-subnet-v4"]
    assert subnet["spec"]["subnet"] == "10.244.0.0/16" and subnet["spec"]["ipVersion"] == 4
    assert subnet["spec"]["ips"] == ["10.244.100.0-10.244.200.1"]
    assert subnet["metadata"]["labels"]["ipam.spidernet.io/subnet-cidr"] == "10-244-0-0-16"
    [calico] = [o for o in objects if o["kind"] == "IPPool"]
    assert calico["apiVersion"] == "projectcalico.org/v3"
    assert calico["spec"] == {"cidr": "10.244.0.0/16", "blockSize": 26, "ipipMode": "Never", "vxlanMode": "Never",
                              "natOutgoing": False, "nodeSelector": "all()"}


def test_the_specs_cluster_cidrs_reach_the_coordinator_as_annotations(write_spec):
    path = write_spec("""\
        spec:
          cluster: {podCIDRs: [10.233.64.0/18], serviceCIDRs: [10.233.0.0/18, 'fd00:233::/108']}
          coordinator: {mode: overlay}
        """)
    annotations = by_kind(render_path(path), "SpiderCoordinator")["default"]["metadata"]["annotations"]
    assert annotations["gitops.spidernet.io/pod-cidrs"] == "10.233.64.0/18"
    assert annotations["gitops.spidernet.io/service-cidrs"] == "10.233.0.0/18,fd00:233::/108"
