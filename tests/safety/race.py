"""Race drivers for the safety stress tests (issue 8), independent of which API server runs.

Everything here talks to a cluster through a kubeconfig only — the reconciler in-process,
a real node agent (threads) on a unix socket, `agent.kube` for reads — so the same trials
run against the project's test API server (which can also slow its writes down) and
against a real kube-apiserver. The race windows are forced in-process, by hooking the
reconciler's own calls (`Window`), so they do not depend on the server either.

    PruneBed(kubeconfig, workdir)   one spec "race" + an agent on node "race-node"
      .prune_trial(i, window)       apply a spec with pool a<i>, then one without it while
                                    pod p<i> is ADDed from a<i> inside `window`; returns a
                                    PruneOutcome and checks the invariant itself
    ClaimBed(kubeconfig, workdir)   specs "claim-a" and "claim-b" that both declare pool shared-<i>
      .claim_trial(i)               both applied at once; returns who won
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from unittest import mock

from agent import kube as k8s
from agent.client import AgentClient, netconf
from agent.main import Agent
from agent.service import AgentSettings
from reconciler import apply as applying
from reconciler.apply import ApplyOptions, ApplyRefused
from reconciler.kube import Cluster, RetryPolicy, connect
from reconciler.pipeline import load_and_validate
from reconciler.sync import reconcile

NODE = "race-node"
HEADER = "apiVersion: gitops.spidernet.io/v1alpha1\nkind: NetworkSpec\nmetadata:\n  name: {name}\n"

# Where the ADD of the racing pod is squeezed in, relative to the prune of its pool:
WINDOWS = (
    "plan->prune",      # after the plan's LIST, before the prune of the pool starts
    "read->delete",     # right before the DELETE request of the pool
    "delete->release",  # after the DELETE, before our finalizer is removed
    "jitter",           # a thread, at a random moment while the apply runs (slow writes help)
)


def pool_spec(name: str, pools: list[tuple[str, str]]) -> str:
    """A NetworkSpec with one pool per (name, ip range) in 10.60.0.0/16, plus pool `keep-<spec>`."""
    lines = [HEADER.format(name=name), "spec:\n  cluster:\n    ipVersions: [4]\n  ippools:\n",
             f"    - {{name: keep-{name}, subnet: 10.61.0.0/16, ips: [10.61.0.10-10.61.0.20], gateway: 10.61.0.1}}\n"]
    for pool, ips in pools:
        lines.append(f"    - {{name: {pool}, subnet: 10.60.0.0/16, ips: [{ips}], gateway: 10.60.255.254}}\n")
    return "".join(lines)


class Bed:
    def __init__(self, kubeconfig: str, workdir: Path):
        self.kubeconfig, self.workdir = str(kubeconfig), Path(workdir)
        self.kube = k8s.connect(kubeconfig=self.kubeconfig)

    def cluster(self) -> Cluster:
        return connect(kubeconfig=self.kubeconfig, retry=RetryPolicy(budget_seconds=10.0))

    def write(self, file: str, text: str) -> Path:
        path = self.workdir / file
        path.write_text(text)
        return path

    def apply(self, path: Path, *, adopt: bool = False, self_heal: bool = False):
        """-> (ApplyResult or None, refusal message)."""
        try:
            return reconcile(self.cluster(), load_and_validate(path), path=str(path),
                             options=ApplyOptions(adopt=adopt, self_heal=self_heal)), ""
        except ApplyRefused as refused:
            return None, str(refused)

    def close(self) -> None:
        self.kube.close()


@dataclass
class PruneOutcome:
    window: str
    add_ok: bool
    ip: str | None
    pool_state: str  # "kept" (still there, holding the IP) | "gone" | "terminating"
    actions: dict = field(default_factory=dict)


class PruneBed(Bed):
    """A node agent and the spec `race`; each trial uses its own pool and pod."""

    def __init__(self, kubeconfig: str, workdir: Path, sock_dir: Path):
        super().__init__(kubeconfig, workdir)
        with contextlib.suppress(k8s.AlreadyExists):
            self.kube.create(k8s.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}})
        socket = str(Path(sock_dir) / "race.sock")
        self.agent = Agent(AgentSettings(node=NODE, api_budget=10.0), socket,
                           k8s.connect(kubeconfig=self.kubeconfig)).start()
        assert self.agent.wait_ready(15), self.agent.cache.problems()
        self.client = AgentClient(socket, timeout=60)

    def close(self) -> None:
        self.agent.stop()
        super().close()

    def pod(self, name: str, pool: str) -> dict:
        return self.kube.create(k8s.PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"ipam.spidernet.io/ippool": json.dumps({"ipv4": [pool]})}},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "pause"}]}})

    def cni(self, command: str, pod: dict):
        meta = pod["metadata"]
        return self.client.cni(command, config=netconf(), container_id=f"c-{meta['name']}", if_name="eth0",
                               namespace="default", pod=meta["name"], uid=meta["uid"])

    def records(self, pool: str) -> dict | None:
        obj = self.kube.get(k8s.POOLS, pool)
        if obj is None:
            return None
        return json.loads((obj.get("status") or {}).get("allocatedIPs") or "{}")

    def prune_trial(self, i: int, window: str, *, rng: random.Random) -> PruneOutcome:
        pool, ips = f"a{i}", f"10.60.{i % 250}.1-10.60.{i % 250}.3"
        with_pool = self.write(f"with-{i}.yaml", pool_spec("race", [(pool, ips)]))
        without = self.write(f"without-{i}.yaml", pool_spec("race", []))
        result, refused = self.apply(with_pool)
        assert result is not None and result.ok, refused or result.error
        assert self.agent.cache.wait_view(k8s.POOLS, pool, lambda v: v is not None, 10)
        p1 = self.pod(f"p{i}", pool)
        reply: list = []

        def add() -> None:
            if not reply:
                reply.append(self.cni("ADD", p1))

        with _squeezed(window, pool, add, rng):
            result, refused = self.apply(without)
        add()  # the hook did not fire (the prune took another path): ADD after it
        assert result is not None, refused
        actions = {r.change.name: r.action for r in result.results}
        ip = reply[0].ips[0] if reply[0].ok else None
        records = self.records(pool)
        obj = self.kube.get(k8s.POOLS, pool)
        state = "gone" if obj is None else "terminating" if obj["metadata"].get("deletionTimestamp") else "kept"
        if ip is not None:
            # THE INVARIANT: a pool that handed out an address still exists and still holds it.
            assert records is not None and ip in records, (
                f"trial {i} ({window}): {pool} gave {ip} to p{i} and then lost it (state {state}, "
                f"prune said {actions.get(pool)})")
            self._no_duplicate_after_reapply(i, pool, ips, ip)
        self._clean(i, p1)
        return PruneOutcome(window, reply[0].ok, ip, state, actions)

    def _no_duplicate_after_reapply(self, i: int, pool: str, ips: str, ip: str) -> None:
        """The repro's second half: re-apply the pool, ADD another pod: it must not get the same IP."""
        # self-heal: the drain's `disable: true` reads as drift when the pool comes back unchanged
        result, refused = self.apply(self.workdir / f"with-{i}.yaml", self_heal=True)
        assert result is not None, refused
        if self.kube.get(k8s.POOLS, pool)["metadata"].get("deletionTimestamp"):
            return
        assert self.agent.cache.wait_view(k8s.POOLS, pool, lambda v: v is not None and not v.disable, 10)
        p2 = self.pod(f"q{i}", pool)
        second = self.cni("ADD", p2)
        assert not (second.ok and second.ips[0] == ip), f"trial {i}: duplicate IP {ip} for p{i} and q{i}"
        self.cni("DEL", p2)
        self.kube.delete(k8s.PODS, p2["metadata"]["name"], "default")

    def _clean(self, i: int, p1: dict) -> None:
        self.cni("DEL", p1)
        self.kube.delete(k8s.PODS, p1["metadata"]["name"], "default")


@contextlib.contextmanager
def _squeezed(window: str, pool: str, add: Callable[[], None], rng: random.Random):
    """Run `add` inside the named window of the prune of `pool` (see WINDOWS)."""
    if window == "plan->prune":
        original = applying._carry_out

        def carry_out(cluster, change, *args, **kwargs):
            if change.action == "delete" and change.name == pool:
                add()
            return original(cluster, change, *args, **kwargs)

        with mock.patch.object(applying, "_carry_out", carry_out):
            yield
    elif window == "read->delete":
        original = Cluster.delete

        def delete(self, obj, *args, **kwargs):
            if obj["metadata"]["name"] == pool and not kwargs.get("dry_run"):
                add()
            return original(self, obj, *args, **kwargs)

        with mock.patch.object(Cluster, "delete", delete):
            yield
    elif window == "delete->release":
        original_replace = getattr(Cluster, "replace", None)

        def replace(self, obj, *args, **kwargs):
            if obj["metadata"]["name"] == pool:
                add()
            return original_replace(self, obj, *args, **kwargs)

        with (mock.patch.object(Cluster, "replace", replace) if original_replace else contextlib.nullcontext()):
            yield
    else:
        thread = threading.Timer(rng.uniform(0.0, 0.15), add)
        thread.start()
        try:
            yield
        finally:
            thread.join()
    return


@dataclass
class ClaimOutcome:
    winners: list[str]
    losers: dict[str, str]  # spec -> what it said
    owner: str | None  # the spec label on the object afterwards


class ClaimBed(Bed):
    """Specs claim-a and claim-b, each with its own pool and both with pool shared-<i>."""

    def claim_trial(self, i: int, *, forced: bool = True, jitter: float = 0.0,
                    rng: random.Random | None = None) -> ClaimOutcome:
        """Both specs applied at once. `forced`: each apply waits after its plan until the other
        has planned too, so both saw shared-<i> absent and race for it at write time."""
        if not forced:
            return self._claim_trial(i, jitter=jitter, rng=rng)
        planned = threading.Barrier(2, timeout=20)
        original = applying.plan_live

        def plan_live(*args, **kwargs):
            answer = original(*args, **kwargs)
            planned.wait()
            return answer

        with mock.patch.object(applying, "plan_live", plan_live):
            return self._claim_trial(i, jitter=jitter, rng=rng)

    def _claim_trial(self, i: int, *, jitter: float = 0.0, rng: random.Random | None = None) -> ClaimOutcome:
        paths, results = {}, {}
        for spec, third in (("claim-a", 1), ("claim-b", 2)):
            paths[spec] = self.write(f"{spec}-{i}.yaml", pool_spec(spec, [
                (f"shared-{i}", f"10.60.{i % 250}.{100 + third}"), (f"{spec}-own-{i}", f"10.60.{i % 250}.{10 + third}")]))
        barrier = threading.Barrier(2)

        def run(spec: str) -> None:
            barrier.wait()
            if jitter and rng is not None:
                time.sleep(rng.uniform(0.0, jitter))
            results[spec] = self.apply(paths[spec])

        threads = [threading.Thread(target=run, args=(s,)) for s in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners, losers = [], {}
        for spec, (result, refused) in sorted(results.items()):
            if result is not None and result.ok:
                winners.append(spec)
            else:
                losers[spec] = refused or (result.error if result.error else "; ".join(
                    f"{r.change.ref}: {r.message}" for r in result.results if r.action in ("conflict", "failed")))
        obj = self.kube.get(k8s.POOLS, f"shared-{i}")
        owner = ((obj or {}).get("metadata", {}).get("labels") or {}).get("gitops.spidernet.io/spec")
        return ClaimOutcome(winners, losers, owner)

    def network_sync(self, spec: str) -> dict | None:
        return self.kube._call("GET", f"/apis/gitops.spidernet.io/v1alpha1/networksyncs/{spec}",
                               what=f"NetworkSync {spec}")
