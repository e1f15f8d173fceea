"""The node agent's answer to each CNI command: ADD, DEL, CHECK, GC, STATUS.

Each command is a short recipe over the cache (read), the engine (decide), the
committer (pools) and the endpoint writer. Every answer is a `Reply`: the exact
stdout (a CNI result, or a CNI error in the config's cniVersion) and exit code
the plugin prints. Errors name their cause and keep the spec's codes:

- the engine's AllocationError: its `cni_code`, its `cni_message` (upstream's
  prefix `spiderpool IP allocation error` kept);
- bad input (no pod in CNI_ARGS, a malformed request): 7 (or the protocol's own);
- the API away, retries exhausted, the cache not synced: 11, try again later;
- STATUS: 50 when the cache is not synced or a watch is down, or when every pool
  the network would use is exhausted;
- CHECK: 100 (ours) when the pod's records do not match prevResult.

A failed ADD leaves no state behind: pool changes it had committed are released
again (`release(force=True)` for this pod UID and interface).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from agent import kube as k8s
from cni import protocol
from cni.allocation import (SYSTEM_NAMESPACE, AllocationError, Decision, DeadPodError, ExhaustedError, NoPoolError,
                            PodInfo, Request, Snapshot, allocate, release)
from cni.allocation.autopool import has_subnet
from cni.allocation.errors import USED_OUT
from cni.protocol import Code, CniError, CniRequest, IpamResult, IpConfig, Reply, Route

from .autopoolwait import AutoPoolWaiter
from .cache import Cache
from .commit import CommitError, Committer
from .endpoint import Attachment, EndpointWriter, attachments
from .logs import Log
from .metrics import AgentMetrics
from .owners import TopControllers

CHECK_MISMATCH = Code.PLUGIN_ERROR  # the pod's records do not match prevResult
POD_WAIT_SECONDS = 2.0  # how long ADD waits for the watch to bring a new pod before asking the API
ENDPOINT_ATTEMPTS = 5


@dataclass(frozen=True)
class AgentSettings:
    node: str
    families: frozenset[int] = frozenset({4, 6})
    cluster_network: str | None = None  # MULTUS_CLUSTER_NETWORK
    system_namespace: str = SYSTEM_NAMESPACE
    api_budget: float = 10.0  # seconds one request (a write, a read) is retried while the API is away
    auto_pool_wait: float = 50.0  # seconds ADD waits for an app's auto pool (upstream: 25 x 2 s)


class CniService:
    def __init__(self, settings: AgentSettings, *, kube: k8s.Kube, cache: Cache, committer: Committer,
                 metrics: AgentMetrics, log: Log | None = None):
        self.settings, self.kube, self.cache, self.committer, self.metrics = settings, kube, cache, committer, metrics
        self.endpoints = EndpointWriter(kube, cache, metrics)
        self.autopools = AutoPoolWaiter(kube, cache, wait_seconds=settings.auto_pool_wait,
                                        api_budget=settings.api_budget, log=Log("autopools", node=settings.node))
        self.log = log or Log("cni", node=settings.node)
        self.owners = TopControllers(kube, budget=settings.api_budget, log=self.log)
        self._commands: dict[str, Callable[[CniRequest], Reply]] = {
            "ADD": self.add, "DEL": self.delete, "CHECK": self.check, "GC": self.gc, "STATUS": self.status}

    def handle(self, body: Any) -> Reply:
        """The plugin's request body -> the reply; never raises."""
        version = _version_of(body)
        try:
            request = protocol.request_from_body(body)
        except CniError as error:
            self.metrics.requests.inc(command=str(body.get("command") if isinstance(body, dict) else "?"),
                                      code=str(error.code))
            return Reply.of_error(error, version)
        try:
            reply = self._commands[request.command](request)
        except CniError as error:
            reply = Reply.of_error(error, request.cni_version)
        except Exception as error:  # noqa: BLE001 - a bug must still reach the runtime as a CNI error
            self.log.error("internal error", command=request.command, error=repr(error), exc_info=True)
            reply = Reply.of_error(CniError(Code.INTERNAL, f"spiderpool agent internal error: {type(error).__name__}: {error}"),
                                   request.cni_version)
        code = "0" if reply.exit_code == 0 else str(_code_of(reply))
        self.metrics.requests.inc(command=request.command, code=code)
        return reply

    # -- ADD ------------------------------------------------------------------------------------

    def add(self, req: CniRequest) -> Reply:
        started = time.monotonic()
        log = self.log.bind(command="ADD", container=req.container_id[:12], nic=req.if_name,
                            pod=f"{req.pod_namespace}/{req.pod_name}")
        try:
            pod, auto = self._pod(req), {}
            if has_subnet(pod.annotations):  # the top controller read once: the app its pool belongs to
                app, obj = self.owners.app(pod)
                names, text, labels = self.autopools.resolve(pod, req.if_name, app, obj)
                auto = {"auto_pools": names, "auto_app": text, "auto_labels": labels}
                pod = replace(pod, owner_kind=app.kind, owner_name=app.name) if app else pod
            else:
                pod = self.owners.resolve(pod)
            request = Request.from_ipam_config(
                pod, req.ipam, nic=req.if_name, families=self.settings.families,
                requested_ips=req.requested_ips, cluster_network=self.settings.cluster_network,
                system_namespace=self.settings.system_namespace, **auto)
            decision = self._allocate(request, req, log)
        except (AllocationError, CommitError, CniError, k8s.ApiError) as error:
            reason = _reason(error)
            self.metrics.allocations.inc(pool="none", result="failure")
            self.metrics.allocation_failures.inc(reason=reason)
            self.metrics.allocation_seconds.observe(time.monotonic() - started, result="failure")
            log.warning("allocation failed", reason=reason, error=str(error))
            raise _cni_error(error) from None
        for address in decision.result.addresses:
            self.metrics.allocations.inc(pool=address.pool, result="success")
        took = time.monotonic() - started
        self.metrics.allocation_seconds.observe(took, result="success")
        log.info("allocated", ips=[a.cidr for a in decision.result.addresses],
                 pools=[a.pool for a in decision.result.addresses], took_ms=round(took * 1000, 1),
                 **({"notes": list(decision.notes)} if decision.notes else {}))
        result = IpamResult(ips=[IpConfig(a.cidr, a.gateway) for a in decision.result.addresses],
                            routes=[Route(r.dst, r.gw) for r in decision.result.routes])
        return Reply.of_result(result, req.cni_version)

    def _allocate(self, request: Request, req: CniRequest, log: Log) -> Decision:
        pod = request.pod
        attach = Attachment(req.if_name, req.container_id, req.network_name)
        added = False

        def committed(decision: Decision) -> None:
            nonlocal added
            added = added or bool(decision.pool_changes)

        try:
            return self._commit_then_endpoint(
                lambda snap: allocate(request, snap), purpose="allocation", namespace=pod.namespace, name=pod.name,
                write=lambda decision: self.endpoints.after_add(decision.endpoint, namespace=pod.namespace,
                                                                name=pod.name, attach=attach),
                log=log, committed=committed)
        except CommitError as error:
            if added or error.partial:
                self._roll_back(pod, req.if_name, log)
            raise
        except k8s.ApiError:
            if added:
                self._roll_back(pod, req.if_name, log)
            raise

    def _roll_back(self, pod: PodInfo, nic: str, log: Log) -> None:
        """Give back what a failed ADD committed; on failure the records stay for the retried ADD (HELD)."""
        try:
            self.committer.commit(lambda snap: release(snap, namespace=pod.namespace, name=pod.name, uid=pod.uid,
                                                       nic=nic, force=True), purpose="release")
            log.info("rolled back a failed allocation")
        except (AllocationError, CommitError, k8s.ApiError) as error:
            log.error("rollback failed; a retried ADD gets the same IP back", error=str(error))

    def pod_of(self, body: dict) -> PodInfo:
        """The pod of a plugin request body's CNI_ARGS (the coordinator's request has the same shape)."""
        return self._pod(CniRequest("ADD", "", "", "", body.get("cniArgs") or {}, "", {}, ""))

    def _pod(self, req: CniRequest) -> PodInfo:
        """The pod from the cache; a new pod the watch has not brought yet is waited for, then read.
        Its owner is the pod's own controller; ADD names the top one (`owners`)."""
        namespace, name, uid = req.pod_namespace, req.pod_name, req.pod_uid or None
        if not namespace or not name:
            raise CniError(Code.INVALID_NETWORK_CONFIG,
                           "CNI_ARGS has no K8S_POD_NAMESPACE/K8S_POD_NAME: the spiderpool IPAM serves Kubernetes "
                           "pods only")
        if not self.cache.synced:
            raise CniError(Code.TRY_AGAIN_LATER, "spiderpool agent: the cache is not synced with the API yet")

        pod = self.cache.wait_view(k8s.PODS, (namespace, name), lambda p: uid is None or p.uid == uid,
                                   POD_WAIT_SECONDS)
        if pod is None:
            raw = k8s.retrying(lambda: self.kube.get(k8s.PODS, name, namespace),
                               budget=self.settings.api_budget)
            if raw is None:
                raise CniError(Code.TRY_AGAIN_LATER, f"pod {namespace}/{name} not found")
            pod = PodInfo.from_object(raw)
        if uid is not None and pod.uid != uid:
            raise CniError(Code.TRY_AGAIN_LATER, f"pod {namespace}/{name} has UID {pod.uid}, the runtime asked "
                                                 f"for {uid} (re-created?)")
        if pod.node and pod.node != self.settings.node:
            self.log.warning("pod is scheduled to another node", pod=pod.key, pod_node=pod.node)
        return pod

    def release_nic(self, pod: PodInfo, nic: str) -> None:
        """The coordinator found the pod's IP on `nic` in use elsewhere: DEL's release, forced, for this UID and NIC."""
        log = self.log.bind(command="ADD", nic=nic, pod=pod.key)
        outcome = self._commit_then_endpoint(
            lambda snap: release(snap, namespace=pod.namespace, name=pod.name, uid=pod.uid, nic=nic, force=True),
            purpose="release", namespace=pod.namespace, name=pod.name,
            write=lambda outcome: self.endpoints.after_release(outcome.endpoint), log=log)
        freed = [r.ip for change in outcome.pool_changes for r in change.remove]
        for change in outcome.pool_changes:
            self.metrics.releases.inc(len(change.remove), pool=change.pool, result="success")
        log.warning("released a conflicting IP", ips=freed)

    # -- DEL ------------------------------------------------------------------------------------

    def delete(self, req: CniRequest) -> Reply:
        started = time.monotonic()
        namespace, name, uid = req.pod_namespace, req.pod_name, req.pod_uid or None
        log = self.log.bind(command="DEL", container=req.container_id[:12], nic=req.if_name, pod=f"{namespace}/{name}")
        if not namespace or not name:
            log.info("no pod in CNI_ARGS; nothing to release")
            return Reply.ok()
        try:
            outcome = self._release(namespace, name, uid, req.if_name, log)
        except (AllocationError, CommitError, CniError, k8s.ApiError) as error:
            reason = _reason(error)
            self.metrics.releases.inc(pool="none", result="failure")
            self.metrics.release_failures.inc(reason=reason)
            self.metrics.release_seconds.observe(time.monotonic() - started, result="failure")
            log.warning("release failed", reason=reason, error=str(error))
            raise _cni_error(error) from None
        freed = [r for change in outcome.pool_changes for r in change.remove]
        for change in outcome.pool_changes:
            self.metrics.releases.inc(len(change.remove), pool=change.pool, result="success")
        took = time.monotonic() - started
        self.metrics.release_seconds.observe(took, result="success")
        log.info("released" if freed else "nothing to release", ips=[r.ip for r in freed],
                 took_ms=round(took * 1000, 1), **({"kept": outcome.kept} if outcome.kept else {}))
        return Reply.ok()

    def _release(self, namespace: str, name: str, uid: str | None, nic: str | None, log: Log):
        """DEL semantics: the pod read fresh from the API (a stale 'alive' would keep the IP), then release."""
        raw = k8s.retrying(lambda: self.kube.get(k8s.PODS, name, namespace), budget=self.settings.api_budget)
        pod = PodInfo.from_object(raw) if raw is not None else None

        def decide(snap: Snapshot):
            pods = dict(snap.pods)
            if pod is None:
                pods.pop((namespace, name), None)
            else:
                pods[(namespace, name)] = pod
            return release(replace(snap, pods=pods), namespace=namespace, name=name, uid=uid, nic=nic)

        return self._commit_then_endpoint(decide, purpose="release", namespace=namespace, name=name,
                                          write=lambda outcome: self.endpoints.after_release(outcome.endpoint),
                                          log=log)

    def _commit_then_endpoint(self, decide: Callable[[Snapshot], Any], *, purpose: str, namespace: str, name: str,
                              write: Callable[[Any], Any], log: Log,
                              committed: Callable[[Any], None] = lambda outcome: None) -> Any:
        """Commit the pools (`decide`), then `write` the pod's SpiderEndpoint; when the endpoint changed
        under us (409, gone, or created meanwhile), read it again and decide again -> the outcome."""
        for _ in range(ENDPOINT_ATTEMPTS):
            outcome = self.committer.commit(decide, purpose=purpose)
            committed(outcome)
            try:
                k8s.retrying(lambda: write(outcome), budget=self.settings.api_budget)
                return outcome
            except (k8s.Conflict, k8s.AlreadyExists, k8s.NotFound) as error:
                log.debug("endpoint changed under us; deciding again", error=str(error))
                self.endpoints.refresh(namespace, name)
        raise CommitError(f"the SpiderEndpoint {namespace}/{name} kept changing; try again")

    # -- CHECK ----------------------------------------------------------------------------------

    def check(self, req: CniRequest) -> Reply:
        pod = self._pod(req)
        previous = req.prev_result
        snap = self.cache.snapshot()
        held = {_canonical(r.ip) for p in snap.pools.values() for r in p.by_uid.get(pod.uid, ())
                if snap.record_nic(r) == req.if_name}
        listed = {_canonical(ip.address.partition("/")[0]) for ip in previous.ips
                  if ip.interface in (None, req.if_name)}
        missing, extra = sorted(listed - held), sorted(held - listed)
        if missing or extra:
            parts = ([f"prevResult has {', '.join(missing)}, which no pool records for pod {pod.key} (UID {pod.uid}) "
                      f"on {req.if_name}"] if missing else []) + (
                [f"pod {pod.key} holds {', '.join(extra)} on {req.if_name}, which prevResult lacks"] if extra else [])
            raise CniError(CHECK_MISMATCH, "spiderpool CHECK: " + "; ".join(parts))
        return Reply.ok()

    # -- GC -------------------------------------------------------------------------------------

    def gc(self, req: CniRequest) -> Reply:
        """Release this node's attachments of this network that the runtime no longer lists (DEL semantics)."""
        if not self.cache.synced:
            raise CniError(Code.TRY_AGAIN_LATER, "spiderpool agent: the cache is not synced with the API yet")
        valid = {(a.container_id, a.if_name) for a in req.valid_attachments or ()}
        log = self.log.bind(command="GC", network=req.network_name)
        stale = []
        for key in self.cache.keys(k8s.ENDPOINTS):
            endpoint, raw = self.cache.view(k8s.ENDPOINTS, key), self.cache.raw(k8s.ENDPOINTS, key)
            if endpoint is None or endpoint.node != self.settings.node:
                continue
            for attach in attachments(raw).values():
                if attach.network == req.network_name and (attach.container_id, attach.nic) not in valid:
                    stale.append((key, endpoint.uid, attach))
        failures = []
        for (namespace, name), uid, attach in stale:
            try:
                outcome = self._release(namespace, name, uid, attach.nic, log)
                if outcome.kept:
                    k8s.retrying(lambda: self.endpoints.forget_attachment(namespace, name, attach.nic),
                                 budget=self.settings.api_budget)
                log.info("collected a stale attachment", pod=f"{namespace}/{name}", container=attach.container_id[:12],
                         nic=attach.nic, ips=[r.ip for c in outcome.pool_changes for r in c.remove],
                         **({"kept": outcome.kept} if outcome.kept else {}))
            except (AllocationError, CommitError, k8s.ApiError) as error:
                failures.append(f"{namespace}/{name} {attach.nic}: {error}")
        if failures:
            raise CniError(Code.TRY_AGAIN_LATER, f"spiderpool GC could not release {len(failures)} attachment(s)",
                           "; ".join(failures))
        return Reply.ok()

    # -- STATUS ---------------------------------------------------------------------------------

    def status(self, req: CniRequest) -> Reply:
        problems = self.cache.problems()
        if problems:
            raise CniError(Code.NOT_AVAILABLE, "spiderpool agent is not ready: " + "; ".join(problems))
        snap = self.cache.snapshot()
        for version in sorted(self.settings.families):
            pools = _status_pools(snap, req.ipam, version)
            if pools and not any(_free(snap, p) for p in pools):
                names = " ".join(p.name for p in pools)
                raise CniError(Code.NOT_AVAILABLE, f"{USED_OUT}: every IPv{version} pool of this network "
                                                   f"([{names}]) is exhausted or disabled")
        return Reply.ok()


def _status_pools(snap: Snapshot, ipam: dict, version: int) -> list:
    names = ipam.get(f"default_ipv{version}_ippool") or ()
    family = snap.pools_by_family[version]
    if names:
        return [p for p in family if any(fnmatch.fnmatchcase(p.name, n) for n in names)]
    return [p for p in family if p.default]


def _free(snap: Snapshot, pool) -> int:
    if pool.disable or pool.terminating or pool.broken:
        return 0
    return (pool.usable - snap.reserved.family(pool.version) - pool.allocated).size


def _canonical(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip


def _reason(error: BaseException) -> str:
    """Upstream's failure classes (§9), plus the inputs we refuse."""
    if isinstance(error, ExhaustedError):
        return "ip_used_out"
    if isinstance(error, NoPoolError):
        return "no_available_pool"
    if isinstance(error, DeadPodError):
        return "dead_pod"
    if isinstance(error, AllocationError):
        return error.category.replace(" ", "_")
    if isinstance(error, CommitError):
        return "retries_exhausted"
    if isinstance(error, k8s.ApiError):
        return "api_unreachable" if k8s.transient(error) else "api_error"
    if isinstance(error, CniError):
        return "try_again_later" if error.code == Code.TRY_AGAIN_LATER else "wrong_input"
    return "internal"


def _cni_error(error: BaseException) -> CniError:
    if isinstance(error, CniError):
        return error
    if isinstance(error, AllocationError):
        code = error.cni_code if 0 < error.cni_code < 1000 else Code.INTERNAL
        return CniError(code, error.cni_message)
    if isinstance(error, CommitError):
        return CniError(Code.TRY_AGAIN_LATER, f"spiderpool IP allocation error: {error}")
    if isinstance(error, k8s.ApiError):
        return CniError(Code.TRY_AGAIN_LATER, f"spiderpool agent cannot reach the Kubernetes API: {error}")
    return CniError(Code.INTERNAL, f"spiderpool agent internal error: {error}")


def _version_of(body: Any) -> str | None:
    config = body.get("config") if isinstance(body, dict) else None
    version = config.get("cniVersion") if isinstance(config, dict) else None
    return version if isinstance(version, str) else None


def _code_of(reply: Reply) -> int:
    try:
        return int(json.loads(reply.stdout).get("code", 0))
    except (ValueError, AttributeError):
        return 0
