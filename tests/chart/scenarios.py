"""The controller's and the agent's real scenarios, run as the chart's service accounts.

`run_controller` starts `spiderpool controller` with the container args of the chart's
Deployment (only the addresses, the repo and the timings changed for a test), `run_agent`
the agent with the DaemonSet's args. `Proof` drives both through what they do in a cluster:

controller  leads (Lease), applies a spec from git (every kind it renders, both Calico API
            groups), records Events on the NetworkSync, refuses a bad revision, prunes (an
            empty pool deleted, a pool in use drained and released once empty), collects a
            leaked IP and its SpiderEndpoint, repairs a subnet's status counts, discovers the cluster CIDRs into the
            SpiderCoordinator's status, and hands the Lease back on SIGTERM;
agent       syncs its cache, allocates and releases IPs (a plain pod and a StatefulSet's),
            answers the coordinator (reading SpiderCoordinator `default`), writes its NodeReport;
auto pools  the controller makes a Deployment's pool (the subnet's ledger, then the pool, an Event
            on the Deployment in its namespace), grows it on scale-up and reclaims it with the app;
            the agent allocates annotated pods of each app kind from their pools (reading the top
            controller), and makes and grows a third-party controller's (a CloneSet's) pool itself.

A new behaviour is proven the same way: add its steps here; then
`test_every_request_was_allowed_and_is_covered_by_the_chart` names each request no rule covers
(add that rule to the chart's templates/rbac-*.yaml), and the other tests keep every rule needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from agent.client import AgentClient, netconf
from tests.conftest import REPO, eventually
from tests.netns.agents import readyz
from tests.watch.gitremote import free_port

from .chart import one

POOLS = "spiderippools.spiderpool.spidernet.io"
SUBNETS = "spidersubnets.spiderpool.spidernet.io"
SYNCS = "networksyncs.gitops.spidernet.io"
REPORTS = "nodereports.gitops.spidernet.io"
NODE = "worker1"

SPEC = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata: {{name: rbac-proof}}
spec:
  cluster: {{ipVersions: [4]}}
  calico: {{apiVersion: {calico}}}
  coordinator: {{podCIDRType: cluster}}
  subnets:
    - name: sub6
      subnet: 10.6.0.0/16
      ips: [10.6.168.1-10.6.168.200]
      gateway: 10.6.0.1
      calicoIPPool: {{blockSize: 26}}
{subnets}
  ippools:
{pools}
{rest}
"""
POOL_A = "    - {name: pool-a, subnet: 10.6.0.0/16, ips: [10.6.168.10-10.6.168.19], gateway: 10.6.0.1, default: true}"
POOL_B = "    - {name: pool-b, subnet: 10.6.0.0/16, ips: [10.6.168.20-10.6.168.29], gateway: 10.6.0.1}"
POOL_C = "    - {name: pool-c, subnet: 10.6.0.0/16, ips: [10.6.168.30-10.6.168.39], gateway: 10.6.0.1}"
REST = """\
  reservedIPs:
    - {name: routers, ips: [10.6.168.1]}
  networks:
    - {name: macvlan-ens192, type: macvlan, master: ens192, ippools: {ipv4: [pool-a]}}"""

SUB7 = "    - {name: sub7, subnet: 10.7.0.0/16, ips: [10.7.0.10-10.7.0.20], gateway: 10.7.0.1}"
FIRST = SPEC.format(calico="crd.projectcalico.org/v1", subnets=SUB7, pools=f"{POOL_A}\n{POOL_B}", rest=REST)
INVALID = FIRST.replace("gateway: 10.6.0.1}", "gateway: 10.7.0.1}")
# Calico through its API server now, sub7, pool-b and pool-a pruned (pool-a still holds an IP),
# no reserved IPs, no network
LAST = SPEC.format(calico="projectcalico.org/v3", subnets="", pools=POOL_C, rest="")
# and no Calico pool at all
FINAL = LAST.replace("      calicoIPPool: {blockSize: 26}\n", "")

KUBEADM_CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config",
                                                                         "namespace": "kube-system"},
                  "data": {"ClusterConfiguration": "networking:\n  podSubnet: 10.233.64.0/18\n"
                                                   "  serviceSubnet: 10.233.0.0/18\n"}}


def container_args(objects: list[dict], kind: str, name_suffix: str) -> list[str]:
    workload = one(objects, kind, name_suffix)
    return list(workload["spec"]["template"]["spec"]["containers"][0]["args"])


def with_overrides(args: list[str], **values: str) -> list[str]:
    """The chart's `--flag=value` args with some values replaced (flag names in snake_case)."""
    out = []
    for arg in args:
        flag = arg.split("=", 1)[0]
        key = flag.lstrip("-").replace("-", "_")
        out.append(f"{flag}={values.pop(key)}" if key in values and "=" in arg else arg)
    return out + [f"--{k.replace('_', '-')}={v}" for k, v in values.items()]


class Process:
    def __init__(self, argv: list[str], *, kubeconfig: Path, log: Path, env: dict | None = None):
        self.log_path = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reconciler", *argv], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                env={**{k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")},
                     "KUBECONFIG": str(kubeconfig), **(env or {})})

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def run_controller(objects, *, kubeconfig: Path, workdir: Path, repo: str, namespace: str,
                   auto_pools: bool = True, log: str = "controller.log") -> Process:
    """`auto_pools=False` adds `--no-auto-pools`: the GitOps and IPAM scenario runs without the
    auto-pool controller, whose count writes would race apply's own (then one or the other is used)."""
    args = with_overrides(container_args(objects, "Deployment", "-controller"),
                          metrics_listen=f"127.0.0.1:{free_port()}", repo=repo, path="specs",
                          cache_dir=str(workdir / "cache"), interval="1", gc_interval="1", gc_grace="0",
                          coordinator_interval="1", retry_period="0.5", lease_duration="4", renew_deadline="3")
    if not auto_pools:
        args.append("--no-auto-pools")
    return Process(args, kubeconfig=kubeconfig, log=workdir / log,
                   env={"POD_NAME": "controller-0", "POD_NAMESPACE": namespace, "HOME": str(workdir)})


def run_agent(objects, *, kubeconfig: Path, workdir: Path, socket: str) -> Process:
    args = with_overrides(container_args(objects, "DaemonSet", "-agent"), socket=socket,
                          health_listen=f"127.0.0.1:{free_port()}")
    return Process(args, kubeconfig=kubeconfig, log=workdir / "agent.log", env={"NODE_NAME": NODE})


def revision(cluster) -> str | None:
    sync = cluster.get(SYNCS, "rbac-proof")
    return ((sync or {}).get("status") or {}).get("revision")


def pod(cluster, name: str, *, owner: dict | None = None) -> dict:
    meta = {"name": name, "namespace": "default"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "StatefulSet", "controller": True, **owner}]
    return create_pod(cluster, meta)


def create_pod(cluster, meta: dict) -> dict:
    return cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                           "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "pause"}]}})


def ref(api_version: str, kind: str, obj: dict) -> dict:
    return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True}


def owned_pod(cluster, name: str, top: tuple[str, str, str], middle: tuple[str, str, str], *,
              annotations: dict | None = None) -> dict:
    """A pod owned by `middle` (a ReplicaSet or a Job), itself owned by `top`; bare objects, no
    controllers run here. `annotations` go on the pod template and on the pod (as a controller copies them)."""
    (top_api, top_kind, top_name), (mid_api, mid_kind, mid_name) = top, middle
    restart = "Always" if top_kind == "Deployment" else "Never"
    template = {"metadata": {"labels": {"app": name}, "annotations": dict(annotations or {})},
                "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "pause"}]}}
    if top_kind == "Deployment":
        top_spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
        mid_spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
    else:
        top_spec = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
        mid_spec = {"template": template}
    owner = cluster.create({"apiVersion": top_api, "kind": top_kind,
                            "metadata": {"name": top_name, "namespace": "default"}, "spec": top_spec})
    between = cluster.create({"apiVersion": mid_api, "kind": mid_kind,
                              "metadata": {"name": mid_name, "namespace": "default",
                                           "ownerReferences": [ref(top_api, top_kind, owner)]},
                              "spec": mid_spec})
    return create_pod(cluster, {"name": name, "namespace": "default", "annotations": dict(annotations or {}),
                                "ownerReferences": [ref(mid_api, mid_kind, between)]})


def cni(client: AgentClient, command: str, p: dict):
    m = p["metadata"]
    return client.cni(command, config=netconf(), container_id=f"c-{m['name']}", namespace=m["namespace"],
                      pod=m["name"], uid=m["uid"])


def records(cluster, pool: str) -> dict:
    import json

    status = (cluster.get(POOLS, pool) or {}).get("status") or {}
    return json.loads(status.get("allocatedIPs") or "{}")


def agent_scenario(cluster, agent: Process, socket: str) -> dict:
    """-> what happened, for the test to assert on; the agent keeps running."""
    eventually(lambda: agent.proc.poll() is None and readyz(socket) == 200, timeout=60,
               what="the agent ready as its service account", context=agent.logs)
    client = AgentClient(socket, timeout=60)
    app = pod(cluster, "app")
    statefulset = cluster.create({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "pause"}]}}}})
    web = pod(cluster, "web-0", owner={"name": "web", "uid": statefulset["metadata"]["uid"]})
    gone = pod(cluster, "gone")
    # pods of a Deployment and of a CronJob: their SpiderEndpoints name the top controller, which
    # the agent reads through the ReplicaSet / Job in between
    deployed = owned_pod(cluster, "api-7d9-x1", ("apps/v1", "Deployment", "api"), ("apps/v1", "ReplicaSet", "api-7d9"))
    scheduled = owned_pod(cluster, "nightly-29-x1", ("batch/v1", "CronJob", "nightly"), ("batch/v1", "Job", "nightly-29"))
    added = {p["metadata"]["name"]: cni(client, "ADD", p) for p in (app, web, gone, deployed, scheduled)}
    coordinator = client.request("POST", "/v1/coordinator", {
        "command": "ADD", "containerID": "c-app", "netns": "/var/run/netns/rbac-proof-absent", "ifName": "net1",
        "cniArgs": {"K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": "app", "K8S_POD_UID": app["metadata"]["uid"]},
        "config": {"cniVersion": "1.0.0", "name": "n", "type": "coordinator",
                   "prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "net1"}],
                                  "ips": [{"address": "10.6.168.15/16", "interface": 0}]}}})
    second_nic = client.cni("ADD", config=netconf(), container_id="c-app", if_name="net1", namespace="default",
                            pod="app", uid=app["metadata"]["uid"])
    kept = cni(client, "DEL", app)            # a live pod keeps its IPs (its sandbox may come back)
    leaving = pod(cluster, "leaving")
    cni(client, "ADD", leaving)
    cluster.delete("pods", "leaving", "default")  # terminating: no kubelet here confirms it
    eventually(lambda: (cluster.get("pods", "leaving", "default") or {}).get("metadata", {}).get("deletionTimestamp"),
               timeout=30, what="the pod terminating")
    deleted = cni(client, "DEL", leaving)     # the kubelet's DEL of a terminating pod releases
    cluster._force_delete("pods", cluster.get("pods", "leaving", "default"))
    eventually(lambda: ((cluster.get(REPORTS, NODE) or {}).get("status")), timeout=60,
               what="the agent's NodeReport", context=agent.logs)
    # the pod `gone` vanishes without a DEL (a node lost with it): a leak for the controller's IP GC
    cluster._force_delete("pods", cluster.get("pods", "gone", "default"))  # no kubelet here to confirm
    return {"added": added, "deleted": deleted, "kept": kept, "second_nic": second_nic, "coordinator": coordinator,
            "web": web}


# SpiderSubnet auto pools (docs/autopools.md): a Deployment's pool made by the controller, a
# third-party controller's (an OpenKruise-like CloneSet, a CRD the test serves) made by the agent
SHOP = {"ipam.spidernet.io/subnet": '{"ipv4":["sub6"]}', "ipam.spidernet.io/ippool-ip-number": "+1"}
CLONES = {"ipam.spidernet.io/subnet": '{"ipv4":["sub6"]}', "ipam.spidernet.io/ippool-ip-number": "2"}
CLONESETS = "clonesets.apps.kruise.io"
CLONESET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": CLONESETS},
    "spec": {"group": "apps.kruise.io", "scope": "Namespaced",
             "names": {"plural": "clonesets", "singular": "cloneset", "kind": "CloneSet"},
             "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}
# what the chart must be told to let the controller read those apps (values.yaml `autoPools.thirdPartyApps`)
THIRD_PARTY_VALUES = {"autoPools": {"thirdPartyApps": [{"apiGroup": "apps.kruise.io", "resources": ["clonesets"]}]}}


def auto_pool_of(cluster, uid: str) -> dict | None:
    return next((p for p in cluster.list(POOLS) if (p["metadata"].get("labels") or {})
                 .get("ipam.spidernet.io/owner-application-uid") == uid), None)


def settled_pool(cluster, uid: str) -> bool:
    """The app's auto pool exists and the controller has written its counts: an ADD now does not
    race the controller's first status write (a conflict the agent resolves by re-reading the pool)."""
    pool = auto_pool_of(cluster, uid)
    return pool is not None and (pool.get("status") or {}).get("totalIPCount") == pool_size(pool) > 0


def pool_size(pool: dict | None) -> int:
    from cni.ipranges import parse_range, to_set

    return to_set(parse_range(r) for r in (pool or {}).get("spec", {}).get("ips") or []).size


def direct_pod(cluster, name: str, kind: str, annotations: dict) -> tuple[dict, dict]:
    """A StatefulSet's or a DaemonSet's pod (owned by the app itself), the template annotated -> (app, pod)."""
    labels = {"app": name}
    spec = {"selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels, "annotations": dict(annotations)},
                         "spec": {"containers": [{"name": "c", "image": "pause"}]}}}
    if kind == "StatefulSet":
        spec.update(replicas=1, serviceName=name)
    app = cluster.create({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "default"},
                          "spec": spec})
    return app, create_pod(cluster, {"name": f"{name}-0", "namespace": "default", "annotations": dict(annotations),
                                     "ownerReferences": [ref("apps/v1", kind, app)]})


def third_party_pool(cluster, agent: Process, socket: str) -> dict:
    """A CloneSet's pods, with no controller running: the agent cuts their pool from the subnet itself
    (and grows it for a later pod asking for more). (With the controller running, its first count
    write to the new pool can race the agent's allocation; the agent then re-reads the pool, a `get`
    the chart does not grant: see the chart's rbac-agent.yaml.)"""
    client = AgentClient(socket, timeout=90)
    cloneset = cluster.create({"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
                               "metadata": {"name": "kruise", "namespace": "default"}, "spec": {"replicas": 1}})
    clone = create_pod(cluster, {"name": "kruise-x1", "namespace": "default", "annotations": dict(CLONES),
                                 "ownerReferences": [ref("apps.kruise.io/v1alpha1", "CloneSet", cloneset)]})
    clone_added = cni(client, "ADD", clone)
    clone_pool = auto_pool_of(cluster, cloneset["metadata"]["uid"])
    # a later pod of it asks for 3 IPs: the agent grows the pool (the ledger first)
    bigger = create_pod(cluster, {"name": "kruise-x2", "namespace": "default",
                                  "annotations": {**CLONES, "ipam.spidernet.io/ippool-ip-number": "3"},
                                  "ownerReferences": [ref("apps.kruise.io/v1alpha1", "CloneSet", cloneset)]})
    clone_grown = cni(client, "ADD", bigger)
    clone_size = pool_size(auto_pool_of(cluster, cloneset["metadata"]["uid"]))
    return {"cloneset": cloneset, "clone_added": clone_added, "clone_pool": clone_pool, "clone_grown": clone_grown,
            "clone_size": clone_size}


def autopool_scenario(cluster, controller: Process, agent: Process, socket: str, cloneset: dict) -> dict:
    """A Deployment annotated with sub6: the controller makes its pool (the subnet's ledger first, an
    Event on the Deployment in its namespace), the agent allocates its pod from it (reading the
    pod's ReplicaSet and Deployment), scaling grows the pool, deleting the Deployment reclaims it
    once the pod's IP is released; so are the other kinds' pools. The CloneSet (`third_party_pool`)
    goes too: the controller reads it to know its pool may be reclaimed."""
    client = AgentClient(socket, timeout=90)
    shop = owned_pod(cluster, "shop-5f7-x1", ("apps/v1", "Deployment", "shop"), ("apps/v1", "ReplicaSet", "shop-5f7"),
                     annotations=SHOP)
    deployment = cluster.get("deployments.apps", "shop", "default")
    uid = deployment["metadata"]["uid"]
    eventually(lambda: pool_size(auto_pool_of(cluster, uid)) == 2 and settled_pool(cluster, uid), timeout=60,
               what="the Deployment's auto pool (1 replica + 1)", context=controller.logs)
    created = auto_pool_of(cluster, uid)["metadata"]["name"]
    shop_added = cni(client, "ADD", shop)
    cluster.patch("deployments.apps", "shop", {"spec": {"replicas": 3}}, "default")
    eventually(lambda: pool_size(auto_pool_of(cluster, uid)) == 4, timeout=60,
               what="the auto pool grown to 3 replicas + 1", context=controller.logs)
    # a StatefulSet's, a DaemonSet's and a CronJob's pods: the agent reads each top controller
    statefulset, db = direct_pod(cluster, "db", "StatefulSet", SHOP)
    daemonset, probe = direct_pod(cluster, "probe", "DaemonSet", SHOP)
    report = owned_pod(cluster, "report-28-x1", ("batch/v1", "CronJob", "report"), ("batch/v1", "Job", "report-28"),
                       annotations=SHOP)
    cronjob = cluster.get("cronjobs.batch", "report", "default")
    eventually(lambda: all(settled_pool(cluster, app["metadata"]["uid"]) for app in (statefulset, daemonset, cronjob)),
               timeout=60, what="the StatefulSet's, DaemonSet's and CronJob's auto pools", context=controller.logs)
    kinds_added = {p["metadata"]["name"]: cni(client, "ADD", p) for p in (db, probe, report)}
    # the apps go; their pods' IPs are released (no kubelet here: the IP GC collects them), then the pools
    cluster.delete("deployments.apps", "shop", "default")
    cluster.delete(CLONESETS, "kruise", "default")
    cluster.delete("statefulsets.apps", "db", "default")
    cluster.delete("daemonsets.apps", "probe", "default")
    cluster.delete("cronjobs.batch", "report", "default")
    for name in ("shop-5f7-x1", "kruise-x1", "kruise-x2", "db-0", "probe-0", "report-28-x1"):
        cluster._force_delete("pods", cluster.get("pods", name, "default"))
    eventually(lambda: not [p for p in cluster.list(POOLS) if p["metadata"]["name"].startswith("auto")],
               timeout=90, what="every auto pool reclaimed", context=controller.logs)
    cluster.delete("replicasets.apps", "shop-5f7", "default")
    cluster.delete("jobs.batch", "report-28", "default")
    events = [e for e in cluster.list("events", "default") if e["involvedObject"].get("kind") == "Deployment"]
    return {"pool": created, "shop_added": shop_added, "kinds_added": kinds_added,
            "events": events}


def controller_applies(cluster, controller: Process, remote, namespace: str) -> dict:
    """The controller leads and applies the first revision (the pools the agent then allocates from)."""
    first = remote.push_spec(FIRST, "first")
    eventually(lambda: revision(cluster) == first, timeout=90, what="the first revision applied",
               context=controller.logs)
    return cluster.get("leases.coordination.k8s.io", "spiderpool-controller", namespace)


def controller_scenario(cluster, controller: Process, remote, namespace: str, lease: dict) -> dict:
    # IP GC: `gone`'s record and SpiderEndpoint go
    eventually(lambda: not any(r.get("pod") == "default/gone" for r in records(cluster, "pool-a").values())
               and cluster.get("spiderendpoints.spiderpool.spidernet.io", "gone", "default") is None,
               timeout=60, what="the leaked IP collected", context=controller.logs)
    # CIDR discovery into the SpiderCoordinator's status
    eventually(lambda: ((cluster.get("spidercoordinators.spiderpool.spidernet.io", "default") or {})
                        .get("status") or {}).get("overlayPodCIDR"),
               timeout=60, what="discovered CIDRs", context=controller.logs)
    # count repair: a subnet's status counts written wrong by someone else are put right
    cluster.patch(SUBNETS, "sub6", {"status": {"allocatedIPCount": 999}}, subresource="status")
    eventually(lambda: ((cluster.get(SUBNETS, "sub6") or {}).get("status") or {}).get("allocatedIPCount") != 999,
               timeout=60, what="sub6's counts repaired", context=controller.logs)
    bad = remote.push_spec(INVALID, "a gateway outside its subnet")
    eventually(lambda: ((cluster.get(SYNCS, "rbac-proof") or {}).get("status") or {}).get("lastAttemptedRevision")
               == bad, timeout=60, what="the bad revision refused", context=controller.logs)
    last = remote.push_spec(LAST, "prune")
    eventually(lambda: revision(cluster) == last, timeout=90, what="the last revision applied",
               context=controller.logs)
    assert cluster.get(POOLS, "pool-b") is None
    assert cluster.get(POOLS, "pool-a") is not None, "pool-a still holds web-0's IP: drained, not gone"
    # the pods and the StatefulSet go: the IP GC frees their records, then the drained pool-a goes
    cluster.delete("statefulsets.apps", "web", "default")
    cluster._force_delete("pods", cluster.get("pods", "web-0", "default"))
    cluster._force_delete("pods", cluster.get("pods", "app", "default"))  # DEL kept a live pod's IP
    for name in ("api-7d9-x1", "nightly-29-x1"):                         # no DEL at all: IP GC
        cluster._force_delete("pods", cluster.get("pods", name, "default"))
    eventually(lambda: cluster.get(POOLS, "pool-a") is None, timeout=90,
               what="pool-a released once empty", context=controller.logs)
    final = remote.push_spec(FINAL, "no Calico pool")
    eventually(lambda: revision(cluster) == final, timeout=90, what="the final revision applied",
               context=controller.logs)
    assert cluster.get("ippools.projectcalico.org", "sub6") is None
    events = [e for e in cluster.list("events", "default") if e["involvedObject"].get("kind") == "NetworkSync"]
    code = controller.stop()
    released = cluster.get("leases.coordination.k8s.io", "spiderpool-controller", namespace)
    return {"lease": lease, "events": events, "exit": code, "released": released}
