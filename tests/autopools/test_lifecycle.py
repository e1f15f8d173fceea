"""Auto pools over an app's life: shrinking waits for pods, kept pools are taken over, and whatever the
controller missed or was cut off in the middle of is repaired by the next pass."""

from __future__ import annotations

import json

from agent import kube as k8s
from cni.allocation import autopool as ap
from tests.conftest import eventually

from .conftest import annotated, auto_pools, controlled, deployment, pool_ips, subnet


def hold(kube, pool_name: str, ips: list[str]) -> None:
    """Write allocation records for `ips` into a pool, as agents do for running pods."""
    def write():
        pool = kube.get(k8s.POOLS, pool_name)
        pool["metadata"].pop("managedFields", None)
        records = {ip: {"pod": f"default/p{i}", "podUid": f"u{i}"} for i, ip in enumerate(ips)}
        pool["status"] = {**(pool.get("status") or {}), "allocatedIPs": json.dumps(records),
                          "allocatedIPCount": len(records)}
        kube.replace_status(k8s.POOLS, pool)
        return True

    eventually(lambda: _try(write), what=f"records written into {pool_name}")


def _try(call):
    try:
        return call()
    except k8s.Conflict:
        return False


def test_a_shrink_drops_only_free_ips_and_waits_for_pods_to_release_the_rest(cluster, kube, controller):
    cluster.create(subnet())
    controller()
    cluster.create(deployment("web", 3, annotated(number="+0")))
    pool = eventually(lambda: [p for p in auto_pools(kube, "web") if len(pool_ips(p)) == 3], what="3 IPs")[0]
    name = pool["metadata"]["name"]
    used = sorted(pool_ips(pool))
    hold(kube, name, used)                                    # three running pods
    cluster.patch("deployments.apps", "web", {"spec": {"replicas": 1}}, "default")
    eventually(lambda: (auto_pools(kube, "web")[0].get("status") or {}).get("allocatedIPCount") == 3, what="counts")
    import time
    time.sleep(3)                                             # a few passes: none may drop a used IP
    assert pool_ips(auto_pools(kube, "web")[0]) == set(used)
    hold(kube, name, used[2:])                                # two pods went
    eventually(lambda: pool_ips(auto_pools(kube, "web")[0]) == {used[2]}, what="shrunk to the IP still in use")
    eventually(lambda: controlled(kube)[name]["ips"] == [used[2]], what="the ledger shrunk after the pool")


def test_a_kept_pool_is_taken_over_by_a_new_app_of_the_same_kind_namespace_and_name(cluster, kube, controller):
    cluster.create(subnet())
    controller()
    first = cluster.create(deployment("web", 2, annotated(number="+1", **{ap.RECLAIM: "false"})))
    pool = eventually(lambda: [p for p in auto_pools(kube, "web") if len(pool_ips(p)) == 3], what="the kept pool")[0]
    assert pool["metadata"]["labels"][ap.LABEL_RECLAIM] == "false"
    cluster.delete("deployments.apps", "web", "default")
    eventually(lambda: cluster.get("deployments.apps", "web", "default") is None, what="the app gone")
    import time
    time.sleep(3)
    assert [p["metadata"]["name"] for p in auto_pools(kube, "web")] == [pool["metadata"]["name"]]   # kept
    cluster.create(deployment("other", 1, annotated(number="+1")))   # another name: its own pool
    second = cluster.create(deployment("web", 2, annotated(number="+1", **{ap.RECLAIM: "false"})))
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    taken = eventually(lambda: [p for p in auto_pools(kube, "web")
                                if p["metadata"]["labels"][ap.LABEL_UID] == second["metadata"]["uid"]], what="taken over")
    assert taken[0]["metadata"]["name"] == pool["metadata"]["name"] and pool_ips(taken[0]) == pool_ips(pool)
    assert len(auto_pools(kube, "web")) == 1
    eventually(lambda: len(auto_pools(kube, "other")) == 1 and not pool_ips(auto_pools(kube, "other")[0]) & pool_ips(pool),
               what="the other app's own pool")


def test_a_pool_whose_app_went_while_the_controller_was_down_is_cleaned_up(cluster, kube, controller):
    cluster.create(subnet())
    running = controller()
    cluster.create(deployment("web", 1, annotated()))
    eventually(lambda: auto_pools(kube, "web"), what="the pool")
    running.halt()
    cluster.delete("deployments.apps", "web", "default")
    eventually(lambda: cluster.get("deployments.apps", "web", "default") is None, what="the app gone")
    assert auto_pools(kube, "web")
    controller()
    eventually(lambda: not auto_pools(kube, "web"), what="the orphaned pool reclaimed")
    eventually(lambda: controlled(kube) == {}, what="the ledger entry dropped")


def test_a_ledger_written_before_a_crash_is_honoured_and_stale_entries_are_dropped(cluster, kube, controller):
    """A controller that died between writing the subnet's ledger and creating the pool: the next one
    creates the pool with exactly the IPs the ledger reserved; an entry nothing owns any more goes."""
    cluster.create(subnet())
    app = cluster.create(deployment("web", 2, annotated(number="+1")))
    name = ap.pool_name(4, "web", "eth0", app["metadata"]["uid"])
    obj = kube.get(k8s.SUBNETS, "nginx-subnet-v4")
    obj["metadata"].pop("managedFields", None)
    obj["status"] = {"controlledIPPools": json.dumps({
        name: {"ips": ["10.244.100.7-10.244.100.9"], "application": "apps_v1_Deployment_default_web"},
        "auto4-gone-eth0-00000": {"ips": ["10.244.100.0-10.244.100.6"], "application": "apps_v1_Deployment_default_gone"}})}
    kube.replace_status(k8s.SUBNETS, obj)
    controller()
    pool = eventually(lambda: auto_pools(kube, "web"), what="the pool")[0]
    assert pool["metadata"]["name"] == name
    assert pool_ips(pool) == {"10.244.100.7", "10.244.100.8", "10.244.100.9"}
    eventually(lambda: set(controlled(kube)) == {name}, what="the stale entry dropped")
