"""Auto pools decided: upstream's annotation rules, the pool's name and labels, and how a pool is resized."""

from __future__ import annotations

import json

import pytest

from cni.allocation import AnnotationError
from cni.allocation import autopool as ap
from cni.ipranges import RangeSet, address_key, compact

OWNER = "Deployment default/nginx"
APP = ap.AppRef("apps", "v1", "Deployment", "default", "nginx", "2f1e4c5a-1b2c-4d3e-9f00-a5bd3c1f2e44")


def annotations(**values) -> dict[str, str]:
    keys = {"subnet": ap.SUBNET, "subnets": ap.SUBNETS, "number": ap.IP_NUMBER, "reclaim": ap.RECLAIM}
    return {keys[k]: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


@pytest.mark.parametrize("given, items", [
    (annotations(subnet={"ipv4": ["s4"]}), (ap.SubnetItem("eth0", "s4"),)),
    (annotations(subnet={"interface": "net1", "ipv4": ["s4"], "ipv6": ["s6"]}), (ap.SubnetItem("net1", "s4", "s6"),)),
    (annotations(subnets=[{"interface": "eth0", "ipv4": ["a"]}, {"interface": "net1", "ipv6": ["b"]}]),
     (ap.SubnetItem("eth0", "a"), ap.SubnetItem("net1", None, "b"))),
    (annotations(subnets=[{"ipv4": ["a"]}]), (ap.SubnetItem("eth0", "a"),)),
    (annotations(subnets=[{"ipv4": ["a"]}], subnet={"ipv4": ["ignored"]}), (ap.SubnetItem("eth0", "a"),)),  # wins
    ({}, None),
])
def test_subnet_annotations_name_one_subnet_per_family_per_interface(given, items):
    assert ap.subnet_items(given, OWNER) == items


@pytest.mark.parametrize("given, message", [
    (annotations(subnet="{nope"), "annotation ipam.spidernet.io/subnet: not valid JSON"),
    (annotations(subnet=["s4"]), 'must be a JSON object like {"ipv4": ["subnet-a"]}'),
    (annotations(subnet={}), "names no subnet"),
    (annotations(subnet={"ipv4": ["a", "b"]}), "ipv4 names 2 subnets (a, b); an interface takes one subnet per family"),
    (annotations(subnet={"ipv4": ["sub-*"]}), "'sub-*' is not a SpiderSubnet name (no wildcards)"),
    (annotations(subnet={"ipv4": ["a"], "ipv5": ["b"]}), "unknown field 'ipv5'"),
    (annotations(subnets=[]), "must be a non-empty JSON list"),
    (annotations(subnets=[{"ipv4": ["a"]}, {"interface": "net1", "ipv4": ["b"]}]),
     "item 0: needs an interface when several items are given"),
    (annotations(subnets=[{"interface": "eth0", "ipv4": ["a"]}, {"interface": "eth0", "ipv4": ["b"]}]),
     "interface eth0 is listed more than once"),
    (annotations(subnets=[{"interface": "eth0", "ipv4": ["a"]}, {"interface": "net1", "ipv4": ["a"]}]),
     "subnet a is listed more than once"),
])
def test_a_malformed_subnet_annotation_is_refused_naming_the_annotation(given, message):
    with pytest.raises(AnnotationError) as error:
        ap.subnet_items(given, OWNER)
    assert str(error.value).startswith(f"wrong input: {OWNER}: annotation ipam.spidernet.io/subnet")
    assert message in str(error.value)


@pytest.mark.parametrize("text, number, size_at_2", [
    ("+3", ap.IpNumber(3, True), 5), ("+0", ap.IpNumber(0, True), 2), ("5", ap.IpNumber(5, False), 5),
])
def test_ip_number_is_fixed_or_replicas_plus_n(text, number, size_at_2):
    parsed = ap.ip_number(annotations(number=text), OWNER)
    assert parsed == number and parsed.size(2) == size_at_2 and parsed.text == text


@pytest.mark.parametrize("text", ["-1", "++1", "+", "1.5", " 2", "two", "0"])
def test_a_bad_ip_number_is_refused(text):
    with pytest.raises(AnnotationError, match="ippool-ip-number"):
        ap.ip_number(annotations(number=text), OWNER)


def test_without_an_ip_number_the_cluster_default_applies():
    assert ap.ip_number({}, OWNER) == ap.DEFAULT_IP_NUMBER == ap.IpNumber(1, True)
    assert ap.ip_number({}, OWNER, ap.IpNumber(2, False)) == ap.IpNumber(2, False)
    assert ap.parse_ip_number("+4") == ap.IpNumber(4)
    with pytest.raises(ValueError, match="expected N"):
        ap.parse_ip_number("x")


@pytest.mark.parametrize("text, keep", [(None, True), ("true", True), ("false", False), ("0", False), ("T", True)])
def test_reclaim_defaults_to_true(text, keep):
    given = annotations(reclaim=text) if text is not None else {}
    assert ap.reclaim(given, OWNER) is keep


def test_a_bad_reclaim_is_refused():
    with pytest.raises(AnnotationError, match="expected true or false"):
        ap.reclaim(annotations(reclaim="maybe"), OWNER)


def test_the_pool_name_is_upstreams_and_fits_a_dns_subdomain():
    assert ap.pool_name(4, "Test-App-1", "eth0", APP.uid) == "auto4-test-app-1-eth0-a5bd3"
    long = ap.pool_name(6, "x" * 300, "net1", APP.uid)
    assert len(long) == 253 and long.startswith("auto6-xxx") and long.endswith("-net1-a5bd3")


def test_wants_per_interface_and_family_with_upstreams_labels():
    wants = ap.wants_of(APP, annotations(subnet={"ipv4": ["s4"], "ipv6": ["s6"]}, number="+3", reclaim="false"), 2)
    assert [(w.subnet, w.version, w.size, w.reclaim) for w in wants] == [("s4", 4, 5, False), ("s6", 6, 5, False)]
    labels = ap.pool_labels(wants[0], "10.244.0.0/16")
    assert labels[ap.LABEL_GV] == "apps_v1" and labels[ap.LABEL_CIDR] == "10-244-0-0-16"
    assert labels[ap.LABEL_VERSION] == "IPv4" and labels[ap.LABEL_RECLAIM] == "false"
    assert APP.application == "apps_v1_Deployment_default_nginx"


def test_a_third_party_controller_needs_a_fixed_number():
    crd_app = ap.AppRef("apps.kruise.io", "v1alpha1", "CloneSet", "default", "web", "u-1")
    assert ap.wants_of(crd_app, annotations(subnet={"ipv4": ["s"]}, number="4"), 0)[0].size == 4
    with pytest.raises(AnnotationError, match="CloneSet default/web only supports fixed auto-created IPPool IP Number"):
        ap.wants_of(crd_app, annotations(subnet={"ipv4": ["s"]}, number="+1"), 0)


@pytest.mark.parametrize("kind, obj, replicas", [
    ("Deployment", {"spec": {"replicas": 3}}, 3), ("Deployment", {"spec": {}}, 1),
    ("StatefulSet", {"spec": {"replicas": 0}}, 0),
    ("DaemonSet", {"status": {"desiredNumberScheduled": 2}}, 2), ("DaemonSet", {}, 0),
    ("Job", {"spec": {"parallelism": 4, "completions": 10}}, 4), ("Job", {"spec": {"parallelism": 0}}, 1),
    ("CronJob", {"spec": {"jobTemplate": {"spec": {"parallelism": 2}}}}, 2),
])
def test_replicas_per_kind(kind, obj, replicas):
    assert ap.replicas_of(kind, obj) == replicas


def test_an_owned_replicaset_or_job_is_served_through_its_owner():
    owned = {"metadata": {"ownerReferences": [{"kind": "Deployment", "controller": True}]}}
    assert not ap.top_level("ReplicaSet", owned) and ap.top_level("ReplicaSet", {"metadata": {}})
    assert not ap.top_level("Job", {"metadata": {"ownerReferences": [{"kind": "CronJob", "controller": True}]}})
    rollout = {"metadata": {"ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                                 "controller": True}]}}
    assert not ap.top_level("ReplicaSet", rollout)  # the Rollout's, like upstream's GetPodTopController
    assert ap.top_level("StatefulSet", rollout) and ap.top_level("ReplicaSet", {"metadata": {"ownerReferences": [
        {"kind": "Deployment", "controller": False}]}})


def ips(*texts: str) -> RangeSet:
    return ap.ranges(texts, 4)


def test_a_pool_grows_by_the_lowest_free_subnet_ips():
    change = ap.resize(ips("10.0.0.1-10.0.0.2"), 4, free=ips("10.0.0.7", "10.0.0.5", "10.0.0.9"), allocated=RangeSet())
    assert compact(change.ips, 4) == ["10.0.0.1-10.0.0.2", "10.0.0.5", "10.0.0.7"] and not change.short


def test_a_grow_the_subnet_cannot_serve_changes_nothing():
    change = ap.resize(ips("10.0.0.1"), 4, free=ips("10.0.0.5"), allocated=RangeSet())
    assert change.ips == ips("10.0.0.1") and change.short == 2


def test_a_shrink_drops_only_free_ips_and_waits_for_the_rest():
    allocated = ips("10.0.0.1", "10.0.0.3")
    change = ap.resize(ips("10.0.0.1-10.0.0.4"), 3, free=RangeSet(), allocated=allocated)
    assert compact(change.ips, 4) == ["10.0.0.1", "10.0.0.3-10.0.0.4"] and not change.waiting
    change = ap.resize(ips("10.0.0.1-10.0.0.4"), 1, free=RangeSet(), allocated=allocated)
    assert compact(change.ips, 4) == ["10.0.0.1", "10.0.0.3"] and change.waiting == 1


def test_the_ledger_round_trips_upstreams_json():
    text = '{"auto4-a-eth0-12345":{"ips":["10.0.0.1-10.0.0.3"],"application":"apps_v1_Deployment_ns_a"},' \
           '"manual":{"ips":["10.0.0.9"]}}'
    entries = ap.decode_controlled(text, 4)
    assert entries["manual"].application is None and entries["auto4-a-eth0-12345"].ips.size == 3
    assert ap.encode_controlled(entries, 4) == text
    assert ap.decode_controlled("not json", 4) == {} and ap.decode_controlled(None, 4) == {}
    assert address_key("10.0.0.1")[1] in entries["auto4-a-eth0-12345"].ips


def test_a_pod_with_a_subnet_annotation_allocates_from_its_apps_auto_pool_only():
    from cni.allocation import NoPoolError, PoolNames, Request, allocate

    from .builders import pod, pool, snapshot

    other = ap.AppRef("apps", "v1", "Deployment", "default", "other", "u-2")
    mine = pool("auto4-nginx-eth0-a5bd3", ("10.6.168.60-10.6.168.64",), podAffinity=ap.pod_affinity(APP))
    theirs = pool("auto4-other-eth0-u2", ("10.6.168.70",), podAffinity=ap.pod_affinity(other))
    web = pod(annotations=annotations(subnet={"ipv4": ["s4"]}))
    request = Request(web, auto_pools=PoolNames(("auto4-nginx-eth0-a5bd3",)), auto_app=str(APP),
                      auto_labels=ap.app_affinity_labels(APP))
    decision = allocate(request, snapshot(mine, theirs, pool("default-pool", ("10.6.168.80",), default=True)))
    assert [a.pool for a in decision.result.addresses] == ["auto4-nginx-eth0-a5bd3"]
    assert decision.result.addresses[0].cidr == "10.6.168.60/16"
    stolen = Request(web, auto_pools=PoolNames(("auto4-other-eth0-u2",)), auto_app=str(APP),
                     auto_labels=ap.app_affinity_labels(APP))
    with pytest.raises(NoPoolError, match="unmatched Pod affinity of auto-created IPPool auto4-other-eth0-u2"):
        allocate(stolen, snapshot(mine, theirs))
