"""Benchmark: `spiderpool apply` of the generated 500-subnet, 2,000-pool spec.

For each run: a fresh Kubernetes API test server (tests/kubeapi) with the CRDs
installed, then `spiderpool apply` into the empty server, then the same apply again
(a no-op). Prints the median of N runs for both, with the API write requests each
made (counted by the server), beside `python3 -c pass` measured in the same run.
Usage: .venv/bin/python bench/apply_large_spec.py [--runs 5] [--subnets 500] [--pools 2000]
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


def timed_apply(spec: Path, server: KubeAPIServer) -> tuple[float, int]:
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
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--subnets", type=int, default=500)
    parser.add_argument("--pools", type=int, default=2000)
    args = parser.parse_args()
    first, noop, first_writes, noop_writes, baseline = [], [], [], [], []
    calico_crd = REPO.parent / "shared" / "upstream" / "crds" / "projectcalico.org_ippools.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp, "spec.yaml")
        generate(spec, args.subnets, args.pools, calico=calico_crd.exists())
        for run in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            baseline.append(time.perf_counter() - start)
            server = KubeAPIServer().start()
            try:
                server.write_kubeconfig(Path(tmp, f"kubeconfig-{run}"))
                install_crds(connect(kubeconfig=str(server.kubeconfig)))
                if calico_crd.exists():  # Calico's IPPool CRD stands in for Calico
                    server.create(yaml.safe_load(calico_crd.read_text()))
                seconds, writes = timed_apply(spec, server)
                first.append(seconds)
                first_writes.append(writes)
                seconds, writes = timed_apply(spec, server)
                noop.append(seconds)
                noop_writes.append(writes)
            finally:
                server.stop()
    objects = args.subnets + args.pools + (args.subnets // 10 if calico_crd.exists() else 0) + 1
    print(f"spec: {args.subnets} subnets, {args.pools} pools -> {objects} objects; median of {args.runs} runs")
    base = statistics.median(baseline)
    print(f"  python -c pass (baseline)        {base:7.3f} s")
    print(f"  apply into an empty server       {statistics.median(first):7.3f} s   "
          f"writes: {statistics.median(first_writes):.0f} ({statistics.median(first_writes) / objects:.2f} per object)")
    print(f"  apply again (no-op)              {statistics.median(noop):7.3f} s   "
          f"writes: {statistics.median(noop_writes):.0f}")


if __name__ == "__main__":
    main()
