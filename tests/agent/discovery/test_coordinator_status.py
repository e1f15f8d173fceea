"""The controller's status sync against the test API server: sources read, status written on change only."""

from __future__ import annotations

import json

from agent.coordinatorstatus import CoordinatorStatusSync, first_cni_type
from reconciler.cli import main

COORDINATORS = "spidercoordinators.spiderpool.spidernet.io"
KUBEADM = ("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking:\n"
           "  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n")


def coordinator(cluster, pod_cidr_type: str = "cluster") -> None:
    cluster.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderCoordinator",
                    "metadata": {"name": "default"}, "spec": {"podCIDRType": pod_cidr_type}})


def status(cluster) -> dict:
    return cluster.get(COORDINATORS, "default").get("status") or {}


def kubeadm_config(cluster) -> None:
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                    "data": {"ClusterConfiguration": KUBEADM}})


def kcm_pod(cluster) -> None:
    cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "kube-controller-manager-m1", "namespace": "kube-system",
        "labels": {"component": "kube-controller-manager"}},
        "spec": {"containers": [{"name": "kcm", "image": "kcm", "command": [
            "kube-controller-manager", "--cluster-cidr=10.10.0.0/16", "--service-cluster-ip-range=172.20.0.0/16"]}]}})


def test_kubeadm_config_is_synced_into_the_status(cluster, kube):
    coordinator(cluster)
    kubeadm_config(cluster)
    CoordinatorStatusSync(kube).sync_once()
    assert status(cluster) == {"phase": "Synced", "reason": "", "overlayPodCIDR": ["10.244.0.0/16"],
                               "serviceCIDR": ["10.96.0.0/12"]}


def test_the_controller_manager_pod_is_read_when_there_is_no_kubeadm_config(cluster, kube):
    coordinator(cluster)
    kcm_pod(cluster)
    CoordinatorStatusSync(kube).sync_once()
    assert (status(cluster)["overlayPodCIDR"], status(cluster)["serviceCIDR"]) == (["10.10.0.0/16"],
                                                                                     ["172.20.0.0/16"])


def test_kubeadm_config_takes_precedence_over_the_controller_manager(cluster, kube):
    coordinator(cluster)
    kubeadm_config(cluster)
    kcm_pod(cluster)
    CoordinatorStatusSync(kube).sync_once()
    assert status(cluster)["overlayPodCIDR"] == ["10.244.0.0/16"]


def test_calico_pools_of_both_api_groups_are_read(cluster, kube):
    coordinator(cluster, "calico")
    kubeadm_config(cluster)
    cluster.create({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "v1pool"},
                    "spec": {"cidr": "10.222.64.0/18"}})
    cluster.create({"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "v3pool"},
                    "spec": {"cidr": "10.223.64.0/18"}})
    cluster.create({"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "off"},
                    "spec": {"cidr": "10.99.0.0/16", "disabled": True}})
    CoordinatorStatusSync(kube).sync_once()
    assert status(cluster)["phase"] == "Synced"
    assert sorted(status(cluster)["overlayPodCIDR"]) == ["10.222.64.0/18", "10.223.64.0/18"]


def test_nothing_to_discover_is_not_ready_with_a_reason(cluster, kube):
    coordinator(cluster)
    CoordinatorStatusSync(kube).sync_once()
    assert status(cluster)["phase"] == "NotReady"
    assert "no pod CIDR" in status(cluster)["reason"] and "kubeadm-config" in status(cluster)["reason"]


def test_a_second_pass_with_nothing_changed_writes_nothing(cluster, kube):
    coordinator(cluster)
    kubeadm_config(cluster)
    sync = CoordinatorStatusSync(kube)
    sync.sync_once()
    cluster.stats.reset()
    sync.sync_once()
    assert cluster.stats.writes == 0 and sync.writes == 1


def test_a_changed_input_is_written_on_the_next_pass(cluster, kube):
    coordinator(cluster)
    sync = CoordinatorStatusSync(kube)
    sync.sync_once()
    assert status(cluster)["phase"] == "NotReady"
    kubeadm_config(cluster)
    sync.sync_once()
    assert status(cluster)["phase"] == "Synced" and sync.writes == 2


def test_no_coordinator_means_nothing_to_do(cluster, kube):
    assert CoordinatorStatusSync(kube).sync_once() is None
    assert cluster.stats.writes == 0


def test_controller_once_syncs_the_coordinator_status(cluster):
    coordinator(cluster)
    kubeadm_config(cluster)
    assert main(["controller", "--once", "--kubeconfig", str(cluster.kubeconfig)]) == 0
    assert status(cluster)["phase"] == "Synced"


def test_auto_reads_the_first_cni_config(tmp_path):
    (tmp_path / "10-calico.conflist").write_text(json.dumps({"name": "k8s-pod-network",
                                                               "plugins": [{"type": "calico"}]}))
    (tmp_path / "20-other.conf").write_text(json.dumps({"type": "bridge"}))
    assert first_cni_type(str(tmp_path)) == "calico"
    assert first_cni_type(str(tmp_path / "missing")) is None
