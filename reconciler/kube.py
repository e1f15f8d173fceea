"""The reconciler's only door to a Kubernetes API server (the official `kubernetes` client).

Everything else in `reconciler/` works on plain dicts; this module turns them
into requests — get, list by label, server-side apply with one field manager,
merge patches, deletes, dry-run — through the client's DynamicClient, so any
kind the server's discovery knows (CRDs included) is reachable. Transient
failures (409 on a stale write, 429, 5xx, refused or timed-out connections) are
retried with jittered exponential backoff inside one time budget per run (the
backoff of all requests together, see `start_run`); what is left is raised as
`ClusterError`, naming the object and quoting the server.
The client's exceptions never leave this module.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .errors import ReconcilerError
from .plan import FIELD_MANAGER  # one manager name for writes and diffs

RETRYABLE_STATUS = {409, 429, 500, 502, 503, 504}


class ClusterError(ReconcilerError):
    """A request the API server refused, or could not be reached for, after retries."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(ClusterError):
    pass


class ApplyConflict(ClusterError):
    """Server-side apply found fields owned by another manager."""


class Conflict(ClusterError):
    """409 on a stale resourceVersion or a failed precondition: the object changed since it was read."""


@dataclass
class RetryPolicy:
    budget_seconds: float = 30.0
    request_timeout: float = 20.0  # seconds for one request to connect and answer
    first_delay: float = 0.1
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Cluster:
    """A connection to one API server, with request counting for `--dry-run` reports and tests."""

    api: Any  # kubernetes.client.ApiClient
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    writes: int = 0
    _retry_spent: float = 0.0  # backoff taken from this run's retry budget (see start_run)
    _dynamic: Any = None
    _cache_dir: Any = None
    _lock: Any = field(default_factory=threading.Lock)
    _budget_lock: Any = field(default_factory=threading.Lock)  # apart: _lock is held around discovery calls
    _resources: dict[tuple[str, str], Any] = field(default_factory=dict)

    # -- discovery -----------------------------------------------------------------

    @property
    def dynamic(self):
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            # A private discovery cache: the client's default is a shared file per host
            # that outlives the process, and goes stale when CRDs come and go.
            self._cache_dir = tempfile.TemporaryDirectory(prefix="spiderpool-discovery-")
            cache = os.path.join(self._cache_dir.name, "discovery.json")
            self._dynamic = self._call(lambda: DynamicClient(self.api, cache_file=cache), "discover the API")
        return self._dynamic

    def resource(self, api_version: str, kind: str):
        key = (api_version, kind)
        with self._lock:
            if key not in self._resources:
                self._resources[key] = self._discover(api_version, kind)
        return self._resources[key]

    def _discover(self, api_version: str, kind: str):
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        for attempt in (1, 2):
            try:
                return self.dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                if attempt == 1:
                    self.dynamic.resources.invalidate_cache()  # maybe installed since discovery ran
        raise ClusterError(f"the cluster does not serve {kind} ({api_version}); "
                           "install its CRD first (spiderpool install-crds)", reason="NoKind")

    def forget_discovery(self) -> None:
        """Drop cached discovery (after installing CRDs, say)."""
        with self._lock:
            if self._dynamic is not None:
                self._dynamic.resources.invalidate_cache()
            self._resources.clear()

    @property
    def server(self) -> str:
        return self.api.configuration.host

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether discovery lists the kind; other failures (unreachable, 5xx) are raised."""
        try:
            self.resource(api_version, kind)
            return True
        except ClusterError as exc:
            if exc.reason == "NoKind":
                return False
            raise

    @property
    def _timeout(self) -> float:
        return self.retry.request_timeout

    # -- reads ---------------------------------------------------------------------

    def get(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        try:
            return self._call(lambda: resource.get(name=meta["name"], namespace=meta.get("namespace"),
                                                   _request_timeout=self._timeout, serializer=_as_dict), _ref(obj))
        except NotFound:
            return None

    def list(self, api_version: str, kind: str, *, label_selector: str | None = None) -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        result = self._call(lambda: resource.get(label_selector=label_selector, _request_timeout=self._timeout,
                                                 serializer=_as_dict), f"list {kind}")
        items = result.get("items") or []
        for item in items:  # list items come without apiVersion/kind
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    # -- writes --------------------------------------------------------------------

    def apply(self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False,
              manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply as `manager`. With metadata.resourceVersion in `obj` it is a precondition:
        Conflict (never retried here) when the object changed since."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        self._count(dry_run)
        return self._call(lambda: resource.server_side_apply(
            body=obj, name=meta["name"], namespace=meta.get("namespace"), field_manager=manager,
            force_conflicts=force, dry_run="All" if dry_run else None, _request_timeout=self._timeout,
            serializer=_as_dict),
            _ref(obj), retry_conflicts=not meta.get("resourceVersion"))

    def merge_patch(self, obj: dict[str, Any], patch: dict[str, Any], *, dry_run: bool = False,
                    manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """A JSON merge patch; with metadata.resourceVersion in `patch` it is a precondition (Conflict)."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        self._count(dry_run)
        return self._call(lambda: resource.patch(
            body=patch, name=meta["name"], namespace=meta.get("namespace"), content_type="application/merge-patch+json",
            field_manager=manager, dry_run="All" if dry_run else None, _request_timeout=self._timeout,
            serializer=_as_dict),
            _ref(obj), retry_conflicts=not (patch.get("metadata") or {}).get("resourceVersion"))

    def update_status(self, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        self._count(False)
        return self._call(lambda: resource.status.patch(
            body={"status": status}, name=meta["name"], namespace=meta.get("namespace"),
            content_type="application/merge-patch+json", field_manager=FIELD_MANAGER,
            _request_timeout=self._timeout, serializer=_as_dict), f"{_ref(obj)} status")

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole object, guarded by its metadata.resourceVersion: Conflict when it changed since."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        self._count(False)
        return self._call(lambda: resource.replace(
            body=obj, name=meta["name"], namespace=meta.get("namespace"), field_manager=FIELD_MANAGER,
            _request_timeout=self._timeout, serializer=_as_dict), _ref(obj), retry_conflicts=False)

    def delete(self, obj: dict[str, Any], *, dry_run: bool = False,
               resource_version: str | None = None) -> dict[str, Any] | None:
        """Delete; with `resource_version`, only that version (Conflict otherwise, never retried).
        -> the object when it stays (finalizers: it is Terminating), None when it is gone."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        self._count(dry_run)
        body = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        try:
            answer = self._call(lambda: resource.delete(name=meta["name"], namespace=meta.get("namespace"), body=body,
                                                        dry_run="All" if dry_run else None,
                                                        _request_timeout=self._timeout, serializer=_as_dict),
                                _ref(obj), retry_conflicts=resource_version is None)
        except NotFound:
            return None  # already gone: the outcome we wanted
        if isinstance(answer, dict) and (answer.get("metadata") or {}).get("deletionTimestamp"):
            return answer
        return None

    def _count(self, dry_run: bool) -> None:
        if not dry_run:
            with self._lock:
                self.writes += 1

    # -- retries and error translation ---------------------------------------------

    def start_run(self) -> None:
        """A new run (one apply): its retries get a fresh `retry.budget_seconds`, shared by all requests."""
        with self._budget_lock:
            self._retry_spent = 0.0

    def _spend(self, seconds: float) -> bool:
        """Take `seconds` of backoff from the run's shared retry budget; False when it would overdraw."""
        with self._budget_lock:
            if self._retry_spent + seconds > self.retry.budget_seconds:
                return False
            self._retry_spent += seconds
            return True

    def _call(self, request: Callable[[], Any], what: str, *, retry_conflicts: bool = True) -> Any:
        """`request()`, retried on transient failures while the run's retry budget lasts: the budget is
        the total backoff of all requests of a run (`start_run`), so N objects failing alike cost one
        budget, not N (of them `concurrency` at a time)."""
        delay = self.retry.first_delay
        while True:
            try:
                return request()
            except Exception as exc:  # noqa: BLE001 - translated below, never leaked
                error = _translate(exc, what)
                if not _retryable(error):
                    raise error from None
                if error.status == 409 and not retry_conflicts:
                    raise error from None  # a failed precondition: only the caller can decide again
                pause = delay * (0.5 + random.random())
                if not self._spend(pause):
                    raise error from None
            self.retry.sleep(pause)
            delay = min(delay * 2, self.retry.max_delay)


def _as_dict(_client: Any, data: Any) -> Any:
    """Response bodies as plain dicts: the client's ResourceInstance wrapping costs ~0.3 s per 1,000 objects."""
    return data


def _retryable(error: ClusterError) -> bool:
    if isinstance(error, (NotFound, ApplyConflict)):
        return False
    return error.status is None and error.reason == "Unreachable" or error.status in RETRYABLE_STATUS


def _translate(exc: Exception, what: str) -> ClusterError:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, (ApiException, DynamicApiError)):
        status = getattr(exc, "status", None)
        body = getattr(exc, "body", None)
        message, reason = _server_message(body, getattr(exc, "reason", ""))
        if status == 404:
            return NotFound(f"{what}: not found", status=404, reason="NotFound")
        if status == 409 and "apply failed" in message.lower():
            return ApplyConflict(f"{what}: {message}", status=409, reason="Conflict")
        if status == 409 and reason != "AlreadyExists":
            return Conflict(f"{what}: the API server answered 409 {reason}: {message}", status=409, reason=reason)
        return ClusterError(f"{what}: the API server answered {status} {reason}: {message}", status=status,
                            reason=reason)
    if isinstance(exc, (Urllib3Error, ConnectionError, TimeoutError, OSError)):
        return ClusterError(f"{what}: cannot reach the API server: {exc}", reason="Unreachable")
    if isinstance(exc, ClusterError):
        return exc
    raise exc


def _server_message(body: Any, fallback: str) -> tuple[str, str]:
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if isinstance(body, str) else {}
    except ValueError:
        return (body or fallback or "").strip(), fallback
    return status.get("message") or fallback, status.get("reason") or fallback


def _ref(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    name = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    return f"{obj['kind']} {name}"


def connect(*, kubeconfig: str | None = None, context: str | None = None,
            retry: RetryPolicy | None = None) -> Cluster:
    """A Cluster from a kubeconfig (explicit, $KUBECONFIG, ~/.kube/config) or in-cluster config."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        path = kubeconfig or os.environ.get("KUBECONFIG")
        if path or os.path.exists(os.path.expanduser("~/.kube/config")) or context:
            api = config.new_client_from_config(config_file=path, context=context)
        else:
            config.load_incluster_config()
            api = client.ApiClient()
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise ClusterError(f"cannot load cluster access: {exc}", reason="Config") from None
    return Cluster(api, retry=retry or RetryPolicy())


def kinds(objects: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for obj in objects:
        seen.setdefault((obj["apiVersion"], obj["kind"]), None)
    return list(seen)
