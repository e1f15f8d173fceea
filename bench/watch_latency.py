"""Benchmark: push -> converged latency of `spiderpool watch`, beside `spiderpool apply` by hand.

A ~50-object spec (subnets and pools) in a bare git repo served by `git daemon` on loopback,
applied to a real control plane (tests/cluster: etcd + kube-apiserver). Each run commits a
change to one pool and pushes it at a random moment (0-2 s after the last one converged, so a
poll's phase is sampled fairly); the clock runs from just before `git push` until the watch
process prints the outcome that applied that commit (the NetworkSync is recorded by then):

  webhook   `watch --interval 600 --webhook-listen`, a GitHub-signed hook POSTed after the push
  poll 2s   `watch --interval 2`, no hook
  by hand   `spiderpool apply specs/` run as a fresh process on the committed tree

Median (and min/max) of N runs each, all in the same run. Budget: webhook median under 2 s.
Usage: .venv/bin/python bench/watch_latency.py [--runs 20] [--pools 40]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconciler.kube import connect  # noqa: E402
from reconciler.sync import install_crds  # noqa: E402
from reconciler.webhook import github_signature  # noqa: E402
from tests.watch.gitremote import Remote  # noqa: E402

SECRET = "bench-secret"


def spec(pools: int, version: int) -> str:
    """`pools` pools over pools/4 subnets (+ the subnets): ~1.25 x pools objects; `version`
    changes the first pool's range."""
    subnets = max(1, pools // 4)
    lines = ["apiVersion: gitops.spidernet.io/v1alpha1", "kind: NetworkSpec", "metadata:", "  name: bench",
             "spec:", "  subnets:"]
    for s in range(subnets):
        lines += [f"    - name: subnet-{s}", f"      subnet: 10.{s}.0.0/16", f"      ips: [10.{s}.1.0-10.{s}.1.250]",
                  f"      gateway: 10.{s}.0.1"]
    lines.append("  ippools:")
    for p in range(pools):
        s, k = p % subnets, p // subnets
        last = 10 + (version % 40) if p == 0 else 10
        lines += [f"    - name: pool-{p}", f"      subnet: 10.{s}.0.0/16", f"      ips: [10.{s}.1.{k * 50}-10.{s}.1.{k * 50 + last}]",
                  f"      gateway: 10.{s}.0.1"]
    return "\n".join(lines) + "\n"


class Watch:
    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "reconciler", "watch", *args, "-o", "json"], cwd=REPO,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self):
        for line in self.proc.stdout:
            self.lines.put((time.perf_counter(), json.loads(line)))

    def _err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def until(self, revision: str, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                at, outcome = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if outcome["revision"] == revision:
                if outcome["result"] not in ("applied", "unchanged"):
                    raise SystemExit(f"revision {revision} did not apply: {outcome}")
                return at
        raise SystemExit(f"revision {revision} not applied within {timeout}s; stderr: {''.join(self.stderr)}")

    def webhook_url(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.stderr:
                if "webhook at " in line:
                    return line.split("webhook at ")[1].split()[0].rstrip(";,")
            time.sleep(0.05)
        raise SystemExit("no webhook banner: " + "".join(self.stderr))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def hook(url: str) -> None:
    body = b'{"ref": "refs/heads/main"}'
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "X-Hub-Signature-256": github_signature(SECRET.encode(), body), "X-GitHub-Event": "push"})
    urllib.request.urlopen(request, timeout=10).read()


def follow(remote: Remote, watch: Watch, *, runs: int, pools: int, start: int, webhook: str | None) -> list[float]:
    times = []
    for i in range(runs):
        time.sleep(random.uniform(0, 2.0))   # push at a random point of the poll cycle, as a person would
        sha = remote.commit_spec(spec(pools, start + i), f"change {start + i}")
        began = time.perf_counter()
        remote.push()
        if webhook:
            hook(webhook)
        times.append(watch.until(sha) - began)
    return times


def by_hand(remote: Remote, env: dict[str, str], *, runs: int, pools: int, start: int) -> list[float]:
    times = []
    for i in range(runs):
        remote.commit_spec(spec(pools, start + i), f"change {start + i}")
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(remote.work / "specs")], cwd=REPO,
                              env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"apply failed: {done.stderr}")
    return times


def line(name: str, times: list[float], baseline: float | None = None) -> str:
    median = statistics.median(times)
    ratio = f"  {median / baseline:5.2f}x by hand" if baseline else ""
    return f"{name:10} median {median:6.3f}s   min {min(times):6.3f}s   max {max(times):6.3f}s{ratio}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pools", type=int, default=40)
    args = parser.parse_args()

    from tests.cluster.controlplane import ControlPlane

    with tempfile.TemporaryDirectory(prefix="watch-bench-") as tmp, ControlPlane() as cp:
        tmp_path = Path(tmp)
        install_crds(connect(kubeconfig=str(cp.kubeconfig)))
        env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig)}
        (tmp_path / "remote").mkdir()
        remote = Remote(tmp_path / "remote").serve()
        secret = tmp_path / "secret"
        secret.write_text(SECRET)
        try:
            first = remote.commit_spec(spec(args.pools, 0), "initial")
            remote.push()
            common = ["--repo", remote.git_url, "--ref", "main", "--path", "specs"]
            objects = args.pools + max(1, args.pools // 4)
            print(f"spec: {objects} objects ({args.pools} pools); each run changes one pool; {args.runs} runs each",
                  flush=True)

            watch = Watch([*common, "--cache-dir", str(tmp_path / "c1"), "--interval", "600",
                           "--webhook-listen", "127.0.0.1:0", "--webhook-secret-file", str(secret)], env)
            watch.until(first, timeout=120)
            webhook = follow(remote, watch, runs=args.runs, pools=args.pools, start=1, webhook=watch.webhook_url())
            watch.stop()

            watch = Watch([*common, "--cache-dir", str(tmp_path / "c2"), "--interval", "2"], env)
            watch.until(remote_head(remote), timeout=120)
            polled = follow(remote, watch, runs=args.runs, pools=args.pools, start=1000, webhook=None)
            watch.stop()

            hand = by_hand(remote, env, runs=args.runs, pools=args.pools, start=2000)
        finally:
            remote.stop()
    baseline = statistics.median(hand)
    print(line("by hand", hand))
    print(line("webhook", webhook, baseline))
    print(line("poll 2s", polled, baseline))
    verdict = "within" if statistics.median(webhook) < 2.0 else "OVER"
    print(f"budget: webhook push -> converged under 2 s: {verdict} ({statistics.median(webhook):.3f}s)")
    return 0


def remote_head(remote: Remote) -> str:
    from tests.watch.gitremote import git

    return git("rev-parse", "HEAD", cwd=remote.work)


if __name__ == "__main__":
    sys.exit(main())
