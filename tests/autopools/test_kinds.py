"""Every kind of app upstream serves gets its pool, sized its way; owned ReplicaSets/Jobs and hostNetwork apps get none."""

from __future__ import annotations

import json

from cni.allocation import autopool as ap
from tests.conftest import eventually

from .conftest import annotated, auto_pools, deployment, pool_ips, subnet, template


def apps(name: str, kind: str, annotations: dict[str, str]) -> dict:
    labels = {"app": name}
    meta = {"name": name, "namespace": "default"}
    pod = template(annotations, labels)
    if kind == "StatefulSet":
        spec = {"replicas": 2, "serviceName": name, "selector": {"matchLabels": labels}, "template": pod}
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}
    if kind == "DaemonSet":
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                "spec": {"selector": {"matchLabels": labels}, "template": pod}}
    if kind == "ReplicaSet":
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": pod}}
    pod["spec"]["restartPolicy"] = "Never"
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": meta,
                "spec": {"parallelism": 3, "completions": 6, "template": pod}}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"parallelism": 2, "template": pod}}}}


def sizes(kube) -> dict[tuple[str, str], int]:
    return {(p["metadata"]["labels"][ap.LABEL_KIND], p["metadata"]["labels"][ap.LABEL_NAME]): len(pool_ips(p))
            for p in auto_pools(kube)}


def test_each_kind_gets_a_pool_sized_from_its_own_replica_count(cluster, kube, controller):
    cluster.create(subnet())
    controller()
    cluster.create(apps("db", "StatefulSet", annotated(number="4")))          # fixed: 4 whatever the replicas
    cluster.create(apps("agent", "DaemonSet", annotated(number="+2")))        # desiredNumberScheduled + 2
    cluster.create(apps("batch", "Job", annotated(number="+1")))              # parallelism + 1
    cluster.create(apps("nightly", "CronJob", annotated(number="+2")))        # the template's parallelism + 2
    cluster.create(apps("bare", "ReplicaSet", annotated(number="+1")))        # a ReplicaSet of its own
    cluster.create(deployment("hostnet", 1, annotated(), hostNetwork=True))   # skipped, as upstream
    cluster.create(deployment("plain", 1, {}))                                # no annotation: no pool
    scheduled = lambda: (cluster.get("daemonsets.apps", "agent", "default").get("status") or {}).get(
        "desiredNumberScheduled") or 0
    expected = lambda: {("StatefulSet", "db"): 4, ("DaemonSet", "agent"): scheduled() + 2, ("Job", "batch"): 4,
                        ("CronJob", "nightly"): 4, ("ReplicaSet", "bare"): 2}
    eventually(lambda: sizes(kube) == expected(), what="one pool per app",
               context=lambda: f"{sizes(kube)} != {expected()}")
    pools = auto_pools(kube)
    for pool in pools:                                                        # no two pools share an IP
        others = [pool_ips(p) for p in pools if p["metadata"]["name"] != pool["metadata"]["name"]]
        assert not any(pool_ips(pool) & o for o in others)
    group = {p["metadata"]["labels"][ap.LABEL_NAME]: p["metadata"]["labels"][ap.LABEL_GV] for p in auto_pools(kube)}
    assert group["nightly"] == "batch_v1" and group["db"] == "apps_v1"


def test_without_an_ip_number_the_controllers_default_applies(cluster, kube, controller):
    cluster.create(subnet())
    controller(default_number=ap.IpNumber(2))
    cluster.create(deployment("web", 2, annotated(number=None)))
    eventually(lambda: [len(pool_ips(p)) for p in auto_pools(kube, "web")] == [4], what="2 replicas + the default 2")
    assert auto_pools(kube, "web")[0]["metadata"]["annotations"][ap.IP_NUMBER] == "+2"


def test_a_pool_does_not_move_when_the_template_names_another_subnet(cluster, kube, controller):
    cluster.create(subnet())
    cluster.create(subnet("other-subnet", cidr="10.245.0.0/16", ips=["10.245.0.10-10.245.0.20"], gateway=None))
    controller()
    cluster.create(deployment("web", 1, annotated(number="+1")))
    pool = eventually(lambda: [p for p in auto_pools(kube, "web") if len(pool_ips(p)) == 2], what="the pool")[0]
    cluster.patch("deployments.apps", "web", {"spec": {"replicas": 2, "template": {"metadata": {"annotations": {
        ap.SUBNET: '{"ipv4":["other-subnet"]}'}}}}}, "default")
    import time
    time.sleep(3)
    after = auto_pools(kube, "web")
    assert len(after) == 1 and pool_ips(after[0]) == pool_ips(pool) and after[0]["spec"]["subnet"] == "10.244.0.0/16"


def test_a_dual_stack_two_nic_app_gets_one_pool_per_interface_and_family(cluster, kube, controller):
    cluster.create(subnet())
    cluster.create(subnet("v6", cidr="fd00:244::/64", ips=["fd00:244::10-fd00:244::ff"], gateway="fd00:244::1"))
    cluster.create(subnet("net1-v4", cidr="10.246.0.0/16", ips=["10.246.1.0-10.246.1.255"], gateway=None))
    controller()
    subnets = [{"interface": "eth0", "ipv4": ["nginx-subnet-v4"], "ipv6": ["v6"]},
               {"interface": "net1", "ipv4": ["net1-v4"]}]
    app = cluster.create(deployment("multi", 2, {ap.SUBNETS: json.dumps(subnets), ap.IP_NUMBER: "+1"}))
    uid5 = app["metadata"]["uid"].split("-")[-1][:5]
    expected = {f"auto4-multi-eth0-{uid5}", f"auto6-multi-eth0-{uid5}", f"auto4-multi-net1-{uid5}"}
    pools = eventually(lambda: {p["metadata"]["name"]: p for p in auto_pools(kube, "multi")}.keys() == expected
                       and {p["metadata"]["name"]: p for p in auto_pools(kube, "multi")}, what="three pools")
    v6 = pools[f"auto6-multi-eth0-{uid5}"]
    eventually(lambda: len(auto_pools(kube, "multi")) == 3 and all(
        ap.ranges(p["spec"]["ips"], p["spec"]["ipVersion"]).size == 3 for p in auto_pools(kube, "multi")),
        what="3 IPs each")
    assert v6["spec"]["subnet"] == "fd00:244::/64" and v6["metadata"]["labels"][ap.LABEL_VERSION] == "IPv6"
    assert pools[f"auto4-multi-net1-{uid5}"]["metadata"]["labels"][ap.LABEL_INTERFACE] == "net1"
