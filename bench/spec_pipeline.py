"""Benchmark: validate, render and plan (offline) a generated 500-subnet, 2,000-pool spec.

Runs the real `spiderpool` CLI as a user would, 5 times each, and prints medians
beside the interpreter's own start-up (`python3 -c pass`) measured in the same run.
Usage: .venv/bin/python bench/spec_pipeline.py [--subnets 500] [--pools 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def generate(path: Path, subnets: int, pools: int, *, calico: bool = True) -> None:
    """Subnets are /20s inside 10.0.0.0/8; each gets pools/subnets non-overlapping pools."""
    per = max(1, pools // subnets)
    lines = ["apiVersion: gitops.spidernet.io/v1alpha1", "kind: NetworkSpec", "metadata:", "  name: bench",
             "spec:", "  cluster:", "    ipVersions: [4]", "  zones:"]
    for z in range(4):
        lines += [f"    - name: zone-{z}", f"      nodeSelector: {{matchLabels: {{zone: z{z}}}}}"]
    lines.append("  subnets:")
    bases = []
    for i in range(subnets):
        base = (10 << 24) + (i << 12)  # a /20 each
        bases.append(base)
        a = lambda off: ".".join(str((base + off) >> s & 255) for s in (24, 16, 8, 0))  # noqa: E731
        lines += [f"    - name: subnet-{i}", f"      subnet: {a(0)}/20", f"      ips: [{a(16)}-{a(4000)}]",
                  f"      gateway: {a(1)}", f"      routes: [{{dst: 172.16.{i % 250}.0/24, gw: {a(2)}}}]"]
        if calico and i % 10 == 0:
            lines.append("      calicoIPPool: {blockSize: 26}")
    lines.append("  ippools:")
    for j in range(pools):
        i, k = divmod(j, per)
        i = min(i, subnets - 1)
        base = bases[i]
        a = lambda off: ".".join(str((base + off) >> s & 255) for s in (24, 16, 8, 0))  # noqa: E731
        start = 16 + k * 100
        lines += [f"    - name: pool-{j}", f"      subnet: {a(0)}/20", f"      ips: [{a(start)}-{a(start + 99)}]",
                  f"      excludeIPs: [{a(start + 50)}]", f"      zones: [zone-{j % 4}]"]
    lines += ["  networks:", "    - name: macvlan-ens192", "      type: macvlan", "      master: ens192",
              "      ippools: {ipv4: [pool-0, pool-1]}", "      coordinator: {mode: overlay}"]
    path.write_text("\n".join(lines) + "\n")


def timed(argv: list[str], runs: int, *, ok=(0,)) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples.append(time.perf_counter() - start)
        if proc.returncode not in ok:
            sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=500)
    parser.add_argument("--pools", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp, "spec.yaml")
        generate(spec, args.subnets, args.pools)
        state = Path(tmp, "state.yaml")
        state.write_bytes(subprocess.run([BIN / "spiderpool", "render", spec], check=True, capture_output=True).stdout)
        print(f"spec: {args.subnets} subnets, {args.pools} pools, {len(spec.read_text().splitlines())} lines; "
              f"median of {args.runs} runs")
        baseline = timed([sys.executable, "-c", "pass"], args.runs)
        rows = [
            ("python -c pass (baseline)", baseline),
            ("spiderpool validate", timed([BIN / "spiderpool", "validate", spec], args.runs)),
            ("spiderpool render", timed([BIN / "spiderpool", "render", spec], args.runs)),
            ("spiderpool plan --offline (empty cluster)", timed([BIN / "spiderpool", "plan", "--offline", spec], args.runs)),
            ("spiderpool plan --state (all unchanged)",
             timed([BIN / "spiderpool", "plan", "--state", state, spec, "--detailed-exitcode"], args.runs)),
        ]
        for label, seconds in rows:
            print(f"  {label:45s} {seconds:7.3f} s   ({seconds / baseline:5.1f}x baseline)")


if __name__ == "__main__":
    main()
