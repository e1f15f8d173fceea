"""CNI DEL: idempotent, frees only what the requesting pod UID holds, keeps a live pod's IP."""

from __future__ import annotations



def test_del_after_the_pod_is_gone_frees_its_ip_and_deletes_its_endpoint(objects, agents, kube):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    assert agent.add(pod).ok
    objects.delete_pod("web", "default")

    reply = agent.delete(pod)

    assert reply.ok and reply.stdout == ""
    assert objects.records("p4") == {}
    assert objects.endpoint("web") is None


def test_del_is_idempotent_and_a_del_for_nothing_succeeds(cluster, objects, agents, kube):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    agent.add(pod)
    objects.delete_pod("web", "default")
    assert agent.delete(pod).ok
    writes = cluster.stats.writes

    assert agent.delete(pod).ok
    assert agent.delete(pod, nic="net1").ok
    assert agent.client.cni("DEL", config={"cniVersion": "1.0.0", "name": "n", "ipam": {"type": "spiderpool"}},
                            container_id="never-added", if_name="eth0", namespace="default", pod="ghost").ok
    assert cluster.stats.writes == writes


def test_del_keeps_the_ip_of_a_pod_that_is_still_alive(objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    agent.add(pod)

    assert agent.delete(pod).ok  # the sandbox goes, the pod stays: it will ADD again

    assert list(objects.records("p4")) == ["10.6.1.1"]
    assert agent.add(pod, container="sandbox-2").ips == ["10.6.1.1"]


def test_a_late_del_with_an_old_uid_frees_nothing_of_the_re_created_pod(objects, agents, kube):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    old = objects.pod("web", "worker1")
    agent = agents("worker1")
    agent.add(old, container="old-sandbox")
    objects.delete_pod("web", "default")
    new = objects.pod("web", "worker1")  # same name, new UID
    assert agent.add(new, container="new-sandbox").ok
    held_by_new = {ip for ip, r in objects.records("p4").items() if r["podUid"] == new["metadata"]["uid"]}

    assert agent.delete(old, container="old-sandbox").ok

    records = objects.records("p4")
    assert held_by_new and all(records[ip]["podUid"] == new["metadata"]["uid"] for ip in held_by_new)
    assert all(r["podUid"] != old["metadata"]["uid"] for r in records.values())
    assert objects.endpoint("web")["status"]["current"]["uid"] == new["metadata"]["uid"]


def test_del_of_one_nic_of_a_deleted_pod_frees_every_nic_as_upstream(objects, agents, kube):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    assert agent.add(pod, nic="eth0").ips == ["10.6.1.1"]
    assert agent.add(pod, nic="net1").ips == ["10.6.1.2"]
    objects.delete_pod("web", "default")

    assert agent.delete(pod, nic="net1").ok

    assert list(objects.records("p4")) == []  # eth0's too: its own DEL may never come
    assert objects.endpoint("web") is None
    assert agent.delete(pod, nic="eth0").ok  # and when it does, there is nothing left: success
