"""Benchmark: one IPAM ADD, from exec of the installed `spiderpool` plugin to its result.

Runs the plugin as a runtime would (CNI_* env, the netconf on stdin) against a
warm agent: by default the test suite's fake agent answering a canned result at
once on a unix socket in a temp dir, or a real agent with `--socket PATH`.
Beside it, in the same run and interleaved, it measures the bare interpreter
(`python -IS -c pass`, the floor every Python plugin pays) and Debian's
reference `host-local` ADD (followed by an untimed DEL so its dataDir never
fills). Prints medians, ratios, and the budget check:
plugin ADD <= interpreter start + 15 ms.
With `--real-agent` it starts a real agent against the Kubernetes API test server, and every
ADD is a real allocation from a pool, committed to the API.
Usage: .venv/bin/python bench/ipam_add_latency.py [--runs 200] [--real-agent | --socket PATH] [--cni-version 1.0.0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cni.install import default_interpreter, install  # noqa: E402
from tests.cni.fake_agent import FakeAgent  # noqa: E402

BUDGET_MS = 15.0
POD_UID = "00000000-0000-0000-0000-{i:012d}"
POD_ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod-{i};K8S_POD_UID={uid}"


def timed(argv: list[str], env: dict[str, str], stdin: bytes) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} failed ({proc.returncode}): {proc.stdout.decode()} {proc.stderr.decode()[-2000:]}")
    return elapsed, proc.stdout


UIDS: dict[int, str] = {}  # pod index -> the UID the API server gave it (real-agent mode)


def runtime_env(command: str, i: int, *, cni_path: str) -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": f"bench{i:06d}", "CNI_NETNS": f"/var/run/netns/bench-{i}",
            "CNI_IFNAME": "net1", "CNI_PATH": cni_path,
            "CNI_ARGS": POD_ARGS.format(i=i, uid=UIDS.get(i, POD_UID.format(i=i)))}


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, list[float]]:
    plugin = next(i.path for i in install(tmp / "bin") if i.path.name == "spiderpool")
    interpreter = default_interpreter()
    ours = json.dumps({"cniVersion": args.cni_version, "name": "macvlan-ens192", "type": "macvlan",
                       "master": "ens192", "ipam": {"type": "spiderpool", "ipam_unix_socket_path": args.socket}})
    theirs = json.dumps({"cniVersion": args.cni_version, "name": "bench", "type": "macvlan", "master": "ens192",
                         "ipam": {"type": "host-local", "dataDir": str(tmp / "host-local"),
                                  "ranges": [[{"subnet": "10.96.0.0/16", "gateway": "10.96.0.1"}]]}})
    host_local = args.host_local if os.access(args.host_local, os.X_OK) else None
    samples: dict[str, list[float]] = {"interpreter": [], "spiderpool": [], "host-local": []}
    for i in range(args.warmup + args.runs):
        run = {"interpreter": timed([interpreter, "-IS", "-c", "pass"], {}, b"")[0]}
        run["spiderpool"], out = timed([str(plugin)], runtime_env("ADD", i, cni_path=str(plugin.parent)),
                                       ours.encode())
        if i == 0:
            print(f"spiderpool ADD result: {out.decode().strip()}")
        if host_local:
            env = runtime_env("ADD", i, cni_path=str(Path(host_local).parent))
            run["host-local"] = timed([host_local], env, theirs.encode())[0]
            timed([host_local], {**env, "CNI_COMMAND": "DEL"}, theirs.encode())
        if i >= args.warmup:
            for name, seconds in run.items():
                samples[name].append(seconds)
    return samples


@contextlib.contextmanager
def real_agent(tmp: Path, *, pods: int):
    """A warm real agent on node `bench-node`: API test server, CRDs, a default pool big enough,
    the Pod objects the ADDs name, and the agent ready (/readyz)."""
    from bench.ipam_contention import Agents
    from reconciler.kube import connect
    from reconciler.sync import install_crds
    from tests.kubeapi.server import KubeAPIServer

    server = KubeAPIServer(history_limit=4 * pods + 100).start()
    agents = None
    try:
        kubeconfig = server.write_kubeconfig(tmp / "kubeconfig")
        install_crds(connect(kubeconfig=str(kubeconfig)))
        server.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                       "metadata": {"name": "bench-pool"},
                       "spec": {"subnet": "10.96.0.0/16", "ips": ["10.96.1.0-10.96.8.255"], "gateway": "10.96.0.1",
                                "default": True}})
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
        agents = Agents(1, tmp, kubeconfig)
        for node in agents.nodes:
            server.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
        for i in range(pods):
            pod = server.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}", "namespace": "bench"},
                                 "spec": {"nodeName": agents.nodes[0], "containers": [{"name": "c", "image": "pause"}]}})
            UIDS[i] = pod["metadata"]["uid"]
        agents.start_all()
        agents.wait_ready()
        yield agents.socket(agents.nodes[0])
    finally:
        if agents is not None:
            agents.stop_all()
        server.stop()


def report(samples: dict[str, list[float]], args: argparse.Namespace) -> None:
    ms = {name: statistics.median(values) * 1000 for name, values in samples.items() if values}
    p90 = {name: statistics.quantiles(values, n=10)[-1] * 1000 for name, values in samples.items() if len(values) > 1}
    base = ms["interpreter"]
    print(f"IPAM ADD latency, cniVersion {args.cni_version}, median of {args.runs} runs "
          f"(+{args.warmup} warm-up), agent at {args.socket}")
    rows = [("python -IS -c pass (interpreter start)", "interpreter"),
            ("spiderpool ADD (exec -> result)", "spiderpool"),
            (f"host-local ADD ({args.host_local})", "host-local")]
    for label, name in rows:
        if name in ms:
            print(f"  {label:48s} {ms[name]:7.2f} ms  p90 {p90.get(name, ms[name]):7.2f} ms  "
                  f"({ms[name] / base:4.2f}x interpreter)")
        else:
            print(f"  {label:48s}  not measured (no executable; apt-get install containernetworking-plugins)")
    over = ms["spiderpool"] - base
    if "host-local" in ms:
        print(f"  spiderpool ADD / host-local ADD: {ms['spiderpool'] / ms['host-local']:.2f}x")
    verdict = "within" if over <= BUDGET_MS else "OVER"
    print(f"  budget: spiderpool ADD = interpreter start + {over:.2f} ms; {verdict} the +{BUDGET_MS:.0f} ms budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--socket", help="a running agent's socket (default: a fake agent in a temp dir)")
    parser.add_argument("--real-agent", action="store_true",
                        help="start a real `spiderpool agent` against a Kubernetes API test server, with a pool "
                             "and one Pod object per ADD: every ADD is a real allocation, committed")
    parser.add_argument("--cni-version", default="1.0.0", help="Debian's host-local speaks up to 1.0.0")
    parser.add_argument("--host-local", default="/usr/lib/cni/host-local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipam-bench-", dir="/tmp") as tmp:
        if args.real_agent:
            with real_agent(Path(tmp), pods=args.warmup + args.runs) as socket_path:
                args.socket = socket_path
                samples = measure(args, Path(tmp))
        elif args.socket:
            samples = measure(args, Path(tmp))
        else:
            args.socket = str(Path(tmp, "agent.sock"))
            with FakeAgent(args.socket):
                samples = measure(args, Path(tmp))
    report(samples, args)


if __name__ == "__main__":
    main()
