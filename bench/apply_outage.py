"""Benchmark: how long `spiderpool apply` takes to give up when the API server dies mid-apply.

For each run: a fresh API test server (tests/kubeapi) with the CRDs, writes slowed to
--slow seconds each so the apply is still under way; a spec of --pools pools and 4 NADs;
`spiderpool --retry-budget B apply` started as a process; the server is stopped once
--after objects are written. Printed per budget: the median seconds from the server's
death to the CLI's exit (and min/max), the exit code and the summary line, beside
`python3 -c pass` measured in the same run. Issue 12 saw 661 s and an "internal error"
for a 2,501-object apply with --retry-budget 5.

Usage: .venv/bin/python bench/apply_outage.py [--runs 3] [--budgets 5 30] [--pools 400]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconciler.kube import connect  # noqa: E402
from reconciler.sync import install_crds  # noqa: E402
from tests.kubeapi.server import KubeAPIServer  # noqa: E402


def write_spec(path: Path, pools: int) -> Path:
    lines = ["apiVersion: gitops.spidernet.io/v1alpha1", "kind: NetworkSpec", "metadata: {name: outage}", "spec:",
             "  cluster: {ipVersions: [4]}", "  ippools:"]
    lines += [f"    - {{name: p{i}, subnet: 10.{i // 250}.0.0/16, ips: [10.{i // 250}.{i % 250}.1], "
              f"gateway: 10.{i // 250}.255.254}}" for i in range(pools)]
    lines += ["  networks:"] + [f"    - {{name: net{i}, type: macvlan, master: eth{i}, ippools: {{ipv4: [p{i}]}}}}"
                                for i in range(4)]
    path.write_text("\n".join(lines) + "\n")
    return path


def one_run(tmp: str, spec: Path, *, budget: float, after: int, slow: float) -> tuple[float, int, str, str]:
    server = KubeAPIServer().start()
    try:
        kubeconfig = server.write_kubeconfig(Path(tmp, "kubeconfig"))
        install_crds(connect(kubeconfig=str(kubeconfig)))
        server.stats.reset()
        server.faults.configure(slow_rate=1.0, slow_seconds=slow, verbs={"patch"})
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        proc = subprocess.Popen([sys.executable, "-m", "reconciler", "--retry-budget", str(budget), "apply",
                                 str(spec)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        while server.stats.writes < after and proc.poll() is None:
            time.sleep(0.01)
    finally:
        server.stop()
    stopped = time.monotonic()
    out, err = proc.communicate(timeout=3600)
    took = time.monotonic() - stopped
    summary = next((line for line in reversed(out.splitlines()) if line.startswith("Apply ")), "")
    return took, proc.returncode, summary, (err.splitlines() or [""])[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budgets", type=float, nargs="+", default=[5.0, 30.0])
    parser.add_argument("--pools", type=int, default=400)
    parser.add_argument("--after", type=int, default=40, help="stop the server after this many writes")
    parser.add_argument("--slow", type=float, default=0.05, help="seconds each write is slowed by")
    args = parser.parse_args()
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    baseline = time.monotonic() - started
    print(f"spec: {args.pools} pools + 4 NADs; server stopped after {args.after} writes; "
          f"python3 -c pass: {baseline:.3f}s")
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(Path(tmp, "spec.yaml"), args.pools)
        for budget in args.budgets:
            runs = [one_run(tmp, spec, budget=budget, after=args.after, slow=args.slow) for _ in range(args.runs)]
            times = [r[0] for r in runs]
            print(f"--retry-budget {budget:g}: server death -> exit: median {statistics.median(times):.2f}s "
                  f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs); exit {runs[-1][1]}")
            print(f"    {runs[-1][2]}")
            print(f"    {runs[-1][3][:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
