"""An agent with its NodeReport on, against the test API server (the agent tests' cluster and objects)."""

from __future__ import annotations

import time

import pytest

from agent import kube as k8s
from agent.main import Agent
from agent.service import AgentSettings
from tests.agent.conftest import Objects, cluster, kube, objects, sock_dir  # noqa: F401  (fixtures)

REPORTS = "nodereports.gitops.spidernet.io"


@pytest.fixture
def reporting_agent(cluster, sock_dir):  # noqa: F811
    """reporting_agent(node) -> a ready Agent whose NodeReport evaluates 0.05 s after each event."""
    started: list[Agent] = []

    def start(node: str = "worker1") -> Agent:
        if cluster.get("nodes", node) is None:
            Objects(cluster).node(node)
        agent = Agent(AgentSettings(node=node), str(sock_dir / f"{node}.sock"),
                      k8s.connect(kubeconfig=str(cluster.kubeconfig)), node_report=True)
        agent.nodereport.debounce = 0.05
        started.append(agent.start())
        assert agent.wait_ready(15), agent.cache.problems()
        return agent

    yield start
    for agent in started:
        agent.stop()


def report_types(cluster, node: str = "worker1") -> list[str] | None:
    report = cluster.get(REPORTS, node)
    return None if report is None else [f["type"] for f in (report.get("status") or {}).get("findings") or []]


def eventually(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()
