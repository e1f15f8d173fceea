"""Benchmark: one coordinator ADD, from exec of the installed `coordinator` plugin to its result.

A minimal real setup, all in namespaces this script makes and removes: a "node"
netns (ens192 10.6.0.11/16) and a "pod" netns holding eth0 (a veth to the node,
standing in for Calico) and net1 (10.6.168.60/16). A warm agent server
(`agent.server.AgentServer` + the real `CoordinatorService`, SpiderCoordinator
served from memory) listens on a unix socket; each run execs the installed plugin
inside the node netns (`nsenter --net`), which forwards to the agent, which reads
both namespaces, plans and applies the overlay routes for net1 (every run is a full
ADD of the same NIC: rules are checked, routes and neighbours replaced).
Beside it, interleaved in the same run: `nsenter --net=<node> python3 -S -I -c pass`,
the floor. Budget: coordinator ADD <= interpreter start + 40 ms. Needs root.
Then an underlay eth0's first ADD, a fresh pod namespace each run (not timed: making it):
the veth0 pair, neighbours, host routes and the reply-via-veth0 marks (two `iptables`
execs in the pod's namespace); reported against the same floor.
Usage: .venv/bin/python bench/coordinator_add_latency.py [--runs 100]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.server import AgentServer, Routes  # noqa: E402
from cni.install import default_interpreter, install  # noqa: E402
from coordinator.service import CoordinatorService  # noqa: E402

BUDGET_MS = 40.0
COORDINATOR = {"metadata": {"name": "default"}, "spec": {"mode": "auto", "hostRuleTable": 500},
               "status": {"overlayPodCIDR": ["10.244.0.0/16"], "serviceCIDR": ["10.96.0.0/12"]}}


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def make_namespaces(tag: str) -> tuple[str, str]:
    node, pod = f"cbench{tag}-node", f"cbench{tag}-pod"
    sh("ip", "netns", "add", node)
    sh("ip", "netns", "add", pod)
    sh("ip", "-n", node, "link", "add", "ens192", "type", "veth", "peer", "name", "ens192p")
    sh("ip", "-n", node, "addr", "add", "10.6.0.11/16", "dev", "ens192")
    sh("ip", "-n", node, "link", "set", "ens192", "up")
    sh("ip", "-n", node, "link", "add", "vethpod", "type", "veth", "peer", "name", "eth0", "netns", pod)
    sh("ip", "-n", node, "link", "set", "vethpod", "up")
    sh("ip", "-n", pod, "addr", "add", "10.244.1.5/32", "dev", "eth0")
    sh("ip", "-n", pod, "link", "set", "eth0", "up")
    sh("ip", "-n", pod, "route", "add", "10.244.1.1", "dev", "eth0", "scope", "link")
    sh("ip", "-n", pod, "route", "add", "default", "via", "10.244.1.1", "dev", "eth0")
    sh("ip", "-n", node, "link", "add", "up1", "type", "veth", "peer", "name", "net1", "netns", pod)
    sh("ip", "-n", pod, "addr", "add", "10.6.168.60/16", "dev", "net1")
    sh("ip", "-n", pod, "link", "set", "net1", "up")
    return node, pod


def underlay_pod(node: str, tag: str, run: int) -> str:
    """A fresh pod namespace whose eth0 (a veth to the node, standing in for macvlan) holds 10.6.168.61/16."""
    pod = f"cbench{tag}-u{run}"
    sh("ip", "netns", "add", pod)
    sh("ip", "-n", node, "link", "add", f"u{run}", "type", "veth", "peer", "name", "eth0", "netns", pod)
    sh("ip", "-n", pod, "addr", "add", "10.6.168.61/16", "dev", "eth0")
    sh("ip", "-n", pod, "link", "set", "eth0", "up")
    sh("ip", "-n", pod, "route", "add", "default", "via", "10.6.0.1", "dev", "eth0")
    return pod


def timed(argv: list[str], env: dict[str, str], stdin: bytes) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv} failed ({proc.returncode}): {proc.stdout.decode()} {proc.stderr.decode()[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    tag = f"{os.getpid()}{secrets.token_hex(2)}"
    node, pod = make_namespaces(tag)
    tmp = Path(tempfile.mkdtemp(prefix="cbench-"))
    service = CoordinatorService(spider_coordinator=lambda: COORDINATOR, pod_of=lambda body: None)
    server = AgentServer(str(tmp / "agent.sock"), Routes(cni=lambda body, peer: {"exitCode": 1, "stdout": ""},
                                                          coordinator=lambda body, peer: service.handle(
                                                              body, caller_pid=peer.pid).to_body(),
                                                          ready=lambda: [], metrics=lambda: "")).start()
    try:
        plugin = next(i.path for i in install(tmp / "bin") if i.path.name == "coordinator")
        interpreter = default_interpreter()
        enter = ["nsenter", f"--net=/var/run/netns/{node}"]
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bench" + tag, "CNI_NETNS": f"/var/run/netns/{pod}",
               "CNI_IFNAME": "net1", "CNI_PATH": str(tmp / "bin"), "SPIDERPOOL_SOCKET": str(tmp / "agent.sock")}
        conf = json.dumps({"cniVersion": "1.0.0", "name": "macvlan-ens192", "type": "coordinator", "mode": "overlay",
                           "prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "net1"}],
                                          "ips": [{"address": "10.6.168.60/16", "gateway": "10.6.0.1",
                                                   "interface": 0}]}}).encode()
        timed(enter + [str(plugin)], env, conf)  # warm: first ADD does the real work once
        add, bare = [], []
        for _ in range(args.runs):
            add.append(timed(enter + [str(plugin)], env, conf))
            bare.append(timed(enter + [interpreter, "-S", "-I", "-c", "pass"], {}, b""))
        add_ms, bare_ms = statistics.median(add) * 1000, statistics.median(bare) * 1000
        print(f"runs: {args.runs}")
        print(f"interpreter start (nsenter + python3 -S -I -c pass): median {bare_ms:.1f} ms")
        print(f"coordinator ADD (plugin exec -> agent plan + apply -> result): median {add_ms:.1f} ms "
              f"(p90 {sorted(add)[int(len(add) * 0.9)] * 1000:.1f} ms)")
        print(f"over the interpreter: {add_ms - bare_ms:.1f} ms; budget +{BUDGET_MS:.0f} ms: "
              f"{'OK' if add_ms - bare_ms <= BUDGET_MS else 'OVER'}")
        under = []
        underlay = json.dumps({"cniVersion": "1.0.0", "name": "macvlan-ens192", "type": "coordinator",
                               "mode": "underlay",
                               "prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                                              "ips": [{"address": "10.6.168.61/16", "gateway": "10.6.0.1",
                                                       "interface": 0}]}}).encode()
        for run in range(args.runs):
            fresh = underlay_pod(node, tag, run)
            try:
                under.append(timed(enter + [str(plugin)], {**env, "CNI_CONTAINERID": f"u{run}x{tag}",
                                                           "CNI_NETNS": f"/var/run/netns/{fresh}",
                                                           "CNI_IFNAME": "eth0"}, underlay))
            finally:
                subprocess.run(["ip", "netns", "del", fresh], capture_output=True)
        under_ms = statistics.median(under) * 1000
        print(f"underlay eth0 first ADD (veth0 pair, neighbours, host routes, reply marks): median {under_ms:.1f} ms "
              f"(p90 {sorted(under)[int(len(under) * 0.9)] * 1000:.1f} ms); over the interpreter: "
              f"{under_ms - bare_ms:.1f} ms (x{under_ms / bare_ms:.2f})")
    finally:
        server.stop()
        for ns in (pod, node):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", str(tmp)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
