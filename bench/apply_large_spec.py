"""Benchmark: `spiderpool apply` of the generated 500-subnet, 2,000-pool spec.

For each run: a fresh API server with the CRDs installed, then `spiderpool apply` into the
empty server, then the same apply again (a no-op). Prints the median of N runs for both, with
the API write requests each made, beside `python3 -c pass` measured in the same run.

`--server real` (the default) uses the real control plane (tests/cluster: etcd +
kube-apiserver, writes counted from its audit log) and also times `kubectl apply
--server-side` of the same rendered objects into another fresh control plane, printing the
ratio; `--server test` uses the project's API test server (tests/kubeapi).
Usage: .venv/bin/python bench/apply_large_spec.py [--server real|test] [--runs 3] [--subnets 500] [--pools 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.spec_pipeline import generate  # noqa: E402
from reconciler.kube import connect  # noqa: E402
from reconciler.sync import install_crds  # noqa: E402
from tests.kubeapi.server import KubeAPIServer  # noqa: E402

CALICO_CRD = REPO.parent / "shared" / "upstream" / "crds" / "projectcalico.org_ippools.yaml"


class RealServer:
    """A fresh real control plane with the CRDs, in the test server's shape for this script."""

    def __init__(self):
        from tests.cluster.api import RealCluster
        from tests.cluster.controlplane import ControlPlane

        self.cp = ControlPlane().start()
        self.cluster = RealCluster(self.cp)
        self.kubeconfig = self.cp.kubeconfig

    @property
    def stats(self):
        return self.cluster.stats

    def write_kubeconfig(self, path):
        return self.cp.write_kubeconfig(path)

    def create(self, obj):
        from tests.conftest import ensure_crd

        ensure_crd(self.cluster, obj)

    def stop(self):
        self.cp.stop()


def start_server(kind: str, tmp: str, run: int):
    server = RealServer() if kind == "real" else KubeAPIServer().start()
    server.write_kubeconfig(Path(tmp, f"kubeconfig-{run}"))
    install_crds(connect(kubeconfig=str(server.kubeconfig)))
    if CALICO_CRD.exists():  # Calico's IPPool CRD stands in for Calico
        server.create(yaml.safe_load(CALICO_CRD.read_text()))
    return server


def timed_kubectl(spec: Path, tmp: str, run: int) -> float:
    """`kubectl apply --server-side` of the rendered objects into a fresh real control plane."""
    from tests.k8s_binaries import toolset

    rendered = Path(tmp, "rendered.yaml")
    if not rendered.exists():
        rendered.write_text(subprocess.run([sys.executable, "-m", "reconciler", "render", str(spec)], cwd=REPO,
                                           check=True, capture_output=True, text=True).stdout)
    server = start_server("real", tmp, 1000 + run)
    try:
        kubectl = toolset("v33").kubectl
        start = time.perf_counter()
        proc = subprocess.run([str(kubectl), "--kubeconfig", str(server.kubeconfig), "apply", "--server-side",
                               "--field-manager", "bench", "-f", str(rendered)], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"kubectl apply failed: {proc.stderr[-2000:]}")
        return seconds
    finally:
        server.stop()


def timed_apply(spec: Path, server) -> tuple[float, int]:
    server.stats.reset()
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(spec), "-o", "json"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"apply failed: {proc.stderr[-2000:]}")
    return seconds, server.stats.writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("real", "test"), default="real")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subnets", type=int, default=500)
    parser.add_argument("--pools", type=int, default=2000)
    args = parser.parse_args()
    first, noop, first_writes, noop_writes, baseline, kubectl = [], [], [], [], [], []
    calico_crd = CALICO_CRD
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp, "spec.yaml")
        generate(spec, args.subnets, args.pools, calico=calico_crd.exists())
        for run in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            baseline.append(time.perf_counter() - start)
            server = start_server(args.server, tmp, run)
            try:
                seconds, writes = timed_apply(spec, server)
                first.append(seconds)
                first_writes.append(writes)
                seconds, writes = timed_apply(spec, server)
                noop.append(seconds)
                noop_writes.append(writes)
            finally:
                server.stop()
            if args.server == "real":
                kubectl.append(timed_kubectl(spec, tmp, run))
    objects = args.subnets + args.pools + (args.subnets // 10 if calico_crd.exists() else 0) + 1
    where = "the real kube-apiserver" if args.server == "real" else "the API test server"
    print(f"spec: {args.subnets} subnets, {args.pools} pools -> {objects} objects; {where}; "
          f"median of {args.runs} runs")
    base = statistics.median(baseline)
    print(f"  python -c pass (baseline)        {base:7.3f} s")
    print(f"  apply into an empty server       {statistics.median(first):7.3f} s   "
          f"writes: {statistics.median(first_writes):.0f} ({statistics.median(first_writes) / objects:.2f} per object)")
    print(f"  apply again (no-op)              {statistics.median(noop):7.3f} s   "
          f"writes: {statistics.median(noop_writes):.0f}")
    if kubectl:
        k = statistics.median(kubectl)
        print(f"  kubectl apply --server-side      {k:7.3f} s   (same rendered objects, empty server)")
        print(f"  ratio apply / kubectl            {statistics.median(first) / k:7.2f}")


if __name__ == "__main__":
    main()
