"""The agent's only door to a Kubernetes API server: fixed paths, watches, guarded writes.

Why it exists: the node agent, the IPAM controllers (IP GC, CIDR discovery) and
`spiderpool ipam` read and write a handful of kinds at known paths, and they must
see the API's answers as values, not as the client's exceptions. `Kube` speaks
plain dicts over an `ApiClient` (no discovery round trips: the paths of the kinds
below are fixed by their API groups), streams watches line by line, and turns
every failure into the one exception tree of `kubeclient.errors` (re-exported
here: ApiError, NotFound, Conflict, AlreadyExists, Expired, Unreachable).

`retrying` sends a request again on transient failures (5xx, 429, no answer)
within a time budget, with the agent's own policy `AGENT_RETRY`: a pod's ADD waits
on it, so it backs off sooner and gives up earlier than a CLI command. Conflicts
are never retried here: the agent's writes are guarded by resourceVersion, and
only the caller knows how to decide again on fresh data.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from kubeclient import client as _client
from kubeclient.errors import (AlreadyExists, ApiError, Conflict, Expired, NotFound, Unreachable,  # noqa: F401
                               from_status, transient)
from kubeclient.retry import RetryPolicy
from kubeclient.retry import retrying as _retrying

T = TypeVar("T")

SPIDERPOOL = "spiderpool.spidernet.io"
SPIDERPOOL_VERSION = "v2beta1"
# The agent's requests: a pod's ADD waits on them (the runtime's own timeout is 2 minutes).
AGENT_RETRY = RetryPolicy(budget_seconds=10.0, request_timeout=10.0, first_delay=0.05, max_delay=1.0)


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, *, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


POOLS = Kind(SPIDERPOOL, SPIDERPOOL_VERSION, "spiderippools", "SpiderIPPool", False)
SUBNETS = Kind(SPIDERPOOL, SPIDERPOOL_VERSION, "spidersubnets", "SpiderSubnet", False)
RESERVED_IPS = Kind(SPIDERPOOL, SPIDERPOOL_VERSION, "spiderreservedips", "SpiderReservedIP", False)
ENDPOINTS = Kind(SPIDERPOOL, SPIDERPOOL_VERSION, "spiderendpoints", "SpiderEndpoint", True)
PODS = Kind("", "v1", "pods", "Pod", True)
NAMESPACES = Kind("", "v1", "namespaces", "Namespace", False)
NODES = Kind("", "v1", "nodes", "Node", False)
STATEFULSETS = Kind("apps", "v1", "statefulsets", "StatefulSet", True)
DEPLOYMENTS = Kind("apps", "v1", "deployments", "Deployment", True)
REPLICASETS = Kind("apps", "v1", "replicasets", "ReplicaSet", True)
DAEMONSETS = Kind("apps", "v1", "daemonsets", "DaemonSet", True)
JOBS = Kind("batch", "v1", "jobs", "Job", True)
CRONJOBS = Kind("batch", "v1", "cronjobs", "CronJob", True)
APP_KINDS = {k.kind: k for k in (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, JOBS, CRONJOBS)}
COORDINATORS = Kind(SPIDERPOOL, SPIDERPOOL_VERSION, "spidercoordinators", "SpiderCoordinator", False)


def retrying(call: Callable[[], T], *, budget: float = AGENT_RETRY.budget_seconds) -> T:
    """`call()` again on transient failures, with jittered exponential backoff, for up to `budget` seconds."""
    return _retrying(call, AGENT_RETRY, budget=budget)


class Kube:
    """Requests as dicts. Thread-safe: the client's connection pool is shared by all threads.

    Watches run on a second client so long-lived streams never starve the hot path of connections.
    """

    def __init__(self, api: Any, watch_api: Any | None = None, *, request_timeout: float = AGENT_RETRY.request_timeout,
                 max_in_flight: int = 8):
        self.api, self.watch_api = api, watch_api or api
        self.request_timeout = request_timeout
        # At most this many requests at once, each on a kept-alive pooled connection: a burst of
        # new connections overflows an API server's accept backlog and waits out SYN retransmits.
        self._slots = threading.BoundedSemaphore(max_in_flight)

    @property
    def server(self) -> str:
        return self.api.configuration.host

    def close(self) -> None:
        for client in {id(self.api): self.api, id(self.watch_api): self.watch_api}.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    # -- plumbing -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, query: list | None = None, body: Any = None, api: Any = None,
              timeout: Any = None, what: str = ""):
        """-> the client's raw response (not read); ApiError when there was no HTTP answer."""
        client = api or self.api
        try:
            request = client.param_serialize(
                method, path, query_params=list(query or ()),
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body, auth_settings=["BearerToken"])
            return client.call_api(*request, _request_timeout=timeout or self.request_timeout)
        except Exception as exc:  # noqa: BLE001 - translated, or raised again when it is not the client's
            raise _client.translate(exc, what or f"{method} {path}") from None

    def _call(self, method: str, path: str, *, what: str, query: list | None = None, body: Any = None) -> Any:
        with self._slots:
            response = self._send(method, path, query=query, body=body, what=what)
            try:
                data = response.read()
            except Exception as exc:  # noqa: BLE001 - a cut connection mid-body
                raise Unreachable(f"{what}: the answer was cut off: {exc}") from None
        if not 200 <= response.status <= 299:
            raise from_status(response.status, data, what)
        return json.loads(data) if data else {}

    # -- reads ----------------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict | None:
        try:
            return self._call("GET", kind.path(namespace=namespace, name=name), what=_ref(kind, name, namespace))
        except NotFound:
            return None

    def list(self, kind: Kind, *, namespace: str | None = None, field_selector: str | None = None,
             label_selector: str | None = None) -> tuple[list[dict], str]:
        """-> (items with apiVersion/kind filled in, the list's resourceVersion)."""
        query = _selectors(field_selector, label_selector)
        body = self._call("GET", kind.path(namespace=namespace), query=query, what=f"list {kind.plural}")
        items = body.get("items") or []
        for item in items:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items, str((body.get("metadata") or {}).get("resourceVersion") or "")

    def watch(self, kind: Kind, *, resource_version: str, field_selector: str | None = None,
              label_selector: str | None = None, timeout_seconds: int = 60,
              stopped: Callable[[], bool] = lambda: False) -> Iterator[tuple[str, dict]]:
        """(type, object) from one watch stream: ADDED/MODIFIED/DELETED/BOOKMARK; Expired on a 410.

        Ends when the server closes the stream (timeoutSeconds) or `stopped()` turns true
        between events; a cut connection raises Unreachable.
        """
        query = _selectors(field_selector, label_selector) + [
            ("watch", "true"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds))]
        what = f"watch {kind.plural}"
        response = self._send("GET", kind.path(), query=query, api=self.watch_api,
                              timeout=(self.request_timeout, timeout_seconds + 30), what=what)
        raw = response.response
        try:
            if not 200 <= response.status <= 299:
                raise from_status(response.status, response.read(), what)
            for line in _client.stream_lines(raw):
                if stopped():
                    return
                if not line:
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise from_status(int(obj.get("code") or 500), json.dumps(obj), what)
                obj.setdefault("apiVersion", kind.api_version)
                obj.setdefault("kind", kind.kind)
                yield event.get("type", ""), obj
        except ApiError:
            raise
        except Exception as exc:  # noqa: BLE001 - urllib3/http.client errors of a cut stream
            raise Unreachable(f"{what}: the stream broke: {type(exc).__name__}: {exc}") from None
        finally:
            raw.close()  # never hand a half-read stream back to the pool
            raw.release_conn()

    def kind_of(self, api_version: str, kind: str) -> Kind | None:
        """Discovery for one kind (a third-party controller's): its plural from the group's resource list."""
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            body = self._call("GET", path, what=f"discovery of {api_version}")
        except NotFound:
            return None
        for resource in body.get("resources") or ():
            if resource.get("kind") == kind and "/" not in str(resource.get("name", "")):
                return Kind(group, version, resource["name"], kind, bool(resource.get("namespaced")))
        return None

    # -- writes ---------------------------------------------------------------------------------

    def create(self, kind: Kind, obj: dict) -> dict:
        meta = obj.get("metadata") or {}
        return self._call("POST", kind.path(namespace=meta.get("namespace")), body=obj,
                          what=f"create {_ref(kind, meta.get('name', ''), meta.get('namespace'))}")

    def replace(self, kind: Kind, obj: dict) -> dict:
        """PUT the whole object; guarded by its metadata.resourceVersion when it carries one."""
        meta = obj["metadata"]
        return self._call("PUT", kind.path(namespace=meta.get("namespace"), name=meta["name"]), body=obj,
                          what=f"update {_ref(kind, meta['name'], meta.get('namespace'))}")

    def replace_status(self, kind: Kind, obj: dict) -> dict:
        meta = obj["metadata"]
        return self._call("PUT", kind.path(namespace=meta.get("namespace"), name=meta["name"], subresource="status"),
                          body=obj, what=f"update {_ref(kind, meta['name'], meta.get('namespace'))} status")

    def delete(self, kind: Kind, name: str, namespace: str | None = None, *, uid: str | None = None,
               resource_version: str | None = None) -> None:
        """Delete, optionally only that incarnation (`uid`) or version; NotFound when already gone."""
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if preconditions:
            body["preconditions"] = preconditions
        self._call("DELETE", kind.path(namespace=namespace, name=name), body=body,
                   what=f"delete {_ref(kind, name, namespace)}")


def _selectors(field_selector: str | None, label_selector: str | None) -> list[tuple[str, str]]:
    query = []
    if field_selector:
        query.append(("fieldSelector", field_selector))
    if label_selector:
        query.append(("labelSelector", label_selector))
    return query


def _ref(kind: Kind, name: str, namespace: str | None) -> str:
    return f"{kind.kind} {namespace}/{name}" if kind.namespaced and namespace else f"{kind.kind} {name}"


def connect(*, kubeconfig: str | None = None, context: str | None = None,
            request_timeout: float = AGENT_RETRY.request_timeout, pool_size: int = 32) -> Kube:
    """A Kube for the cluster `kubeclient.client.api_client` finds; ApiError(reason="Config") when there is none.

    Watches get a client of their own: long-lived streams never starve the hot path of connections.
    """
    return Kube(_client.api_client(kubeconfig=kubeconfig, context=context, pool_size=pool_size, persist_config=False),
                _client.api_client(kubeconfig=kubeconfig, context=context, pool_size=16, persist_config=False),
                request_timeout=request_timeout, max_in_flight=min(pool_size, 8))
