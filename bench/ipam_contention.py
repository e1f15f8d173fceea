"""IPAM under contention: 10 node agents, 1,000 pods, one pool of exactly 1,000 IPs, all at once.

Upstream's "1000 pods, IPs == pods" recipe (reference §5.1) without kubelets: the
test API server (in this process), 10 `spiderpool agent` subprocesses (one per
node), 1,000 Pod objects spread over the nodes, and 1,000 CNI ADDs fired together
from threads over the agents' unix sockets, as the plugin sends them. ADDs
answered with code 11 ("try again later") or an unreachable agent are retried
like a runtime would.

Prints wall time, allocations/s, API writes per allocation (counted by the server:
every write request, whatever its outcome), failures and duplicates (from
`spiderpool ipam check`), against the budgets: < 30 s, <= 1.5 writes/allocation,
0 failures, 0 duplicates. Exit 1 when a budget is missed.

--chaos: the same while agents are SIGKILLed and restarted at random and the
server answers a share of writes with 409, 500 or a slow response; then every
pod is deleted, `spiderpool controller --once` collects the leaked records, and
the pool must end with 0 allocated IPs and `ipam check` with 0 duplicates.

    .venv/bin/python bench/ipam_contention.py [--agents 10] [--pods 1000] [--chaos] [--seed 1]

Traffic stays on unix sockets and 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.client import HTTPException
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.client import AgentClient, netconf  # noqa: E402
from tests.kubeapi.server import KubeAPIServer  # noqa: E402

POOL = "bench-v4"
NAMESPACE = "default"
BUDGET_SECONDS, BUDGET_WRITES = 30.0, 1.5
RETRY_CODES = {11}


def pool_object(size: int) -> dict:
    first, last = 0x0A060001, 0x0A060001 + size - 1  # 10.6.0.1 ...
    text = lambda v: ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))  # noqa: E731
    return {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool", "metadata": {"name": POOL},
            "spec": {"subnet": "10.6.0.0/16", "ips": [f"{text(first)}-{text(last)}"], "gateway": "10.6.255.254",
                     "default": True}}


class Agents:
    """The agent subprocesses, one per node; SIGKILL and restart on demand."""

    def __init__(self, count: int, workdir: Path, kubeconfig: Path):
        self.workdir, self.kubeconfig = workdir, kubeconfig
        self.nodes = [f"node-{i:02d}" for i in range(count)]
        self.procs: dict[str, subprocess.Popen] = {}
        self.kills = 0
        self._lock = threading.Lock()

    def socket(self, node: str) -> str:
        return str(self.workdir / f"{node}.sock")

    def start(self, node: str) -> None:
        log = open(self.workdir / f"{node}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "reconciler", "agent", "--node", node, "--socket",
                                 self.socket(node), "--kubeconfig", str(self.kubeconfig), "--log-level", "warning"],
                                cwd=REPO, stdout=log, stderr=log)
        with self._lock:
            self.procs[node] = proc

    def start_all(self) -> None:
        for node in self.nodes:
            self.start(node)

    def kill(self, node: str) -> None:
        with self._lock:
            proc = self.procs[node]
            self.kills += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            while True:
                try:
                    if AgentClient(self.socket(node), timeout=2).get("/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"agent {node} not ready after {timeout:.0f}s; see {self.workdir}/{node}.log")
                time.sleep(0.05)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def create_pods(server: KubeAPIServer, count: int, nodes: list[str]) -> list[dict]:
    pods = []
    for i in range(count):
        pods.append(server.create({"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": f"bench-{i:04d}", "namespace": NAMESPACE},
                                   "spec": {"nodeName": nodes[i % len(nodes)],
                                            "containers": [{"name": "c", "image": "pause"}]}}))
    return pods


def fire_adds(pods: list[dict], agents: Agents, *, deadline: float) -> dict:
    """One thread per pod, released together; each retries code 11 / unreachable agents like a runtime."""
    start = threading.Barrier(len(pods) + 1)
    results: dict[str, dict] = {}
    lock = threading.Lock()

    def one(index: int, pod: dict) -> None:
        meta = pod["metadata"]
        client = AgentClient(agents.socket(pod["spec"]["nodeName"]), timeout=60)
        outcome = {"attempts": 0, "ip": None, "error": None, "seconds": None}
        start.wait()
        began = time.monotonic()
        delay = 0.05
        while time.monotonic() < deadline:
            outcome["attempts"] += 1
            try:
                reply = client.cni("ADD", config=netconf("1.0.0"), container_id=f"sandbox{index:04d}",
                                   if_name="eth0", namespace=meta["namespace"], pod=meta["name"], uid=meta["uid"])
            except (OSError, RuntimeError, HTTPException, ValueError) as error:  # agent killed: the plugin says 11
                outcome["error"] = f"agent unreachable: {error}"
            else:
                if reply.ok:
                    outcome["ip"], outcome["error"] = reply.ips[0], None
                    outcome["seconds"] = time.monotonic() - began
                    break
                outcome["error"] = reply.json.get("msg")
                if reply.code not in RETRY_CODES:
                    break
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
        with lock:
            results[meta["name"]] = outcome

    threads = [threading.Thread(target=one, args=(i, p), daemon=True) for i, p in enumerate(pods)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    return {"seconds": time.monotonic() - began, "results": results, "pods": pods}


def chaos_monkey(agents: Agents, stop: threading.Event, rng: random.Random) -> None:
    while not stop.wait(rng.uniform(0.3, 1.2)):
        node = rng.choice(agents.nodes)
        agents.kill(node)
        stop.wait(rng.uniform(0.05, 0.4))
        agents.start(node)


def scrape(agents: Agents) -> Counter:
    """Sum the agents' counters that explain the write count (pool writes by result, batch sizes)."""
    totals: Counter = Counter()
    for node in agents.nodes:
        try:
            text = AgentClient(agents.socket(node), timeout=5).get("/metrics")[1]
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(("spiderpool_agent_ippool_status_writes_total", "spiderpool_agent_commit_batch_size_sum",
                                "spiderpool_agent_commit_batch_size_count", "spiderpool_agent_endpoint_writes_total")):
                name, _, value = line.rpartition(" ")
                totals[name] += float(value)
    return totals


def cpu_seconds(agents: Agents) -> tuple[float, float]:
    """(this process, the live agents) CPU seconds so far, from /proc."""
    own = sum(os.times()[:2])
    tick = os.sysconf("SC_CLK_TCK")
    children = 0.0
    for proc in list(agents.procs.values()):
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()
            children += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return own, children


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def ipam_check(kubeconfig: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "reconciler", "ipam", "check", "-o", "json", "--kubeconfig",
                           str(kubeconfig)], cwd=REPO, capture_output=True, text=True, timeout=120)
    try:
        return json.loads(proc.stdout)["findings"]
    except (ValueError, KeyError):
        raise SystemExit(f"ipam check failed: {proc.stderr}")


def pool_status(server: KubeAPIServer) -> tuple[int, int]:
    pool = server.get("spiderippools.spiderpool.spidernet.io", POOL) or {}
    status = pool.get("status") or {}
    return int(status.get("allocatedIPCount") or 0), len(json.loads(status.get("allocatedIPs") or "{}"))


def delete_all_pods(kubeconfig: Path) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        client.CoreV1Api(api).delete_collection_namespaced_pod(NAMESPACE)
    finally:
        api.close()


def run_gc(kubeconfig: Path, workdir: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "reconciler", "controller", "--once", "--gc-grace", "1",
                           "--gc-interval", "1", "--kubeconfig", str(kubeconfig), "--log-level", "warning"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    (workdir / "controller.log").write_text(proc.stderr)
    return proc.stdout.strip() or proc.stderr.strip()[-300:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--chaos", action="store_true", help="SIGKILL agents and inject API faults during the run")
    parser.add_argument("--fault-rate", type=float, default=0.05,
                        help="chaos: share of write requests answered 409, 500 or slowly (split evenly)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--history", type=int, default=2000, help="watch events the API server retains")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (agent logs)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="sp-bench-", dir="/tmp"))
    server = KubeAPIServer(history_limit=args.history).start()
    agents = None
    try:
        kubeconfig = server.write_kubeconfig(workdir / "kubeconfig")
        from reconciler.kube import connect
        from reconciler.sync import install_crds

        install_crds(connect(kubeconfig=str(kubeconfig)))
        server.create(pool_object(args.pods))
        agents = Agents(args.agents, workdir, kubeconfig)
        for node in agents.nodes:
            server.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
        pods = create_pods(server, args.pods, agents.nodes)
        agents.start_all()
        agents.wait_ready()
        chaos = f" -- CHAOS: agents SIGKILLed at random, {args.fault_rate:.0%} faulty writes" if args.chaos else ""
        print(f"{args.agents} agents ready, {args.pods} pods, pool {POOL} of {args.pods} IPs{chaos}")
        server.stats.reset()
        cpu_before = cpu_seconds(agents)
        stop_chaos = threading.Event()
        if args.chaos:
            share = args.fault_rate / 3
            server.faults.configure(conflict_rate=share, error_rate=share, slow_rate=share, slow_seconds=0.3,
                                    seed=args.seed)
            threading.Thread(target=chaos_monkey, args=(agents, stop_chaos, rng), daemon=True).start()
        run = fire_adds(pods, agents, deadline=time.monotonic() + (240 if args.chaos else 120))
        stop_chaos.set()
        writes, by_verb = server.stats.writes, dict(server.stats.requests)
        cpu_after = cpu_seconds(agents)
        if not args.chaos:  # restarted agents would not add up
            print(f"CPU during the run   API server + driver {cpu_after[0] - cpu_before[0]:.1f} s, "
                  f"agents {cpu_after[1] - cpu_before[1]:.1f} s ({os.cpu_count()} CPUs)")
        return report(args, server, agents, kubeconfig, workdir, run, writes, by_verb)
    finally:
        if agents is not None:
            agents.stop_all()
        server.stop()
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def report(args, server, agents, kubeconfig, workdir, run, writes, by_verb) -> int:
    results = run["results"]
    ok = {name: r["ip"] for name, r in results.items() if r["ip"]}
    failures = args.pods - len(ok)
    duplicate_replies = sum(n - 1 for n in Counter(ok.values()).values() if n > 1)
    retries = sum(r["attempts"] - 1 for r in results.values())
    agents.wait_ready()
    counters = scrape(agents)
    findings = ipam_check(kubeconfig)
    duplicates = [f for f in findings if f["kind"] in ("duplicate-ip", "duplicate-record", "double-allocation")]
    allocated, records = pool_status(server)
    seconds = run["seconds"]
    print(f"wall time            {seconds:8.2f} s        (budget < {BUDGET_SECONDS:.0f} s)")
    print(f"allocations/s        {len(ok) / seconds:8.1f}")
    print(f"API writes           {writes:8d}          ({', '.join(f'{v} {n}' for v, n in sorted(by_verb.items()))})")
    print(f"writes/allocation    {writes / max(1, len(ok)):8.3f}          (budget <= {BUDGET_WRITES})")
    print(f"failures             {failures:8d}          (budget 0)")
    print(f"ADD retries          {retries:8d}")
    latencies = [r["seconds"] for r in results.values() if r["seconds"] is not None]
    print(f"ADD latency          p50 {percentile(latencies, 0.5):.2f} s, p99 {percentile(latencies, 0.99):.2f} s, "
          f"max {max(latencies, default=0):.2f} s")
    batches = counters["spiderpool_agent_commit_batch_size_count"]
    if batches and not args.chaos:
        pool_writes = {k.partition("result=")[2].strip('"}'): int(v) for k, v in counters.items()
                       if k.startswith("spiderpool_agent_ippool_status_writes_total")}
        print(f"pool status writes   {pool_writes}; mean group "
              f"{counters['spiderpool_agent_commit_batch_size_sum'] / batches:.1f} requests per planned update")
    print(f"duplicates           {len(duplicates):8d}          "
          f"(ipam check; {duplicate_replies} in the replies; budget 0)")
    print(f"pool records         {records:8d}          (allocatedIPCount {allocated})")
    if findings and not duplicates:
        print(f"other findings       {len(findings):8d}          ({Counter(f['kind'] for f in findings)})")
    failed_budgets = []
    if failures or duplicates or duplicate_replies:
        failed_budgets.append("correctness")
    if args.chaos:
        print(f"chaos                {agents.kills:8d} agent kills, faults injected {dict(server.faults.injected)}")
        server.faults.reset()
        delete_all_pods(kubeconfig)
        began = time.monotonic()
        print(f"after deleting every pod: {run_gc(kubeconfig, workdir)} ({time.monotonic() - began:.1f} s)")
        allocated, records = pool_status(server)
        findings = ipam_check(kubeconfig)
        duplicates = [f for f in findings if f["kind"] in ("duplicate-ip", "duplicate-record", "double-allocation")]
        print(f"allocated IPs        {records:8d}          (allocatedIPCount {allocated}; budget 0)")
        print(f"duplicates           {len(duplicates):8d}          (ipam check after GC; budget 0)")
        if records or allocated or duplicates:
            failed_budgets.append("gc")
    else:
        if seconds >= BUDGET_SECONDS:
            failed_budgets.append("time")
        if writes / max(1, len(ok)) > BUDGET_WRITES:
            failed_budgets.append("writes")
    if failures:
        sample = [f"{n}: {r['error']}" for n, r in sorted(results.items()) if not r["ip"]][:5] + [
            f"{p['metadata']['name']}: no answer" for p in run["pods"] if p["metadata"]["name"] not in results][:5]
        print("first failures:\n  " + "\n  ".join(sample))
    print("RESULT: " + ("all budgets met" if not failed_budgets else "MISSED " + ", ".join(failed_budgets)))
    return 1 if failed_budgets else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
