"""A running agent keeps its NodeReport: findings appear, clear when fixed, and nothing changed writes nothing."""

from __future__ import annotations

import json

from netaddr import IPNetwork

from agent import kube as k8s
from agent.client import AgentClient, netconf
from agent.nodereport import HostView, read_host

from .conftest import REPORTS, eventually, report_types

NADS = k8s.Kind("k8s.cni.cncf.io", "v1", "network-attachment-definitions", "NetworkAttachmentDefinition", True)


def macvlan_nad(cluster, master: str) -> dict:
    return cluster.create({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                           "metadata": {"name": "macvlan-ens", "namespace": "kube-system"},
                           "spec": {"config": json.dumps({"cniVersion": "1.0.0", "type": "macvlan", "master": master,
                                                          "ipam": {"type": "spiderpool"}})}})


def nad_writes(cluster) -> list:
    return [r for r in cluster.stats.write_log() if r.resource.startswith("nodereports.")]


def test_a_nad_naming_a_missing_master_is_reported_and_clears_when_fixed(cluster, kube, objects, reporting_agent):
    macvlan_nad(cluster, "nosuch-eth9")
    reporting_agent("worker1")
    assert eventually(lambda: report_types(cluster) == ["MasterInterfaceMissing"]), report_types(cluster)
    finding = cluster.get(REPORTS, "worker1")["status"]["findings"][0]
    assert finding["object"] == {"kind": "NetworkAttachmentDefinition", "namespace": "kube-system",
                                 "name": "macvlan-ens"}
    assert finding["severity"] == "Error" and "nosuch-eth9" in finding["message"]

    nad = kube.get(NADS, "macvlan-ens", "kube-system")
    nad["spec"]["config"] = json.dumps({"cniVersion": "1.0.0", "type": "macvlan", "master": "lo"})
    kube.replace(NADS, nad)
    assert eventually(lambda: report_types(cluster) == []), report_types(cluster)
    assert cluster.get(REPORTS, "worker1")["status"]["findingCount"] == 0


def test_a_pool_exhausted_by_an_add_is_reported_and_clears_when_it_grows(cluster, kube, objects, reporting_agent):
    objects.pool("p4", ["10.6.1.1"], default=True)
    agent = reporting_agent("worker1")
    assert eventually(lambda: report_types(cluster) == []), report_types(cluster)
    pod = objects.pod("web", "worker1")
    reply = AgentClient(agent.socket_path, timeout=30).cni(
        "ADD", config=netconf(), container_id="c-web", if_name="eth0", namespace="default", pod="web",
        uid=pod["metadata"]["uid"])
    assert reply.ok, reply.stdout
    assert eventually(lambda: report_types(cluster) == ["PoolExhausted"]), report_types(cluster)

    pool = kube.get(k8s.POOLS, "p4")
    pool["spec"]["ips"] = ["10.6.1.1-10.6.1.5"]
    kube.replace(k8s.POOLS, pool)
    assert eventually(lambda: report_types(cluster) == []), report_types(cluster)


def test_nothing_changed_writes_nothing(cluster, kube, objects, reporting_agent):
    macvlan_nad(cluster, "nosuch-eth9")
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    agent = reporting_agent("worker1")
    assert eventually(lambda: report_types(cluster) == ["MasterInterfaceMissing"])
    assert eventually(lambda: agent.nodereport.writes >= 1)
    writes, evaluations = agent.nodereport.writes, agent.nodereport.evaluations
    cluster.stats.reset()

    pool = kube.get(k8s.POOLS, "p4")  # an event the reporter evaluates on, changing no finding
    pool["metadata"].setdefault("labels", {})["touched"] = "yes"
    kube.replace(k8s.POOLS, pool)
    assert eventually(lambda: agent.nodereport.evaluations > evaluations)  # the event was evaluated
    assert agent.nodereport.sync() is False  # and an evaluation right now agrees

    assert nad_writes(cluster) == [] and agent.nodereport.writes == writes


def test_findings_the_coordinator_reports_are_written_and_expire(cluster, reporting_agent):
    agent = reporting_agent("worker1")
    agent.nodereport.report_finding("IPConflict", kind="Pod", name="web", namespace="default", severity="Error",
                                    message="10.6.1.1 is also held by 02:00:00:00:00:01", ttl=0.5)
    assert eventually(lambda: report_types(cluster) == ["IPConflict"]), report_types(cluster)
    assert eventually(lambda: report_types(cluster) == []), report_types(cluster)  # nothing else needed


def test_a_zone_pool_the_node_cannot_reach_is_reported_until_the_node_gets_a_route(cluster, objects,
                                                                                  reporting_agent):
    objects.node("worker1", {"zone": "a"})
    objects.pool("zone-a", ["10.9.0.10-10.9.0.20"], subnet="10.9.0.0/24", gateway=None,
                 nodeAffinity={"matchLabels": {"zone": "a"}})
    agent = reporting_agent("worker1")
    agent.nodereport.host = lambda: HostView(frozenset({"lo"}), (IPNetwork("192.168.7.0/24"),))
    agent.nodereport.poke()
    assert eventually(lambda: report_types(cluster) == ["ZoneUnreachable"]), report_types(cluster)

    agent.nodereport.host = lambda: HostView(frozenset({"lo"}), (IPNetwork("10.9.0.0/16"),))
    agent.nodereport.poke()
    assert eventually(lambda: report_types(cluster) == []), report_types(cluster)


def test_the_host_view_lists_the_hosts_links():
    assert "lo" in read_host().interfaces
