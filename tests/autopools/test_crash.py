"""`spiderpool controller` SIGKILLed in the middle of creating and of scaling pools: the next one converges,
the subnet's ledger matches the pools exactly, and no IP is in two pools."""

from __future__ import annotations

import signal
import subprocess
import sys

from agent import kube as k8s
from cni.allocation import autopool as ap
from tests.conftest import REPO, eventually

from .conftest import annotated, auto_pools, controlled, deployment, pool_ips, subnet

APPS = [f"app{i:02d}" for i in range(15)]


def start(cluster, log):
    return subprocess.Popen([sys.executable, "-m", "reconciler", "controller", "--kubeconfig", str(cluster.kubeconfig),
                             "--no-leader-elect", "--auto-pool-interval", "2"],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)


def kill(process) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def sizes(kube) -> dict[str, int]:
    return {p["metadata"]["labels"][ap.LABEL_NAME]: len(pool_ips(p)) for p in auto_pools(kube)}


def consistent(kube) -> bool:
    pools = auto_pools(kube)
    ledger = controlled(kube)
    seen: set[str] = set()
    for pool in pools:
        ips = pool_ips(pool)
        if ips & seen:
            raise AssertionError(f"{pool['metadata']['name']} shares IPs with another pool")
        seen |= ips
        entry = ledger.get(pool["metadata"]["name"])
        if entry is None or pool_ips({"spec": {"ips": entry["ips"]}}) != ips:
            return False
    return set(ledger) == {p["metadata"]["name"] for p in pools}


def test_a_controller_killed_mid_create_and_mid_scale_converges(cluster, kube, tmp_path):
    cluster.create(subnet())
    with open(tmp_path / "controller.log", "w") as log:
        for name in APPS:
            cluster.create(deployment(name, 2, annotated(number="+1")))
        first = start(cluster, log)
        eventually(lambda: len(auto_pools(kube)) >= 3, what="some pools made", every=0.01)
        kill(first)                                                   # mid-create
        for name in APPS:
            cluster.patch("deployments.apps", name, {"spec": {"replicas": 4}}, "default")
        second = start(cluster, log)
        eventually(lambda: any(n == 5 for n in sizes(kube).values()), what="some pools grown", every=0.01)
        kill(second)                                                  # mid-scale
        third = start(cluster, log)
        try:
            eventually(lambda: sizes(kube) == {name: 5 for name in APPS} and consistent(kube),
                       what="every pool at 4 + 1, the ledger matching", timeout=90,
                       context=lambda: f"{sizes(kube)}\n{(tmp_path / 'controller.log').read_text()[-2000:]}")
            status = kube.get(k8s.SUBNETS, "nginx-subnet-v4")["status"]
            eventually(lambda: kube.get(k8s.SUBNETS, "nginx-subnet-v4")["status"]["allocatedIPCount"] == 75,
                       what="subnet count 15 x 5")
            assert status["totalIPCount"] == 25602
        finally:
            kill(third)
