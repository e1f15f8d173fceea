"""The reconciler's only door to a Kubernetes API server (through `kubeclient`).

Everything else in `reconciler/` works on plain dicts; this module turns them
into requests — get, list by label, server-side apply with one field manager,
merge patches, deletes, dry-run — through the client's DynamicClient, so any
kind the server's discovery knows (CRDs included) is reachable. Connecting,
retries and errors are `kubeclient`'s: transient failures (429, 5xx, refused or
timed-out connections) and 409s of requests without a precondition are retried
with jittered exponential backoff inside one time budget per run (the backoff of
all requests together, see `start_run`); a guarded write's 409 is a `Conflict`
for the caller to decide on, an ApplyConflict is never retried. What is left is
raised as `ClusterError` (`kubeclient.errors.ApiError`), naming the object and
quoting the server. The client's exceptions never leave `kubeclient`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from kubeclient import client as _client
from kubeclient.errors import ApiError, ApplyConflict, Conflict, NotFound, Unreachable  # noqa: F401 - the names this package uses
from kubeclient.retry import RetryPolicy, RunBudget, retrying

from .plan import FIELD_MANAGER  # one manager name for writes and diffs

ClusterError = ApiError  # a request the API server refused, or could not be reached for, after retries


@dataclass
class Cluster:
    """A connection to one API server, with request counting for `--dry-run` reports and tests."""

    api: Any  # kubernetes.client.ApiClient
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    writes: int = 0
    _reached: bool = False  # whether any request of this process got an answer (see _call)
    _run_budget: RunBudget = field(default_factory=RunBudget)  # this run's shared backoff (see start_run)
    _dynamic: Any = None
    _cache_dir: Any = None
    _lock: Any = field(default_factory=threading.Lock)
    _resources: dict[tuple[str, str], Any] = field(default_factory=dict)

    # -- discovery -----------------------------------------------------------------

    @property
    def dynamic(self):
        if self._dynamic is None:
            # A private discovery cache: the client's default is a shared file per host
            # that outlives the process, and goes stale when CRDs come and go.
            self._cache_dir = tempfile.TemporaryDirectory(prefix="spiderpool-discovery-")
            cache = os.path.join(self._cache_dir.name, "discovery.json")
            self._dynamic = self._call(lambda: _client.dynamic_client(self.api, cache_file=cache), "discover the API")
        return self._dynamic

    def resource(self, api_version: str, kind: str):
        key = (api_version, kind)
        with self._lock:
            if key not in self._resources:
                self._resources[key] = self._discover(api_version, kind)
        return self._resources[key]

    def _discover(self, api_version: str, kind: str):
        for attempt in (1, 2):
            try:  # discovery may go to the server: its network failures are retried and translated too
                return self._call(lambda: self.dynamic.resources.get(api_version=api_version, kind=kind),
                                  f"discover {kind} ({api_version})")
            except Exception as exc:  # noqa: BLE001 - only "not served" is handled here
                if not _client.is_unknown_kind(exc):
                    raise
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

    def update_status(self, obj: dict[str, Any], status: dict[str, Any], *,
                      resource_version: str | None = None) -> dict[str, Any]:
        """A merge patch of the status; with `resource_version` guarded by it (Conflict, never retried)."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        self._count(False)
        return self._call(lambda: resource.status.patch(
            body=body, name=meta["name"], namespace=meta.get("namespace"),
            content_type="application/merge-patch+json", field_manager=FIELD_MANAGER,
            _request_timeout=self._timeout, serializer=_as_dict), f"{_ref(obj)} status",
            retry_conflicts=resource_version is None)

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
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if dry_run:  # a DELETE with a body takes its options from the body alone: ?dryRun=All would be ignored
            body["dryRun"] = ["All"]
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
        self._run_budget.reset()

    def _call(self, request: Callable[[], Any], what: str, *, retry_conflicts: bool = True) -> Any:
        """`request()`, retried on transient failures while the run's retry budget lasts: the budget is
        the total backoff of all requests of a run (`start_run`), so N objects failing alike cost one
        budget, not N (of them `concurrency` at a time). A 409 is retried only when `retry_conflicts`
        (the request carried no precondition); else only the caller can decide again."""
        def attempt() -> Any:
            try:
                answer = request()
            except Exception as exc:  # noqa: BLE001 - translated, never leaked
                error = _client.translate(exc, what)
                if error.status is not None:
                    self._reached = True  # an HTTP answer, if not the one hoped for
                if isinstance(error, Unreachable) and error.refused and not self._reached:
                    # Refused before this process ever reached the server: nothing listens at that
                    # address (a wrong kubeconfig, a cluster that is not up), so say so now rather
                    # than after a whole retry budget of silence.
                    raise ClusterError(f"{error}; is {self.server} the right API server, and is it "
                                       "running? (--kubeconfig, --context)", reason="Refused") from None
                raise error from None
            self._reached = True
            return answer

        return retrying(attempt, self.retry, unguarded=retry_conflicts, shared=self._run_budget)


def _as_dict(_client: Any, data: Any) -> Any:
    """Response bodies as plain dicts: the client's ResourceInstance wrapping costs ~0.3 s per 1,000 objects."""
    return data


def _ref(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    name = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    return f"{obj['kind']} {name}"


def connect(*, kubeconfig: str | None = None, context: str | None = None,
            retry: RetryPolicy | None = None) -> Cluster:
    """A Cluster for the cluster `kubeclient.client.api_client` finds; ClusterError(reason="Config") if none."""
    return Cluster(_client.api_client(kubeconfig=kubeconfig, context=context), retry=retry or RetryPolicy())
