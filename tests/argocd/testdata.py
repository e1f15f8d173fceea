"""Regenerate the health checks' testdata from a real kube-apiserver: `python -m tests.argocd.testdata`.

Every `examples/argocd/resource_customizations/<group>/<Kind>/testdata/*.yaml` is what `kubectl get
-o yaml` printed for an object this project's own code produced on the real control plane
(tests/cluster): `spiderpool apply` renders and writes the pools, subnet, coordinator and the
NetworkSync; the controller's IP GC pass writes the pools' counts; two real node agents (agent.main.Agent, over their CNI sockets) allocate IPs and keep
their NodeReports; the controller's coordinator status sync discovers the CIDRs; deletes are the
API call a GitOps prune makes. Only the volatile metadata (uid, resourceVersion, timestamps,
generation-independent ids) is kept as printed: nothing is edited by hand. The expected health of
each file is in the health_test.yaml beside it (written by hand, checked by
tests/argocd/test_health.py with a Lua VM and with Argo CD's own `argocd admin settings
resource-overrides health`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "examples" / "argocd" / "resource_customizations"

SPEC_BODY = """\
spec:
  cluster: {ipVersions: [4]}
  zones:
    - {name: rack-a, nodeSelector: {matchLabels: {rack: a}}}
  subnets:
    - {name: underlay-v4, subnet: 10.6.0.0/16, ips: [10.6.168.1-10.6.168.100], gateway: 10.6.0.1}
  ippools:
    - {name: web-v4, subnet: 10.6.0.0/16, ips: [10.6.168.10-10.6.168.11], zones: [rack-a]}
    - {name: batch-v4, subnet: 10.6.0.0/16, ips: [10.6.168.20-10.6.168.29]}
SPARE
  coordinator: {mode: auto, podCIDRType: cluster}
"""
SPARE = "    - {name: spare-v4, subnet: 10.6.0.0/16, ips: [10.6.168.40-10.6.168.49]}"

KINDS = {"SpiderIPPool": ("spiderpool.spidernet.io", "spiderippools.spiderpool.spidernet.io"),
         "SpiderSubnet": ("spiderpool.spidernet.io", "spidersubnets.spiderpool.spidernet.io"),
         "SpiderCoordinator": ("spiderpool.spidernet.io", "spidercoordinators.spiderpool.spidernet.io"),
         "NetworkSync": ("gitops.spidernet.io", "networksyncs.gitops.spidernet.io"),
         "NodeReport": ("gitops.spidernet.io", "nodereports.gitops.spidernet.io")}


def main() -> int:
    import os

    from agent import kube as k8s
    from agent.client import AgentClient, netconf
    from agent.coordinatorstatus import CoordinatorStatusSync
    from agent.main import Agent
    from agent.service import AgentSettings
    from reconciler.cli import main as spiderpool
    from reconciler.kube import connect
    from reconciler.sync import record_stall
    from tests.cluster.fixtures import control_plane, wiped
    from tests.conftest import HEADER, eventually, running_ipgc, with_crds
    from tests.k8s_binaries import helm4

    kubectl = str(helm4().kubectl)
    work = Path(tempfile.mkdtemp(prefix="spa-td-", dir="/tmp"))
    spec = work / "spec" / "network.yaml"
    spec.parent.mkdir()
    with control_plane(controllers=False) as cp, wiped(cp) as cluster:
        with_crds(cluster)
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig)

        def get(kind: str, name: str) -> str:
            return subprocess.run([kubectl, "--kubeconfig", str(cluster.kubeconfig), "get", KINDS[kind][1], name,
                                   "-o", "yaml"], check=True, capture_output=True, text=True).stdout

        def snap(kind: str, name: str, file: str) -> None:
            target = OUT / KINDS[kind][0] / kind / "testdata" / f"{file}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(get(kind, name))
            print(f"  {target.relative_to(OUT)}  <- {kind} {name}")

        def apply(with_spare: bool = True) -> None:
            spec.write_text((HEADER.format(name="prod") + SPEC_BODY).replace("SPARE", SPARE if with_spare else "").replace("\n\n", "\n"))
            code = spiderpool(["apply", str(spec)])
            print(f"  spiderpool apply -> exit {code}")

        apply()
        snap("SpiderIPPool", "batch-v4", "new")  # as applied: apply wrote its counts, nothing else yet
        # the pool counts of `spiderpool controller` (its IP GC pass writes every pool's totalIPCount)
        with running_ipgc(cluster) as gc:
            print(f"  controller pass: counted {gc.run_pass().counts_repaired}")
        snap("SpiderIPPool", "batch-v4", "unused")
        snap("SpiderSubnet", "underlay-v4", "healthy")
        snap("NetworkSync", "prod", "ready")

        # the coordinator status sync of `spiderpool controller`: first with nothing to discover from,
        # then with the ConfigMap kubeadm writes
        kube = k8s.connect(kubeconfig=str(cluster.kubeconfig))
        CoordinatorStatusSync(kube).sync_once()
        snap("SpiderCoordinator", "default", "notready")
        cluster.create({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                        "data": {"ClusterConfiguration": "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
                                 "networking:\n  podSubnet: 10.233.64.0/18\n  serviceSubnet: 10.233.0.0/18\n"}})
        CoordinatorStatusSync(kube).sync_once()
        snap("SpiderCoordinator", "default", "synced")

        # two node agents hand out IPs over their CNI sockets
        cluster.add_node("worker1", {"rack": "a"})
        cluster.add_node("worker2")
        agents = []
        for node in ("worker1", "worker2"):
            path = str(work / f"{node}.sock")
            agent = Agent(AgentSettings(node=node, families=frozenset({4})), path,
                          k8s.connect(kubeconfig=str(cluster.kubeconfig)), node_report=True).start()
            assert agent.wait_ready(30), agent.cache.problems()
            agents.append((agent, AgentClient(path, timeout=60)))

        def pod(name: str, node: str, pool: str, client: AgentClient) -> None:
            created = cluster.create({"apiVersion": "v1", "kind": "Pod",
                                      "metadata": {"name": name, "namespace": "default"},
                                      "spec": {"nodeName": node, "containers": [{"name": "c", "image": "pause"}]}})
            reply = client.cni("ADD", config=netconf(default_ipv4_ippool=[pool]), container_id=f"c-{name}",
                               if_name="net1", namespace="default", pod=name, uid=created["metadata"]["uid"])
            assert reply.ok, reply.stdout
            print(f"  CNI ADD {name} on {node} from {pool}: {reply.json['ips'][0]['address']}")

        try:
            pod("web-0", "worker1", "web-v4", agents[0][1])
            pod("web-1", "worker1", "web-v4", agents[0][1])
            pod("batch-0", "worker2", "batch-v4", agents[1][1])
            pod("spare-0", "worker2", "spare-v4", agents[1][1])
            snap("SpiderIPPool", "web-v4", "exhausted")
            snap("SpiderIPPool", "batch-v4", "in-use")
            for agent, _ in agents:
                agent.nodereport.poke()

            def reported(node: str):
                got = cluster.get(KINDS["NodeReport"][1], node)
                return got and (got.get("status") or {}).get("observedAt")

            eventually(lambda: reported("worker1") and any(
                f["type"] == "PoolExhausted" for f in cluster.get(KINDS["NodeReport"][1], "worker1")["status"]["findings"]),
                what="worker1's NodeReport with PoolExhausted", timeout=60)
            eventually(lambda: reported("worker2"), what="worker2's NodeReport", timeout=60)
            snap("NodeReport", "worker1", "error-findings")
            snap("NodeReport", "worker2", "no-findings")
        finally:
            for agent, _ in agents:
                agent.stop()

        # the spare pool leaves the spec while a pod holds one of its IPs: the prune drains it
        apply(with_spare=False)
        snap("SpiderIPPool", "spare-v4", "draining")
        snap("NetworkSync", "prod", "draining")

        # a hand edit of an owned object, left alone (no selfHeal): drift
        cluster.patch(KINDS["SpiderIPPool"][1], "batch-v4", {"spec": {"gateway": "10.6.0.254"}})
        apply(with_spare=False)
        snap("NetworkSync", "prod", "drifted")
        cluster.patch(KINDS["SpiderIPPool"][1], "batch-v4", {"spec": {"gateway": "10.6.0.1"}})

        # a GitOps prune of a busy pool and of the subnet its pools lie in: DELETE, as Argo CD sends it
        for kind, name in (("SpiderIPPool", "batch-v4"), ("SpiderSubnet", "underlay-v4")):
            subprocess.run([kubectl, "--kubeconfig", str(cluster.kubeconfig), "delete", KINDS[kind][1], name,
                            "--cascade=foreground", "--wait=false"], check=True, capture_output=True)
        snap("SpiderIPPool", "batch-v4", "terminating")
        snap("SpiderSubnet", "underlay-v4", "terminating")
        apply(with_spare=False)  # the spec still wants them: apply says they are going, re-created later
        snap("NetworkSync", "prod", "terminating")

        # a revision that does not validate, recorded as the loop records it
        record_stall(connect(kubeconfig=str(cluster.kubeconfig)), spec_name="prod", reason="SpecInvalid",
                     message="network.yaml:12:61: spec.ippools[0].gateway: gateway 10.7.0.1 is not inside the subnet "
                             "10.6.0.0/16", revision="3f1c0ffee5d1e2a4b6c8d0e2f4a6b8c0d2e4f6a8", source={"path": str(spec.parent)})
        snap("NetworkSync", "prod", "stalled")

        # a change of the NetworkSync's spec that no reconciler has seen yet
        cluster.patch(KINDS["NetworkSync"][1], "prod", {"spec": {"selfHeal": True}})
        snap("NetworkSync", "prod", "not-observed")
        kube.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
