"""The kubelet stand-in for pods the real controllers make: scheduled pods get a sandbox and
the CNI chain; pods being deleted get DEL and then go.

Why it exists: with kube-controller-manager and kube-scheduler running, pods are created by
ReplicaSets (not by the test) and bound to Nodes by the scheduler. Something on each bed node
must then do what the kubelet does: see a pod bound to its node, make its sandbox, run the
network's ADD, report the pod Running with its IP; and when the pod is deleted (scale-down,
cascade), run DEL, remove the sandbox and confirm the deletion (grace period 0).

It polls the API (every `interval` seconds) instead of watching: simpler, and fast enough for
tests. A failed ADD is retried on the next passes, as the kubelet retries a sandbox, and the
last failure per pod is kept in `failures`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from . import kernel
from .bed import Bed, Pod
from .runtime import Attachment, CniFailure, Network

DEFAULT_NETWORK = "v1.multus-cni.io/default-network"


class Kubelet:
    def __init__(self, bed: Bed, *, network: Callable[[dict[str, Any]], Network], interval: float = 0.2):
        self.bed = bed
        self.network = network
        self.interval = interval
        self.running: dict[str, Pod] = {}          # pod uid -> bed Pod with a sandbox
        self.failures: dict[str, str] = {}         # "ns/name" -> last ADD failure
        self.released: list[str] = []              # "ns/name" of pods torn down
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def start(self) -> "Kubelet":
        self._thread = threading.Thread(target=self._loop, name="kubelet-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> "Kubelet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception as exc:  # keep running, as a kubelet does; tests read `errors`
                self.errors.append(exc)
            self._stop.wait(self.interval)

    def sync(self) -> None:
        """One pass over the pods bound to the bed's nodes."""
        pods = [p for p in self.bed.cluster.server.list("pods") if p["spec"].get("nodeName") in self.bed.nodes]
        seen = set()
        for obj in pods:
            uid = obj["metadata"]["uid"]
            seen.add(uid)
            if obj["metadata"].get("deletionTimestamp"):
                self._tear_down(obj)
            elif uid not in self.running and obj.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                self._start(obj)
        for uid in [u for u in self.running if u not in seen]:   # force-deleted behind our back
            pod = self.running.pop(uid)
            self.bed.cni_del(pod)
            self.bed.pods.remove(pod)

    def _start(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        node = self.bed.node(obj["spec"]["nodeName"])
        pod = Pod(meta["name"], meta["namespace"], meta["uid"], node, "", self.network(obj),
                  Attachment("", "eth0", "", ()))
        self.bed._new_sandbox(pod)
        try:
            node.runtime.add(pod.network, pod.attachment)
        except CniFailure as failure:
            self.failures[key] = str(failure)
            self.bed.cni_del(pod)                 # the runtime cleans a failed sandbox up
            kernel.delete_netns(pod.netns)
            return
        self.failures.pop(key, None)
        self.bed.pods.append(pod)
        self.running[meta["uid"]] = pod
        self._report_running(obj, pod)

    def _report_running(self, obj: dict[str, Any], pod: Pod) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ips = [c.split("/")[0] for c in pod.cidrs()]
        status = {"phase": "Running", "podIP": ips[0] if ips else None,
                  "podIPs": [{"ip": ip} for ip in ips], "startTime": now,
                  "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}
        meta = obj["metadata"]
        self.bed.cluster.server.patch("pods", meta["name"], {"status": status}, meta["namespace"],
                                      subresource="status")

    def _tear_down(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        pod = self.running.pop(meta["uid"], None)
        if pod is not None:
            self.bed.cni_del(pod)
            kernel.delete_netns(pod.netns)
            self.bed.pods.remove(pod)
            self.released.append(f"{meta['namespace']}/{meta['name']}")
        self.bed.cluster.finalize_pod(meta["name"], meta["namespace"])

    def pods(self) -> list[Pod]:
        return list(self.running.values())


def network_from_annotation(bed: Bed, default: str) -> Callable[[dict[str, Any]], Network]:
    """The pod's network as Multus picks its default one: the pod's
    `v1.multus-cni.io/default-network` annotation, else `default` ("namespace/name" of a NAD)."""
    def pick(obj: dict[str, Any]) -> Network:
        ref = (obj["metadata"].get("annotations") or {}).get(DEFAULT_NETWORK, default)
        return bed.network(ref if "/" in ref else f"{obj['metadata']['namespace']}/{ref}")
    return pick


@contextlib.contextmanager
def underlay_bed(control_plane, spec: Path, *, router: str, nodes: Mapping[str, str], nad: str) -> Iterator[Bed]:
    """A Bed on the real control plane `control_plane` (its controllers make the pods): a switch, a
    router at `router`, `nodes` (name -> address), the plugins, `spec` applied, an agent per node and
    the kubelet stand-in running pods on `nad` (`bed.kubelet`)."""
    from tests.cluster.api import RealCluster

    with Bed(server=RealCluster(control_plane)) as bed:
        bed.add_switch()
        bed.add_router(addresses=[router])
        for name, address in nodes.items():
            bed.add_node(name, address=address)
        bed.install_plugins()
        bed.apply(spec)
        bed.start_agents()
        with Kubelet(bed, network=network_from_annotation(bed, nad)) as kubelet:
            bed.kubelet = kubelet
            yield bed


def running_ips(bed: Bed, app: str, namespace: str = "default") -> dict[str, str]:
    """name -> podIP of the pods labelled app=`app` the API reports Running (and not being deleted)."""
    pods = bed.cluster.server.list("pods", namespace)
    return {p["metadata"]["name"]: p["status"].get("podIP") for p in pods
            if p["metadata"].get("labels", {}).get("app") == app and p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")}


def kubectl(bed: Bed, *args: str) -> str:
    """Real kubectl against the bed's API server -> its stdout (asserting it succeeded)."""
    import subprocess

    from tests.k8s_binaries import helm4

    proc = subprocess.run([str(helm4().kubectl), "--kubeconfig", str(bed.kubeconfig), *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
