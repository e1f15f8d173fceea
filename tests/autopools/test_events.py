"""What an operator sees of auto pools: Events on the app (kubectl describe) and the controller's metrics."""

from __future__ import annotations

from tests.conftest import eventually
from tests.controller.conftest import ControllerProcess

from .conftest import annotated, auto_pools, deployment, pool_ips, subnet


def events_of(cluster, name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for event in cluster.list("events", "default"):
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == "Deployment" and involved.get("name") == name:
            out.setdefault(event["reason"], []).append(f"{event['type']}: {event['message']}")
    return out


def test_the_app_gets_events_and_the_controller_counts_its_pools(cluster, kube, tmp_path):
    cluster.create(subnet(ips=["10.244.100.0-10.244.100.7"]))            # 8 IPs
    controller = ControllerProcess(["--no-leader-elect", "--auto-pool-interval", "2"], kubeconfig=cluster.kubeconfig,
                                   log=tmp_path / "controller.log")
    try:
        app = cluster.create(deployment("web", 2, annotated(number="+1")))
        eventually(lambda: "AutoPoolCreated" in events_of(cluster, "web"), what="AutoPoolCreated",
                   context=controller.logs)
        events = events_of(cluster, "web")
        name = auto_pools(kube, "web")[0]["metadata"]["name"]
        assert events["AutoPoolCreated"] == [f"Normal: created auto pool {name} with 3 IPs from SpiderSubnet "
                                             "nginx-subnet-v4"]
        involved = next(e["involvedObject"] for e in cluster.list("events", "default")
                        if e["reason"] == "AutoPoolCreated")
        assert involved["uid"] == app["metadata"]["uid"] and involved["apiVersion"] == "apps/v1"

        cluster.patch("deployments.apps", "web", {"spec": {"replicas": 4}}, "default")
        eventually(lambda: "AutoPoolScaled" in events_of(cluster, "web"), what="AutoPoolScaled")
        assert events_of(cluster, "web")["AutoPoolScaled"] == [f"Normal: scaled auto pool {name} from 3 to 5 IPs"]

        cluster.create(deployment("big", 6, annotated(number="+1")))      # 7 wanted, 3 left
        eventually(lambda: "SubnetExhausted" in events_of(cluster, "big"), what="SubnetExhausted")
        assert events_of(cluster, "big")["SubnetExhausted"][0].startswith(
            "Warning: insufficient SpiderSubnet nginx-subnet-v4 free IPs for auto pool auto4-big-eth0-")
        assert not auto_pools(kube, "big") and len(pool_ips(auto_pools(kube, "web")[0])) == 5

        metrics = "\n".join(controller.metrics())
        assert 'spiderpool_auto_pool_changes_total{action="created"} 1.0' in metrics
        assert 'spiderpool_auto_pool_changes_total{action="grown"} 1.0' in metrics
        assert 'spiderpool_subnet_exhausted_total{subnet="nginx-subnet-v4"}' in metrics
        assert 'spiderpool_debug_subnet_total_ip_counts{subnet="nginx-subnet-v4"} 8.0' in metrics
        eventually(lambda: 'spiderpool_debug_subnet_available_ip_counts{subnet="nginx-subnet-v4"} 3.0' in
                   "\n".join(controller.metrics()), what="3 IPs left")
    finally:
        controller.close()
