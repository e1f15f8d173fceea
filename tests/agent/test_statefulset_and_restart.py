"""A StatefulSet pod keeps its IP across re-creation; an agent restarted from nothing rebuilds from the API."""

from __future__ import annotations



def test_a_statefulset_pod_keeps_its_ip_when_it_is_re_created(objects, agents, kube):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    sts = objects.statefulset("db", replicas=2)
    owner = {"kind": "StatefulSet", "name": "db", "uid": sts["metadata"]["uid"]}
    first = objects.pod("db-0", "worker1", owner=owner)
    agent = agents("worker1")
    ip = agent.add(first).ips
    objects.delete_pod("db-0", "default")
    assert agent.delete(first).ok  # the set still wants db-0: kept
    assert objects.endpoint("db-0") is not None
    assert agent.add(objects.pod("other", "worker1")).ips != ip

    second = objects.pod("db-0", "worker1", owner=owner)
    reply = agent.add(second)

    assert reply.ips == ip
    assert objects.records("p4")[ip[0]]["podUid"] == second["metadata"]["uid"]
    assert objects.endpoint("db-0")["status"]["current"]["uid"] == second["metadata"]["uid"]


def test_a_restarted_agent_rebuilds_its_view_from_the_api_and_answers_the_same(objects, agents, kube, sock_dir):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pods = [objects.pod(f"web-{i}", "worker1") for i in range(3)]
    agent = agents("worker1", socket=str(sock_dir / "agent.sock"))
    given = [agent.add(p).ips for p in pods]
    agent.stop()

    restarted = agents("worker1", socket=str(sock_dir / "agent.sock"))

    assert [restarted.add(p).ips for p in pods] == given
    assert restarted.add(objects.pod("web-new", "worker1")).ips == ["10.6.1.4"]
    objects.delete_pod("web-0", "default")
    assert restarted.delete(pods[0]).ok
    assert sorted(objects.records("p4")) == ["10.6.1.2", "10.6.1.3", "10.6.1.4"]
