"""Benchmark: SpiderSubnet auto pools for 200 Deployments annotated at once, then all scaled x2.

For each run: a fresh real control plane (tests/cluster: etcd + kube-apiserver) with our CRDs,
one /16 SpiderSubnet, the auto-pool controller (agent/autopools.py, in-process, the product's
kubeconfig user, so its requests are counted from the audit log). Then:

  create   N Deployments (3 replicas, `ippool-ip-number: +2`) as fast as 8 threads send them;
           time until every pool exists with 5 IPs; per app: its create -> its pool at size
  scale    every Deployment to 6 replicas; time until every pool holds 8 IPs
  checks   no IP in two pools; the subnet's ledger equals the pools exactly

Baseline, same run, same server: N SpiderIPPools of 5 IPs created directly through the API
(8 threads, no controller) and then each PUT to 8 IPs — what the same number of pool writes
costs with no decisions around them. Prints medians over the runs and the ratios.
Usage: .venv/bin/python bench/autopools.py [--apps 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent import kube as k8s  # noqa: E402
from agent.autopools import AutoPools  # noqa: E402
from cni.allocation import autopool as ap  # noqa: E402
from cni.ipranges import compact, format_ip  # noqa: E402
from reconciler.kube import connect  # noqa: E402
from reconciler.sync import install_crds  # noqa: E402

SUBNET = {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderSubnet",
          "metadata": {"name": "bench-subnet", "finalizers": ["gitops.spidernet.io/ip-release"]},
          "spec": {"ipVersion": 4, "subnet": "10.200.0.0/16", "ips": ["10.200.0.1-10.200.255.254"],
                   "gateway": "10.200.0.254"}}


def deployment(name: str) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels, "annotations": {ap.SUBNET: '{"ipv4":["bench-subnet"]}',
                                                               ap.IP_NUMBER: "+2"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}}}


def sizes(kube: k8s.Kube) -> dict[str, int]:
    items, _ = kube.list(k8s.POOLS, label_selector=ap.LABEL_UID)
    return {p["metadata"]["labels"][ap.LABEL_NAME]: ap.ranges(p["spec"].get("ips"), 4).size for p in items}


def wait_sizes(kube: k8s.Kube, apps: list[str], size: int, since: dict[str, float], timeout: float = 600):
    """-> (seconds until all are at `size`, per-app latency from `since[app]`)."""
    ready: dict[str, float] = {}
    start = min(since.values())
    deadline = time.monotonic() + timeout
    while len(ready) < len(apps):
        if time.monotonic() > deadline:
            sys.exit(f"not all pools reached {size} IPs within {timeout}s: {len(ready)}/{len(apps)}")
        now = time.perf_counter()
        for app, n in sizes(kube).items():
            if n == size and app not in ready:
                ready[app] = now - since[app]
        time.sleep(0.05)
    return time.perf_counter() - start, list(ready.values())


def check(kube: k8s.Kube) -> tuple[int, bool]:
    """(IPs in more than one pool, whether the ledger equals the pools)."""
    items, _ = kube.list(k8s.POOLS, label_selector=ap.LABEL_UID)
    seen: dict[int, str] = {}
    overlaps = 0
    for pool in items:
        for first, last in ap.ranges(pool["spec"]["ips"], 4).spans:
            for value in range(first, last + 1):
                overlaps += value in seen
                seen[value] = pool["metadata"]["name"]
    subnet = kube.get(k8s.SUBNETS, "bench-subnet")
    ledger = json.loads(subnet["status"]["controlledIPPools"])
    matches = ledger.keys() == {p["metadata"]["name"] for p in items} and all(
        ledger[p["metadata"]["name"]]["ips"] == p["spec"]["ips"] for p in items)
    return overlaps, matches


def run_once(apps: int) -> dict:
    from tests.cluster.api import RealCluster
    from tests.cluster.controlplane import ControlPlane

    cp = ControlPlane().start()
    try:
        cluster = RealCluster(cp)
        install_crds(connect(kubeconfig=str(cp.kubeconfig)))
        cluster.create(SUBNET)
        kube = k8s.connect(kubeconfig=str(cp.kubeconfig))
        out = {"baseline": baseline(kube, apps)}
        controller = AutoPools(k8s.connect(kubeconfig=str(cp.kubeconfig)), interval=30.0)
        stop = threading.Event()
        thread = threading.Thread(target=controller.run, args=(stop,), daemon=True)
        thread.start()
        controller.wait_synced(30)
        names = [f"app{i:03d}" for i in range(apps)]
        cluster.stats.reset()
        created: dict[str, float] = {}

        def create(name: str) -> None:
            created[name] = time.perf_counter()
            cluster.create(deployment(name))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, names))
        out["create"], out["create_latency"] = wait_sizes(kube, names, 5, created)
        time.sleep(1.0)  # let the counts settle before reading the writes
        out["create_writes"] = cluster.stats.writes
        out["create_overlaps"], out["create_ledger"] = check(kube)

        cluster.stats.reset()
        scaled: dict[str, float] = {}

        def scale(name: str) -> None:
            scaled[name] = time.perf_counter()
            cluster.patch("deployments.apps", name, {"spec": {"replicas": 6}}, "default")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(scale, names))
        out["scale"], out["scale_latency"] = wait_sizes(kube, names, 8, scaled)
        time.sleep(1.0)
        out["scale_writes"] = cluster.stats.writes
        out["scale_overlaps"], out["scale_ledger"] = check(kube)
        stop.set()
        thread.join(30)
        kube.close()
        return out
    finally:
        cp.stop()


def baseline(kube: k8s.Kube, apps: int) -> dict:
    """N pools of 5 IPs created straight through the API, then each PUT to 8 IPs (8 threads)."""
    def ips(i: int, n: int) -> list[str]:
        base = (10 << 24) | (201 << 16) | (i * 16)
        return compact(ap.ranges([f"{format_ip(base, 4)}-{format_ip(base + n - 1, 4)}"], 4), 4)

    def create(i: int) -> dict:
        return kube.create(k8s.POOLS, {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                                       "metadata": {"name": f"direct-{i:03d}"},
                                       "spec": {"subnet": "10.201.0.0/16", "ips": ips(i, 5)}})

    def grow(obj: dict) -> None:
        obj["spec"]["ips"] = ips(int(obj["metadata"]["name"].split("-")[1]), 8)
        kube.replace(k8s.POOLS, obj)

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(create, range(apps)))
    created = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(grow, made))
    grown = time.perf_counter() - start
    for i in range(apps):
        kube.delete(k8s.POOLS, f"direct-{i:03d}")
    return {"create": created, "grow": grown}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [run_once(args.apps) for _ in range(args.runs)]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    base_create = statistics.median(r["baseline"]["create"] for r in runs)
    base_grow = statistics.median(r["baseline"]["grow"] for r in runs)
    latency = lambda key: statistics.median(x for r in runs for x in r[key])  # noqa: E731
    print(f"{args.apps} Deployments (3 replicas, +2) on one /16 SpiderSubnet, real kube-apiserver; "
          f"median of {args.runs} run(s)")
    print(f"  baseline: {args.apps} pools created directly    {base_create:7.2f} s")
    print(f"  all auto pools at 5 IPs                  {med('create'):7.2f} s   ratio {med('create') / base_create:5.2f}"
          f"   per app (create -> pool ready) median {latency('create_latency'):.2f} s")
    print(f"      API writes: {med('create_writes'):.0f} ({med('create_writes') / args.apps:.2f} per pool), "
          f"overlapping IPs: {max(r['create_overlaps'] for r in runs)}, "
          f"ledger == pools: {all(r['create_ledger'] for r in runs)}")
    print(f"  baseline: {args.apps} pools PUT to 8 IPs directly   {base_grow:7.2f} s")
    print(f"  all scaled x2, pools at 8 IPs            {med('scale'):7.2f} s   ratio {med('scale') / base_grow:5.2f}"
          f"   per app (scale -> pool grown) median {latency('scale_latency'):.2f} s")
    print(f"      API writes: {med('scale_writes'):.0f} ({med('scale_writes') / args.apps:.2f} per pool), "
          f"overlapping IPs: {max(r['scale_overlaps'] for r in runs)}, "
          f"ledger == pools: {all(r['scale_ledger'] for r in runs)}")


if __name__ == "__main__":
    main()
