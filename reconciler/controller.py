"""`spiderpool controller`, assembled: the GitOps loop and the IPAM controllers behind one leader Lease.

Why it exists: in the cluster the same loop as `spiderpool watch` (loop.py) follows a git
source, beside the IP garbage collector, the SpiderCoordinator CIDR discovery and the SpiderSubnet
auto-pool controller (agent/autopools.py).
Two replicas run for availability; only the one holding the Lease acts:

    start: metrics server (/metrics /healthz /readyz), webhook (if asked)
    campaign on the Lease (agent/leaderelection.py) ─ standby: nothing acts
      └ leading: threads for the reconcile loop, the IP GC, the CIDR discovery and the auto pools
        lost the Lease (no renewal within the renew deadline, or another holder):
          everything is told to stop and the process exits 1 at once — an apply in flight is
          cut off rather than finished, because a standby may act from now on; the Deployment
          restarts the replica, which campaigns again.
        SIGTERM: the workers finish what they are doing (bounded), then the Lease is released
          so a standby takes over without waiting out the lease duration.

The source is given by flags or by a ConfigMap (`SourceConfig.from_configmap`: keys repo,
ref, path, interval, backoffMax, credentialsFile, caFile), read again every few seconds: a change
stops the current loop between reconciles and starts one on the new source. Every outcome is
logged, counted (controllermetrics.py) and recorded as an Event on the NetworkSync (events.py).
This module composes reconciler/ and agent/, which the layers contract allows (reconciler >
agent); it prints nothing — the CLI does, and the workers log JSON lines.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable

from prometheus_client import CollectorRegistry

from agent import kube as k8s
from agent.autopools import AutoPools
from agent.coordinatorstatus import CoordinatorStatusSync
from agent.ipgc import IpGc
from agent.leasedecision import Timing as LeaseTiming
from agent.leaderelection import LeaderElector
from agent.logs import Log
from agent.metrics import AgentMetrics
from cni.allocation.autopool import DEFAULT_IP_NUMBER, AppRef, IpNumber

from . import schedule
from .apply import ApplyOptions
from .controllermetrics import LoopMetrics, MetricsServer
from .errors import ReconcilerError
from .events import Event, EventRecorder, event_for
from .loop import Loop, Outcome
from .source import GitSource

CONFIGMAPS = k8s.Kind("", "v1", "configmaps", "ConfigMap", True)
STOP_GRACE = 60.0  # seconds the workers get to finish on SIGTERM before the Lease is released anyway


@dataclass(frozen=True)
class SourceConfig:
    """Where the loop reads its spec: a git remote at a ref, a directory inside it, how often."""

    repo: str
    ref: str = "HEAD"
    path: str = "."
    interval: float = 60.0
    backoff_max: float = 300.0
    credentials_file: str | None = None
    ca_file: str | None = None

    @classmethod
    def from_configmap(cls, data: dict[str, str], *, defaults: "SourceConfig | None" = None) -> "SourceConfig":
        """From a ConfigMap's data; missing keys fall back to `defaults` (the flags)."""
        base = defaults or cls(repo="")
        try:
            config = cls(repo=(data.get("repo") or base.repo).strip(), ref=(data.get("ref") or base.ref).strip(),
                         path=(data.get("path") or base.path).strip(),
                         interval=float(data.get("interval") or base.interval),
                         backoff_max=float(data.get("backoffMax") or base.backoff_max),
                         credentials_file=(data.get("credentialsFile") or base.credentials_file or None),
                         ca_file=(data.get("caFile") or base.ca_file or None))
        except ValueError as exc:
            raise ReconcilerError(f"the source ConfigMap has a bad number: {exc}") from None
        if not config.repo:
            raise ReconcilerError("the source ConfigMap has no `repo` key")
        if config.interval <= 0 or config.backoff_max <= 0:
            raise ReconcilerError("the source ConfigMap's interval and backoffMax must be positive")
        return config


@dataclass(frozen=True)
class Settings:
    source: SourceConfig | None = None             # from flags
    source_configmap: tuple[str, str] | None = None  # (namespace, name)
    configmap_poll: float = 5.0
    cache_dir: str = ""
    options: ApplyOptions = field(default_factory=ApplyOptions)
    leader_elect: bool = True
    lease_name: str = "spiderpool-controller"
    lease_namespace: str = "kube-system"
    identity: str = ""
    lease_timing: LeaseTiming = field(default_factory=LeaseTiming)
    metrics_listen: str | None = None
    webhook_listen: str | None = None
    webhook_secret: bytes = b""
    gc_interval: float = 120.0
    gc_grace: float = 30.0
    coordinator_interval: float = 60.0
    auto_pools: bool = True
    auto_pool_default: IpNumber = DEFAULT_IP_NUMBER
    auto_pool_interval: float = 60.0

    @property
    def follows_a_source(self) -> bool:
        return self.source is not None or self.source_configmap is not None


def default_identity() -> str:
    """client-go's habit: the host (the pod's name in a cluster) and a unique suffix."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def parse_configmap_ref(text: str) -> tuple[str, str]:
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise ReconcilerError(f"--source-configmap {text!r}: expected NAMESPACE/NAME")
    return namespace, name


class SourceRunner:
    """Runs the loop on the configured source until `stop`; restarts it when the ConfigMap changes."""

    def __init__(self, settings: Settings, *, connect: Callable[[], object], kube: k8s.Kube,
                 report: Callable[[Outcome], None], log: Log):
        self.settings, self.connect, self.kube, self.report, self.log = settings, connect, kube, report, log
        self.loop: Loop | None = None

    def kick(self) -> None:
        if self.loop is not None:
            self.loop.wakeup.kick()

    def read_config(self) -> SourceConfig:
        if self.settings.source_configmap is None:
            assert self.settings.source is not None
            return self.settings.source
        namespace, name = self.settings.source_configmap
        configmap = self.kube.get(CONFIGMAPS, name, namespace)
        if configmap is None:
            raise ReconcilerError(f"the source ConfigMap {namespace}/{name} does not exist")
        return SourceConfig.from_configmap(configmap.get("data") or {}, defaults=self.settings.source)

    def run(self, stop: threading.Event) -> None:
        config: SourceConfig | None = None
        refused: SourceConfig | None = None  # a config that cannot be followed: said once, waited out
        while not stop.is_set():
            try:
                config = self.read_config()
            except (ReconcilerError, k8s.ApiError) as error:
                self.log.error("cannot read the source", error=str(error))
                stop.wait(self.settings.configmap_poll)
                continue
            if config == refused:
                stop.wait(self.settings.configmap_poll)
                continue
            try:
                self._follow(config, stop)
            except ReconcilerError as error:  # e.g. a ref or path git cannot take: wait for a fixed ConfigMap
                refused = config
                self.log.error("cannot follow the source; waiting for a change of it", error=str(error))

    def _follow(self, config: SourceConfig, stop: threading.Event) -> None:
        """One loop on `config` until `stop` or a different config is read."""
        source = GitSource(config.repo, ref=config.ref, path=config.path, cache_dir=self.settings.cache_dir,
                           credentials_file=config.credentials_file, ca_file=config.ca_file,
                           environ=dict(os.environ))
        timing = schedule.Timing(interval=config.interval, backoff_first=min(1.0, config.interval),
                                 backoff_max=max(config.backoff_max, 1.0))
        self.loop = loop = Loop(source, connect=self.connect, options=self.settings.options, timing=timing,
                                report=self.report)
        self.log.info("following", source=str(source), interval=config.interval)
        worker = threading.Thread(target=loop.run, name="reconcile-loop", daemon=True)
        worker.start()
        try:
            while worker.is_alive() and not stop.wait(self.settings.configmap_poll):
                if self.settings.source_configmap is None:
                    continue
                try:
                    if self.read_config() != config:
                        self.log.info("the source ConfigMap changed; restarting the loop")
                        return
                except (ReconcilerError, k8s.ApiError) as error:
                    self.log.warning("cannot read the source ConfigMap; keeping the current source",
                                     error=str(error))
        finally:
            loop.request_stop()
            worker.join(STOP_GRACE)
            source.close()


class Controller:
    def __init__(self, settings: Settings, *, connect: Callable[[], object], kube: k8s.Kube,
                 connect_agent: Callable[[], k8s.Kube], log: Log | None = None):
        self.settings, self.connect, self.kube, self.connect_agent = settings, connect, kube, connect_agent
        self.log = log or Log("controller")
        self.registry = CollectorRegistry()
        self.metrics = LoopMetrics(self.registry)
        self.agent_metrics = AgentMetrics(self.registry)
        identity = settings.identity or default_identity()
        self.settings = settings = replace(settings, identity=identity)
        self.elector = LeaderElector(kube, name=settings.lease_name, namespace=settings.lease_namespace,
                                     identity=identity, timing=settings.lease_timing,
                                     log=Log("leaderelection", identity=identity)) if settings.leader_elect else None
        self._events_cluster = None
        self.events = EventRecorder(self._events_connected, instance=identity)
        self.runner = SourceRunner(settings, connect=connect, kube=kube, report=self.report,
                                   log=Log("gitops", identity=identity)) if settings.follows_a_source else None
        self.acting = threading.Event()      # set while this replica leads (or leads alone)
        self.stop_acting = threading.Event()
        self._workers: list[threading.Thread] = []
        self._seen_lease = threading.Event()

    # -- outcomes ---------------------------------------------------------------------------------

    def report(self, outcome: Outcome) -> None:
        fields = {"result": outcome.result, "reason": outcome.reason, "revision": outcome.revision,
                  "spec": outcome.spec, "seconds": round(outcome.seconds, 3), "plan": outcome.plan,
                  "applied_revision": outcome.applied_revision}
        if outcome.errors:
            fields["errors"] = list(outcome.errors[:10])
        (self.log.info if outcome.ok else self.log.warning)("reconciled", **fields)
        self.metrics.observe(outcome)
        event = event_for(outcome)
        if event is not None:
            problem = self.events.record(event)
            if problem:
                self.log.warning("event not recorded", error=problem)

    def record_on_app(self, app: AppRef, type_: str, reason: str, message: str) -> None:
        """An auto-pool Event on the app it concerns (`kubectl describe deployment NAME` shows it)."""
        involved = {"apiVersion": f"{app.group}/{app.version}" if app.group else app.version, "kind": app.kind,
                    "namespace": app.namespace, "name": app.name, "uid": app.uid}
        problem = self.events.record_on(involved, Event(app.name, type_, reason, message))
        if problem:
            self.log.warning("event not recorded", error=problem)

    def _events_connected(self):
        if self._events_cluster is None:
            self._events_cluster = self.connect()
        return self._events_cluster

    def ready(self) -> bool:
        return self.acting.is_set() or self._seen_lease.is_set() or self.elector is None

    # -- acting -----------------------------------------------------------------------------------

    def start_acting(self) -> None:
        self.acting.set()
        self.metrics.leader.set(1)
        self.log.info("acting", identity=self.settings.identity)
        gc = IpGc(self.connect_agent(), interval=self.settings.gc_interval, grace=self.settings.gc_grace,
                  metrics=self.agent_metrics)
        coordinator = CoordinatorStatusSync(self.connect_agent(), interval=self.settings.coordinator_interval)
        jobs = [("ip-gc", gc.run), ("coordinator-status", coordinator.run)]
        if self.settings.auto_pools:
            pools = AutoPools(self.connect_agent(), default_number=self.settings.auto_pool_default,
                              interval=self.settings.auto_pool_interval, record=self.record_on_app,
                              metrics=self.agent_metrics, log=Log("autopools", identity=self.settings.identity))
            jobs.append(("auto-pools", pools.run))
        if self.runner is not None:
            jobs.append(("gitops", self.runner.run))
        for name, target in jobs:
            worker = threading.Thread(target=target, args=(self.stop_acting,), name=name, daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop_acting_now(self, *, wait: float = 0.0) -> None:
        self.stop_acting.set()
        self.acting.clear()
        self.metrics.leader.set(0)
        if self.runner is not None and self.runner.loop is not None:
            self.runner.loop.request_stop()
        for worker in self._workers:
            worker.join(wait)

    def run(self, stop: threading.Event) -> int:
        """Until `stop` (exit 0) or the Lease is lost (exit 1)."""
        if self.elector is None:
            self.start_acting()
            stop.wait()
            self.stop_acting_now(wait=STOP_GRACE)
            return 0
        watcher = threading.Thread(target=self._watch_lease_seen, args=(stop,), daemon=True)
        watcher.start()
        lost = self.elector.run(stop, on_started_leading=self.start_acting,
                                on_stopped_leading=lambda: self.stop_acting_now(
                                    wait=0.0 if not stop.is_set() else STOP_GRACE))
        return 1 if lost else 0

    def _watch_lease_seen(self, stop: threading.Event) -> None:
        assert self.elector is not None
        while not stop.wait(0.2):
            if self.elector.observation is not None or self.elector.holder:
                self._seen_lease.set()
                self.metrics.leader.set(1 if self.elector.leading.is_set() else 0)


def serve(settings: Settings, *, connect: Callable[[], object], connect_agent: Callable[[], k8s.Kube],
          stop: threading.Event, on_serving: Callable[[str], None] = lambda url: None) -> int:
    """Run the controller until `stop`; -> the exit code. Starts and stops its HTTP endpoints."""
    from .webhook import Webhook

    kube = connect_agent()
    controller = Controller(settings, connect=connect, kube=kube, connect_agent=connect_agent)
    stoppers = []
    try:
        if settings.metrics_listen:
            server = MetricsServer(settings.metrics_listen, controller.registry, ready=controller.ready).start()
            stoppers.append(server.stop)
            on_serving(f"metrics at {server.url}metrics")
        if settings.webhook_listen and controller.runner is not None:
            runner = controller.runner
            hook = Webhook(settings.webhook_listen, secret=settings.webhook_secret,
                           on_hook=lambda kind: runner.kick()).start()
            stoppers.append(hook.stop)
            on_serving(f"webhook at {hook.url}")
        return controller.run(stop)
    finally:
        for stop_serving in stoppers:
            stop_serving()
        kube.close()
