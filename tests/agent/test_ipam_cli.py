"""`spiderpool ipam pools|subnets|endpoints|check`: kubectl's columns, JSON, and an audit that fails on problems."""

from __future__ import annotations

import json

import pytest

from agent import kube as k8s
from reconciler.cli import main


@pytest.fixture
def cli(cluster, capsys, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))

    def run(*args):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def allocated(objects, agents):
    objects.pool("test-ippool-6", ["10.6.168.101-10.6.168.110"], default=True)
    objects.pool("test-ippool-7", ["10.7.168.101-10.7.168.110"], subnet="10.7.0.0/16", gateway="10.7.0.1",
                 disable=True)
    agent = agents("worker01")
    pod = objects.pod("nginx-0", "worker01")
    assert agent.add(pod, nic="net1").ok
    return pod


def test_ipam_pools_prints_kubectl_get_sp_columns(allocated, cli):
    code, out, _ = cli("ipam", "pools")

    assert code == 0
    assert out.splitlines() == [
        "NAME            VERSION   SUBNET        ALLOCATED-IP-COUNT   TOTAL-IP-COUNT   DEFAULT   DISABLE",
        "test-ippool-6   4         10.6.0.0/16   1                    10               true      false",
        "test-ippool-7   4         10.7.0.0/16   0                                     false     true",
    ]


def test_ipam_endpoints_prints_kubectl_get_se_columns_and_json(allocated, cli):
    code, out, _ = cli("ipam", "endpoints", "-n", "default")

    assert code == 0
    assert out.splitlines() == [
        "NAME      INTERFACE   IPV4POOL        IPV4              IPV6POOL   IPV6   NODE",
        "nginx-0   net1        test-ippool-6   10.6.168.101/16" + " " * 21 + "worker01",
    ]
    code, out, _ = cli("ipam", "endpoints", "-o", "json")
    (item,) = json.loads(out)["items"]
    assert (item["namespace"], item["ipv4"], item["uid"]) == ("default", "10.6.168.101/16",
                                                             allocated["metadata"]["uid"])


def test_ipam_check_is_clean_after_normal_allocations(allocated, cli):
    code, out, _ = cli("ipam", "check")
    assert (code, out) == (0, "No problems found: every record has one owner and a live pod.\n")


def test_ipam_check_flags_an_injected_duplicate_and_a_record_of_a_missing_pod(allocated, cluster, cli):
    kube = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    other = kube.get(k8s.POOLS, "test-ippool-7")
    other["spec"] = {**other["spec"], "ips": ["10.6.168.101-10.6.168.110"], "subnet": "10.6.0.0/16",
                     "gateway": "10.6.0.1"}
    other = kube.replace(k8s.POOLS, other)
    other["status"] = {"allocatedIPs": json.dumps({"10.6.168.101": {"pod": "default/ghost", "podUid": "u-ghost"}}),
                       "allocatedIPCount": 1, "totalIPCount": 10}
    kube.replace_status(k8s.POOLS, other)

    code, out, _ = cli("ipam", "check")

    assert code == 1
    assert "duplicate-ip" in out and "10.6.168.101" in out and "recorded in test-ippool-6" in out
    assert "missing-pod" in out and "default/ghost" in out
    code, out, _ = cli("ipam", "check", "-o", "json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert {f["kind"] for f in report["findings"]} >= {"duplicate-ip", "missing-pod"}


@pytest.mark.testserver  # stops the API server under the agent
def test_ipam_reports_an_unreachable_cluster_as_an_error(cluster, cli):
    cluster.stop()
    code, _, err = cli("ipam", "pools", "--request-timeout", "1", "--retry-budget", "0.3")
    assert code == 1 and "spiderpool: error:" in err
