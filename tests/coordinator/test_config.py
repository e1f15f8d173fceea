"""Which value wins: NAD entry > pod annotation (default-route NIC) > SpiderCoordinator `default`."""

from __future__ import annotations

import pytest

from coordinator.config import ConfigError, resolve

COORDINATOR = {"metadata": {"name": "default"},
               "spec": {"mode": "auto", "hostRuleTable": 500, "podDefaultRouteNIC": "eth0",
                        "hijackCIDR": ["169.254.0.0/16"], "tunePodRoutes": True},
               "status": {"overlayPodCIDR": ["10.222.64.0/18"], "serviceCIDR": ["10.233.0.0/18"]}}
ANNOTATION = {"ipam.spidernet.io/default-route-nic": "net1"}


@pytest.mark.parametrize("nad, annotations, expected", [
    ({}, {}, "eth0"),                                    # SpiderCoordinator default
    ({}, ANNOTATION, "net1"),                            # the pod annotation beats it
    ({"podDefaultRouteNic": "net2"}, ANNOTATION, "net2"),  # the NAD beats both
])
def test_the_default_route_nic_precedence(nad, annotations, expected):
    assert resolve(nad, pod_annotations=annotations, coordinator=COORDINATOR).pod_default_route_nic == expected


def test_nad_values_win_over_spider_coordinator():
    cfg = resolve({"mode": "overlay", "hostRuleTable": 600, "tunePodRoutes": False}, coordinator=COORDINATOR)
    assert (cfg.mode, cfg.host_rule_table, cfg.tune_pod_routes) == ("overlay", 600, False)
    assert cfg.hijack_set == ("10.222.64.0/18", "10.233.0.0/18", "169.254.0.0/16")


def test_cluster_cidrs_fall_back_to_the_annotations_of_spider_coordinator():
    coordinator = {"metadata": {"annotations": {"gitops.spidernet.io/pod-cidrs": "10.244.0.0/16, fd00:244::/56",
                                                "gitops.spidernet.io/service-cidrs": "10.96.0.0/12"}}}
    cfg = resolve({}, coordinator=coordinator)
    assert cfg.pod_cidrs == ("10.244.0.0/16", "fd00:244::/56") and cfg.service_cidrs == ("10.96.0.0/12",)


@pytest.mark.parametrize("coordinator", [None, {"spec": {"mode": "auto"}}, {"status": {"phase": "NotReady"}}])
def test_unknown_cluster_cidrs_fail_add_saying_so(coordinator):
    with pytest.raises(ConfigError, match="pod and service CIDRs are unknown"):
        resolve({}, coordinator=coordinator)


@pytest.mark.parametrize("nad, message", [
    ({"mode": "sideways"}, "mode 'sideways'"),
    ({"podMACPrefix": "0b:00"}, "podMACPrefix"),  # multicast bit set
    ({"policyRoutes": [{"dst": "10.0.0.0/8"}]}, "needs dst and gw"),
    ({"hijackCIDR": ["not-a-cidr"]}, "hijackCIDR"),
])
def test_bad_values_are_named(nad, message):
    with pytest.raises(ConfigError, match=message):
        resolve(nad, coordinator=COORDINATOR)


def test_disable_is_upstreams_spelling_of_disabled():
    assert resolve({"mode": "disable"}, coordinator=COORDINATOR).mode == "disabled"


def test_the_probe_knobs_are_off_by_default_and_the_nad_wins():
    spec = {**COORDINATOR, "spec": {**(COORDINATOR.get("spec") or {}), "detectGateway": True}}
    assert not resolve({}, coordinator=COORDINATOR).detect_ip_conflict
    cfg = resolve({"detectIPConflict": "true"}, coordinator=spec)
    assert cfg.detect_ip_conflict and cfg.detect_gateway
    assert not resolve({"detectGateway": False}, coordinator=spec).detect_gateway
    with pytest.raises(ConfigError, match="detectIPConflict"):
        resolve({"detectIPConflict": "maybe"}, coordinator=COORDINATOR)
