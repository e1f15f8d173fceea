"""Where pools are chosen: the rule that supplies names, wildcards, filters with reasons, order."""

from __future__ import annotations

import json

import pytest

from cni.allocation import (AnnotationError, ExhaustedError, NamespaceInfo, NoPoolError, PoolNameError, PoolNames,
                            Request, allocate)

from .builders import pod, pool, snapshot


def _range(i: int) -> tuple[str]:
    return (f"10.6.{i}.1-10.6.{i}.10",)


def _pools(*names, **spec_by_name):
    return [pool(n, _range(i + 1), **spec_by_name.get(n, {})) for i, n in enumerate(names)]


def chosen(request: Request, snap) -> list[str]:
    return [a.pool for a in allocate(request, snap).result.addresses]


ANNOT_IPPOOL = {"ipam.spidernet.io/ippool": json.dumps({"ipv4": ["from-ippool"]})}
ANNOT_IPPOOLS = {"ipam.spidernet.io/ippools": json.dumps([{"interface": "eth0", "ipv4": ["from-ippools"]}])}
NS_DEFAULT = {"ipam.spidernet.io/default-ipv4-ippool": json.dumps(["from-namespace"])}


@pytest.mark.parametrize("pod_annotations, ns_annotations, cni_defaults, expected", [
    ({**ANNOT_IPPOOLS, **ANNOT_IPPOOL}, NS_DEFAULT, ("from-cni",), "from-ippools"),
    (ANNOT_IPPOOL, NS_DEFAULT, ("from-cni",), "from-ippool"),
    ({}, NS_DEFAULT, ("from-cni",), "from-namespace"),
    ({}, {}, ("from-cni",), "from-cni"),
    ({}, {}, (), "from-default"),
], ids=["ippools beats ippool", "ippool beats the namespace", "namespace beats the CNI config",
        "CNI config beats default pools", "default pools come last"])
def test_the_first_rule_that_names_pools_wins(pod_annotations, ns_annotations, cni_defaults, expected):
    snap = snapshot(*_pools("from-ippools", "from-ippool", "from-namespace", "from-cni", "from-default",
                            **{"from-default": {"default": True}}),
                    namespaces=[NamespaceInfo("default", {}, ns_annotations)])
    request = Request(pod(annotations=pod_annotations), default_pools=PoolNames(cni_defaults), families=frozenset({4}))
    assert chosen(request, snap) == [expected]


def test_no_rule_at_all_is_upstreams_no_pool_error_with_a_hint():
    with pytest.raises(NoPoolError) as error:
        allocate(Request(pod()), snapshot(*_pools("a")))
    assert str(error.value).startswith(
        "no IPPool available, no pool selection rules of any type are specified for pod default/web-0 (eth0): "
        "set ipam.spidernet.io/ippool on the pod")


def test_the_winning_rule_decides_the_families_a_v4_only_annotation_gives_a_v4_only_pod():
    snap = snapshot(pool("v4", _range(1)), pool("v6", ("fd00::10-fd00::20",), default=True))
    request = Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["v4"]}'}))
    assert chosen(request, snap) == ["v4"]


def test_a_rule_naming_only_a_family_the_agent_does_not_serve_is_an_error():
    request = Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv6": ["v6"]}'}), families=frozenset({4}))
    with pytest.raises(NoPoolError, match="names only IPv6 pools, but this agent serves IPv4"):
        allocate(request, snapshot(pool("v6", ("fd00::10-fd00::20",))))


@pytest.mark.parametrize("patterns, expected", [
    (["pool-*"], "pool-a"),
    (["pool-?"], "pool-a"),
    (["pool-[bc]"], "pool-b"),
    (["pool-[^a]"], "pool-b"),
    (["pool-[!ab]"], "pool-c"),
    (["other", "pool-*"], "other"),
], ids=["star", "question mark", "bracket set", "go-style negation", "fnmatch negation", "mixed with names"])
def test_wildcards_match_pool_names_in_name_order(patterns, expected):
    snap = snapshot(*_pools("pool-c", "pool-a", "pool-b", "other"))
    assert chosen(Request(pod(annotations={"ipam.spidernet.io/ippool": json.dumps({"ipv4": patterns})})), snap) == [expected]


def test_a_wildcard_only_matches_pools_of_its_family():
    snap = snapshot(pool("p-v6", ("fd00::10-fd00::20",)), pool("p-v4", _range(1), disable=True))
    with pytest.raises(NoPoolError) as error:
        allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p-*"]}'})), snap)
    assert str(error.value).endswith("p-v4: disabled")


def test_a_wildcard_matching_nothing_is_named_in_the_error():
    with pytest.raises(NoPoolError, match=r"'zz-\*': matches no IPv4 pool"):
        allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["zz-*"]}'})), snapshot(*_pools("a")))


FILTERS = [
    ({"disable": True}, {}, "disabled"),
    ({"deleting": True}, {}, "terminating"),
    ({"nodeName": ["worker2"]}, {}, "node worker1 is not in nodeName [worker2]"),
    ({"nodeAffinity": {"matchExpressions": [{"key": "node-subnet", "operator": "In", "values": ["subnet-7"]}]}}, {},
     "node worker1 does not match nodeAffinity node-subnet In [subnet-7]"),
    ({"namespaceName": ["prod"]}, {}, "namespace default is not in namespaceName [prod]"),
    ({"namespaceAffinity": {"matchLabels": {"team": "a"}}}, {}, "namespace default does not match namespaceAffinity team=a"),
    ({"podAffinity": {"matchLabels": {"app": "db"}}}, {}, "pod labels do not match podAffinity app=db"),
    ({"multusName": ["other"]}, {"nad": "kube-system/macvlan-ens192"},
     "attachment kube-system/macvlan-ens192 is not in multusName [kube-system/other]"),
    ({"multusName": ["other"]}, {}, "the attachment of eth0 is unknown, and the pool requires multusName [kube-system/other]"),
]


@pytest.mark.parametrize("spec, request_fields, reason", FILTERS, ids=[f[2].split(" ")[0] + ":" + f[2][-20:] for f in FILTERS])
def test_each_filter_refuses_a_pool_with_its_reason(spec, request_fields, reason):
    snap = snapshot(pool("p", _range(1), **spec))
    request = Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p"]}'}), **request_fields)
    with pytest.raises(NoPoolError) as error:
        allocate(request, snap)
    assert str(error.value).endswith(f"): p: {reason}")
    assert not isinstance(error.value, ExhaustedError)


@pytest.mark.parametrize("spec, request_fields", [
    ({"nodeName": ["worker1"], "nodeAffinity": {"matchLabels": {"x": "never"}}}, {}),
    ({"nodeAffinity": {"matchExpressions": [{"key": "node-subnet", "operator": "In", "values": ["subnet-6"]}]}}, {}),
    ({"namespaceName": ["default"], "namespaceAffinity": {"matchLabels": {"x": "never"}}}, {}),
    ({"namespaceAffinity": {"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}}, {}),
    ({"podAffinity": {"matchLabels": {"app": "web"}}}, {}),
    ({"multusName": ["macvlan-ens192"]}, {"nad": "kube-system/macvlan-ens192"}),
    ({"multusName": ["net/sriov"]}, {"nad": "net/sriov"}),
], ids=["nodeName takes precedence over nodeAffinity", "nodeAffinity matches", "namespaceName takes precedence",
        "namespaceAffinity DoesNotExist", "podAffinity matches", "bare multusName is kube-system/name",
        "qualified multusName"])
def test_a_pool_whose_affinities_match_is_used(spec, request_fields):
    snap = snapshot(pool("p", _range(1), **spec))
    request = Request(pod(labels={"app": "web"}, annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p"]}'}),
                      **request_fields)
    assert chosen(request, snap) == ["p"]


def test_the_attachment_is_read_from_the_multus_annotation_of_a_secondary_interface():
    snap = snapshot(pool("p", _range(1), multusName=["ns1/macvlan"]))
    request = Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["p"]}',
                                       "k8s.v1.cni.cncf.io/networks": "ns1/macvlan@net1"}), nic="net1")
    assert chosen(request, snap) == ["p"]


def test_wrong_family_pools_are_named_too():
    snap = snapshot(pool("v6", ("fd00::10-fd00::20",)), pool("off", _range(1), disable=True))
    with pytest.raises(NoPoolError) as error:
        allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["off", "v6"]}'})), snap)
    assert str(error.value).endswith("off: disabled; v6: is an IPv6 pool")


@pytest.mark.parametrize("annotations, ns_annotations, cni_defaults, expected", [
    ({"ipam.spidernet.io/ippool": '{"ipv4": ["typo", "good"]}'}, {}, (),
     "pod annotation ipam.spidernet.io/ippool names IPPool 'typo', which does not exist"),
    ({"ipam.spidernet.io/ippools": '[{"interface": "eth0", "ipv4": ["good", "good"]}]'}, {}, (),
     "pod annotation ipam.spidernet.io/ippools names IPPool 'good' more than once for IPv4 "
     "(duplicate IPPool good specified for NIC eth0)"),
    ({}, {"ipam.spidernet.io/default-ipv4-ippool": '["good", "gone"]'}, (),
     "namespace annotation ipam.spidernet.io/default-ipv4-ippool names IPPool 'gone', which does not exist"),
    ({}, {}, ("good", "tpyo"), "CNI config default_ipv4_ippool names IPPool 'tpyo', which does not exist"),
], ids=["typo beside a good pool", "duplicate in ippools", "namespace default", "NAD default_ipv4_ippool"])
def test_an_unknown_or_duplicated_pool_name_fails_the_add_naming_it(annotations, ns_annotations, cni_defaults,
                                                                   expected):
    """Upstream's precheck: `["typo", "good"]` must not silently allocate from `good`."""
    snap = snapshot(pool("good", _range(1)), namespaces=[NamespaceInfo("default", {}, ns_annotations)])
    request = Request(pod(annotations=annotations), default_pools=PoolNames(cni_defaults, ()))
    with pytest.raises(PoolNameError) as error:
        allocate(request, snap)
    assert str(error.value) == f"wrong input: pod default/web-0 (eth0): {expected}"
    assert error.value.category == "wrong input" and error.value.cni_code == 7


def test_a_wildcard_matching_nothing_is_a_filter_reason_not_a_precheck_error():
    snap = snapshot(pool("good", _range(1)))
    request = Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["zz-*", "good"]}'}))
    assert chosen(request, snap) == ["good"]


def test_a_repeated_add_returns_its_address_even_after_its_pool_list_gained_a_typo():
    snap = snapshot(pool("good", _range(1), records={"10.6.1.1": ("default/web-0", "uid-web-0")}))
    request = Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["good", "typo"]}'}))
    assert allocate(request, snap).result.addresses[0].ip == "10.6.1.1"


def test_the_users_order_holds_among_equal_pools():
    snap = snapshot(*_pools("a", "b", "c"))
    assert chosen(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["c", "a", "b"]}'})), snap) == ["c"]


def test_pools_with_affinity_are_tried_before_plain_ones_and_equals_keep_the_users_order():
    affinity = {"nodeAffinity": {"matchLabels": {"node-subnet": "subnet-6"}}}
    snap = snapshot(*_pools("plain", "zone-b", "zone-a", **{"zone-b": affinity, "zone-a": affinity}))
    request = Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["plain", "zone-b", "zone-a"]}'}))
    assert chosen(request, snap) == ["zone-b"]


def test_a_full_pool_passes_to_the_next_candidate():
    full = {f"10.6.1.{i}": (f"default/x{i}", f"x{i}") for i in range(1, 11)}
    snap = snapshot(pool("a", _range(1), records=full), pool("b", _range(2)))
    assert chosen(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["a", "b"]}'})), snap) == ["b"]


def test_the_error_names_every_candidate_and_why():
    full = {f"10.6.2.{i}": (f"default/x{i}", f"x{i}") for i in range(1, 11)}
    snap = snapshot(
        pool("pool-a", _range(1), nodeAffinity={"matchExpressions": [
            {"key": "node-subnet", "operator": "In", "values": ["subnet-7"]}]}),
        pool("pool-b", _range(2), records=full),
        pool("pool-c", _range(3), disable=True))
    with pytest.raises(ExhaustedError) as error:
        allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["pool-a", "pool-b", "pool-c"]}'})), snap)
    assert str(error.value) == (
        "all IP addresses used out: no IPv4 pool for pod default/web-0 on node worker1 (eth0; pools from pod "
        "annotation ipam.spidernet.io/ippool): pool-a: node worker1 does not match nodeAffinity node-subnet In "
        "[subnet-7]; pool-c: disabled; pool-b: exhausted (10/10 used)")
    assert error.value.category == "all IP addresses used out"


def test_exhaustion_counts_reserved_addresses_apart():
    snap = snapshot(pool("a", _range(1), records={f"10.6.1.{i}": ("default/x", f"x{i}") for i in range(1, 9)}),
                    reserved=[("10.6.1.9-10.6.1.10",)])
    with pytest.raises(ExhaustedError, match=r"a: exhausted \(8/10 used, 2 reserved\)$"):
        allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["a"]}'})), snap)


def test_namespace_default_pools_name_their_annotation_in_errors():
    snap = snapshot(pool("ns-pool", _range(1), disable=True),
                    namespaces=[NamespaceInfo("default", {}, {"ipam.spidernet.io/default-ipv4-ippool": '["ns-pool"]'})])
    with pytest.raises(NoPoolError, match=r"pools from namespace annotation ipam.spidernet.io/default-ipv4-ippool\): "
                                          r"ns-pool: disabled"):
        allocate(Request(pod(), families=frozenset({4})), snap)


@pytest.mark.parametrize("nic, annotations, expected", [
    ("eth0", {}, "first"),
    ("net1", {}, "second"),
    ("eth1", {"k8s.v1.cni.cncf.io/networks": "kube-system/macvlan@eth1"}, "second"),
    ("net2", {"k8s.v1.cni.cncf.io/networks": '[{"name": "a"}, {"name": "b"}]'}, "third"),
], ids=["eth0 is item 0", "netN is item N", "a named Multus interface takes its position", "JSON Multus form"])
def test_unnamed_ippools_items_are_positional(nic, annotations, expected):
    snap = snapshot(*_pools("first", "second", "third"))
    items = json.dumps([{"ipv4": ["first"]}, {"ipv4": ["second"]}, {"ipv4": ["third"]}])
    assert chosen(Request(pod(annotations={"ipam.spidernet.io/ippools": items, **annotations}), nic=nic), snap) == [expected]


def test_named_ippools_items_are_found_by_interface():
    snap = snapshot(*_pools("first", "second"))
    items = json.dumps([{"interface": "net1", "ipv4": ["second"]}, {"interface": "eth0", "ipv4": ["first"]}])
    assert chosen(Request(pod(annotations={"ipam.spidernet.io/ippools": items}), nic="net1"), snap) == ["second"]


@pytest.mark.parametrize("key, value, message", [
    ("ipam.spidernet.io/ippool", "{not json", "not valid JSON"),
    ("ipam.spidernet.io/ippool", '["a"]', "must be a JSON object"),
    ("ipam.spidernet.io/ippool", '{"ipv4": "a"}', 'ipv4 must be a list of pool names, got "a"'),
    ("ipam.spidernet.io/ippool", '{"v4": ["a"]}', "names no pools"),
    ("ipam.spidernet.io/ippools", '[]', "must be a non-empty JSON list"),
    ("ipam.spidernet.io/ippools", '[{"interface": "eth0", "ipv4": ["a"]}, {"ipv4": ["b"]}]',
     "either every item names an interface or none does"),
    ("ipam.spidernet.io/ippools", '[{"interface": "eth0", "ipv4": ["a"]}, {"interface": "eth0", "ipv4": ["b"]}]',
     "interface eth0 is listed more than once"),
    ("ipam.spidernet.io/ippools", '[{"interface": "net1", "ipv4": ["a"]}]', "interface eth0 must be specified"),
    ("ipam.spidernet.io/ippools", '[{"interface": "eth0", "ipv4": ["a"], "cleangateway": "yes"}]',
     "item 0: cleangateway must be true or false"),
    ("ipam.spidernet.io/routes", '[{"dst": "10.7.0.1/16", "gw": "10.6.0.1"}]', "is not canonical; write 10.7.0.0/16"),
    ("ipam.spidernet.io/routes", '[{"dst": "fd00::/64", "gw": "10.6.0.1"}]', "are of different families"),
    ("ipam.spidernet.io/subnet", '{"ipv4": ["s"]}', "the auto pool of the pod's application is not known"),
], ids=lambda v: v if len(str(v)) < 30 else None)
def test_a_malformed_annotation_fails_with_an_error_naming_it(key, value, message):
    with pytest.raises(AnnotationError) as error:
        allocate(Request(pod(annotations={key: value})), snapshot(pool("a", _range(1), default=True)))
    assert str(error.value).startswith(f"wrong input: pod default/web-0: annotation {key}: ")
    assert message in str(error.value)
    assert error.value.annotation == key


def test_a_malformed_namespace_annotation_names_the_namespace():
    snap = snapshot(*_pools("a"), namespaces=[NamespaceInfo("default", {}, {
        "ipam.spidernet.io/default-ipv4-ippool": "a,b"})])
    with pytest.raises(AnnotationError, match="^wrong input: namespace default: annotation "
                                              "ipam.spidernet.io/default-ipv4-ippool: not valid JSON"):
        allocate(Request(pod()), snap)


def test_the_cni_message_carries_the_prefix_tools_look_for_in_pod_events():
    with pytest.raises(NoPoolError) as error:
        allocate(Request(pod(annotations={"ipam.spidernet.io/ippool": '{"ipv4": ["off"]}'})),
                 snapshot(pool("off", _range(1), disable=True)))
    assert error.value.cni_message == (
        "spiderpool IP allocation error: no IPPool available: no IPv4 pool for pod default/web-0 on node worker1 "
        "(eth0; pools from pod annotation ipam.spidernet.io/ippool): off: disabled")
