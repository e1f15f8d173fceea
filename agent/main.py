"""The node agent, assembled: cache + committer + CNI service behind the unix socket.

`Agent(...).start()` runs it in threads (tests); `run_agent(...)` runs it in the
foreground until SIGTERM/SIGINT (`spiderpool agent`). Everything it knows comes
from the API at start: a restarted agent lists and watches again, and only then
reports ready.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from agent import kube as k8s

from coordinator.service import CoordinatorService

from .cache import Cache, agent_kinds
from .coordinator import SpiderCoordinators
from .commit import Committer
from .logs import Log, setup
from .metrics import AgentMetrics
from .nodereport import NodeReporter
from .server import AgentServer, HealthServer, Peer, Routes, parse_listen
from .service import AgentSettings, CniService


class Agent:
    def __init__(self, settings: AgentSettings, socket_path: str, kube: k8s.Kube, *, log: Log | None = None,
                 node_report: bool = False):
        self.settings, self.socket_path, self.kube = settings, socket_path, kube
        self.log = log or Log("agent", node=settings.node)
        self.metrics = AgentMetrics()
        self.cache = Cache(kube, agent_kinds(settings.node), log=Log("cache", node=settings.node),
                           on_restart=lambda kind, why: self.metrics.watch_restarts.inc(kind=kind, why=why),
                           on_event=lambda *_: self.nodereport and self.nodereport.poke())
        self.nodereport = NodeReporter(kube, settings.node, self.cache, log=Log("nodereport", node=settings.node)) \
            if node_report else None  # off in tests that count the agent's writes
        self.committer = Committer(kube, self.cache, metrics=self.metrics, log=Log("commit", node=settings.node),
                                   budget=3 * settings.api_budget)
        self.service = CniService(settings, kube=kube, cache=self.cache, committer=self.committer,
                                  metrics=self.metrics, log=Log("cni", node=settings.node))
        self.coordinator = CoordinatorService(
            spider_coordinator=SpiderCoordinators(kube), pod_of=self.service.pod_of, release=self.service.release_nic,
            nodereport=self.nodereport, log=Log("cni", node=settings.node))  # IPConflict / GatewayUnreachable findings
        self.routes = Routes(cni=self._cni, coordinator=self._coordinator, ready=self.cache.problems,
                             metrics=self._metrics)
        self.server = AgentServer(socket_path, self.routes)
        self._stopped = False

    def _cni(self, body: Any, peer: Peer) -> dict:
        return self.service.handle(body).to_body()

    def _coordinator(self, body: Any, peer: Peer) -> dict:
        return self.coordinator.handle(body, caller_pid=peer.pid).to_body()

    def _metrics(self) -> str:
        problems = self.cache.problems()
        for plural in self.cache.kinds:
            self.metrics.cache_synced.set(0.0 if any(p.startswith(plural) for p in problems) else 1.0, kind=plural)
        return self.metrics.render()

    def start(self) -> "Agent":
        """Start watching and serving in background threads (the socket answers /readyz 503 until synced)."""
        self.cache.start()
        self.server.start()
        if self.nodereport:
            self.nodereport.start()
        self.log.info("agent started", socket=self.socket_path, api=self.kube.server)
        return self

    def wait_ready(self, timeout: float = 30.0) -> bool:
        return self.cache.wait_synced(timeout)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.stop()
        if self.nodereport:
            self.nodereport.stop()
        self.cache.stop()
        self.kube.close()
        self.log.info("agent stopped")


def run_agent(*, node: str, socket_path: str, kubeconfig: str | None = None, context: str | None = None,
              log_level: str = "info", health_listen: str | None = None) -> int:
    """`spiderpool agent`: serve until SIGTERM/SIGINT; -> exit code.

    `health_listen` ("HOST:PORT"): also answer /healthz, /readyz and /metrics over TCP there
    (the kubelet's probes cannot reach a unix socket)."""
    setup(log_level)
    log = Log("agent", node=node)
    try:
        listen = parse_listen(health_listen) if health_listen else None
    except ValueError as error:
        log.error("bad --health-listen", error=str(error))
        return 1
    try:
        kube = k8s.connect(kubeconfig=kubeconfig, context=context)
    except k8s.ApiError as error:
        log.error("cannot load cluster access", error=str(error))
        return 1
    try:
        agent = Agent(AgentSettings(node=node), socket_path, kube, log=log, node_report=True)
    except OSError as error:
        log.error("cannot serve the socket", socket=socket_path, error=str(error))
        return 1
    try:
        health = HealthServer(listen, agent.routes) if listen else None
    except OSError as error:
        log.error("cannot serve the health endpoint", listen=health_listen, error=str(error))
        agent.stop()
        return 1
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.start()
    if health:
        health.start()
        log.info("health endpoint", listen="%s:%d" % health.address)
    threading.Thread(target=_report_ready, args=(agent, log, stopping), daemon=True).start()
    stopping.wait()
    if health:
        health.stop()
    agent.stop()
    return 0


def _report_ready(agent: Agent, log: Log, stopping: threading.Event) -> None:
    while not stopping.is_set():
        if agent.wait_ready(5.0):
            log.info("cache synced; ready")
            return
        log.warning("cache not synced yet", problems=agent.cache.problems())
