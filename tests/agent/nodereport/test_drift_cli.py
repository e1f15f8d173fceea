"""`spiderpool drift`: every NodeReport as a table with a line per finding, or JSON; exit 1 on an Error."""

from __future__ import annotations

import json

import pytest

from agent import kube as k8s
from agent.nodereport import NODE_REPORTS
from reconciler.cli import main

REPORTS = "nodereports.gitops.spidernet.io"


def report(cluster, node: str, findings: list[dict]) -> None:
    created = cluster.create({"apiVersion": "gitops.spidernet.io/v1alpha1", "kind": "NodeReport",
                              "metadata": {"name": node}})
    client = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    created["status"] = {"node": node, "observedAt": "2026-01-01T00:00:00Z", "findings": findings,
                         "findingCount": len(findings)}
    client.replace_status(NODE_REPORTS, created)
    client.close()


def finding(type_: str, severity: str, name: str) -> dict:
    return {"type": type_, "severity": severity, "object": {"kind": "SpiderIPPool", "name": name},
            "message": f"{name} is wrong", "since": "2026-01-01T00:00:00Z"}


@pytest.fixture
def drift(cluster, capsys, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))

    def run(*args: str):
        code = main(["drift", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_no_reports_says_so_and_succeeds(drift):
    code, out, _ = drift()
    assert code == 0 and "No NodeReport found" in out


def test_the_table_lists_nodes_and_a_line_per_finding_and_an_error_fails(cluster, drift):
    report(cluster, "worker1", [finding("PoolExhausted", "Error", "p4"), finding("ZoneUnreachable", "Warning", "z")])
    report(cluster, "worker2", [])
    code, out, _ = drift()
    lines = out.splitlines()
    assert code == 1
    assert lines[0].split() == ["NODE", "FINDINGS", "TYPES", "OBSERVED"]
    assert lines[1].split()[:3] == ["worker1", "2", "PoolExhausted,ZoneUnreachable"]
    assert lines[2].split()[:3] == ["worker2", "0", "-"]
    assert any("Error" in line and "SpiderIPPool p4" in line and "p4 is wrong" in line for line in lines)


def test_warnings_alone_succeed_and_json_carries_the_findings(cluster, drift):
    report(cluster, "worker1", [finding("ZoneUnreachable", "Warning", "z")])
    code, out, _ = drift("-o", "json")
    items = json.loads(out)["items"]
    assert code == 0
    assert [(i["node"], i["findingCount"], [f["type"] for f in i["findings"]]) for i in items] == [
        ("worker1", 1, ["ZoneUnreachable"])]
