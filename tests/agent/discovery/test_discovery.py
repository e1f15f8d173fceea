"""Pure CIDR discovery: each source, their precedence, and NotReady with a reason that says why."""

from __future__ import annotations

import pytest

from coordinator.discovery import NOT_READY, SYNCED, Sources, cni_type_of, discover, resolve_type


def kubeadm(pod: str | None = "10.244.0.0/16", service: str | None = "10.96.0.0/12") -> dict:
    lines = ["apiVersion: kubeadm.k8s.io/v1beta3", "kind: ClusterConfiguration", "networking:",
             "  dnsDomain: cluster.local"]
    lines += [f"  podSubnet: {pod}"] if pod else []
    lines += [f"  serviceSubnet: {service}"] if service else []
    return {"data": {"ClusterConfiguration": "\n".join(lines) + "\n"}}


def kcm(*args: str, name: str = "kube-controller-manager-master1") -> dict:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "kcm", "command": ["kube-controller-manager", *args]}]}}


def calico(name: str, cidr: str, *, disabled: bool = False, created: str = "2024-01-01T00:00:00Z") -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created}, "spec": {"cidr": cidr, "disabled": disabled}}


def test_cluster_cidrs_come_from_kubeadm_config():
    found = discover("cluster", Sources(kubeadm_config=kubeadm("10.244.0.0/16,fd00:10:244::/56", "10.96.0.0/12")))
    assert (found.phase, found.pod_cidrs, found.service_cidrs) == (
        SYNCED, ("10.244.0.0/16", "fd00:10:244::/56"), ("10.96.0.0/12",))


def test_cluster_cidrs_fall_back_to_the_controller_manager_flags():
    pod = kcm("--cluster-cidr=10.10.0.0/16", "--service-cluster-ip-range", "172.20.0.0/16")
    found = discover("cluster", Sources(controller_manager_pods=(pod,)))
    assert (found.phase, found.pod_cidrs, found.service_cidrs) == (SYNCED, ("10.10.0.0/16",), ("172.20.0.0/16",))


def test_kubeadm_config_wins_over_the_controller_manager():
    found = discover("cluster", Sources(kubeadm_config=kubeadm("10.244.0.0/16"),
                                        controller_manager_pods=(kcm("--cluster-cidr=10.10.0.0/16"),)))
    assert found.pod_cidrs == ("10.244.0.0/16",)


def test_a_field_kubeadm_config_lacks_is_taken_from_the_controller_manager():
    found = discover("cluster", Sources(kubeadm_config=kubeadm(pod=None),
                                        controller_manager_pods=(kcm("--cluster-cidr=10.10.0.0/16"),)))
    assert (found.phase, found.pod_cidrs, found.service_cidrs) == (SYNCED, ("10.10.0.0/16",), ("10.96.0.0/12",))


def test_nothing_found_is_not_ready_with_a_reason_naming_what_was_looked_at():
    found = discover("cluster", Sources())
    assert found.phase == NOT_READY
    assert "no pod CIDR" in found.reason and "kubeadm-config" in found.reason
    assert "kube-controller-manager" in found.reason and "no service CIDR" in found.reason


def test_calico_pod_cidrs_are_the_enabled_pools_in_creation_order_with_services_from_kubeadm():
    pools = (calico("b", "10.223.64.0/18", created="2024-01-02T00:00:00Z"), calico("a", "10.222.64.0/18"),
             calico("off", "10.99.0.0/16", disabled=True))
    found = discover("calico", Sources(kubeadm_config=kubeadm(), calico_pools=pools))
    assert (found.phase, found.pod_cidrs, found.service_cidrs) == (
        SYNCED, ("10.222.64.0/18", "10.223.64.0/18"), ("10.96.0.0/12",))


def test_calico_without_an_enabled_pool_is_not_ready():
    found = discover("calico", Sources(kubeadm_config=kubeadm(), calico_pools=(calico("off", "10.9.0.0/16",
                                                                                        disabled=True),)))
    assert found.phase == NOT_READY and "no enabled Calico IPPool" in found.reason


def test_cilium_cluster_pool_cidrs_come_from_cilium_config():
    config = {"data": {"ipam": "cluster-pool", "cluster-pool-ipv4-cidr": "10.0.0.0/8"}}
    found = discover("cilium", Sources(kubeadm_config=kubeadm(), cilium_config=config))
    assert (found.phase, found.pod_cidrs) == (SYNCED, ("10.0.0.0/8",))


def test_none_needs_nothing():
    found = discover("none", Sources())
    assert (found.phase, found.pod_cidrs, found.reason) == (SYNCED, (), "")


@pytest.mark.parametrize("sources, expected", [
    (Sources(), "cluster"),
    (Sources(calico_pools=(calico("a", "10.1.0.0/16"),)), "calico"),
    (Sources(calico_pools=(calico("a", "10.1.0.0/16", disabled=True),)), "cluster"),
    (Sources(cilium_config={"data": {}}), "cilium"),
    (Sources(cni_type="none", calico_pools=(calico("a", "10.1.0.0/16"),)), "none"),
])
def test_auto_picks_the_cni_in_use(sources, expected):
    assert resolve_type("auto", sources) == expected


@pytest.mark.parametrize("plugin, name, expected", [
    ("calico", "x", "calico"), ("bridge", "k8s-pod-network", "calico"), ("cilium-cni", "", "cilium"),
    ("flannel", "", "cluster"), ("macvlan", "", "none")])
def test_the_first_cni_config_names_the_pod_cidr_type(plugin, name, expected):
    assert cni_type_of(plugin, name) == expected


def test_cidrs_are_canonical_and_invalid_ones_dropped():
    found = discover("cluster", Sources(kubeadm_config=kubeadm("10.244.1.7/16,bogus", "10.96.0.0/12")))
    assert found.pod_cidrs == ("10.244.0.0/16",)
