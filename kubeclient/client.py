"""The project's only door to the `kubernetes` client library (and the urllib3 under it).

Why it exists: both adapters (`reconciler/kube.py`, `agent/kube.py`) need an
`ApiClient` for a cluster and need the library's exceptions turned into
`kubeclient.errors` at once; neither imports the library itself. Connecting looks
for a kubeconfig (explicit, $KUBECONFIG, ~/.kube/config) and otherwise uses the
in-cluster service account; each client gets a fresh Configuration, never the
library's process-wide default.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from .errors import ApiError, Unreachable, from_status


def api_client(*, kubeconfig: str | None = None, context: str | None = None, pool_size: int | None = None,
               persist_config: bool = True) -> Any:
    """A `kubernetes.client.ApiClient`; ApiError(reason="Config") when no cluster access can be loaded.

    `persist_config`: write refreshed credentials (OIDC, exec plugins) back to the kubeconfig, as kubectl does.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        configuration = type.__call__(client.Configuration)  # a fresh one, not a copy of the global default
        path = kubeconfig or os.environ.get("KUBECONFIG")
        if path and not any(os.path.isfile(p) for p in path.split(os.pathsep) if p):
            raise ApiError(f"the kubeconfig file {path} does not exist (--kubeconfig, else $KUBECONFIG)",
                           reason="Config")
        in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        if not path and not context and not in_cluster and not os.path.exists(os.path.expanduser("~/.kube/config")):
            raise ApiError("no cluster to talk to: no kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config) "
                           "and not running inside a cluster", reason="Config")
        if path or context or os.path.exists(os.path.expanduser("~/.kube/config")):
            config.load_kube_config(config_file=path, context=context, client_configuration=configuration,
                                    persist_config=persist_config)
        else:
            config.load_incluster_config(client_configuration=configuration)
        if pool_size is not None:
            configuration.connection_pool_maxsize = pool_size
        return client.ApiClient(configuration)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise ApiError(f"cannot load cluster access: {exc}", reason="Config") from None


def translate(exc: BaseException, what: str) -> ApiError:
    """The library's (or the network's) exception as an ApiError; anything else is raised again."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ApiException):  # DynamicApiError is one too
        if not exc.status:  # the client's own failures (TLS, a bad answer) come as status 0
            return Unreachable(f"{what}: cannot reach the API server: {exc.reason or exc}")
        return from_status(exc.status, exc.body, what, fallback=str(exc.reason or ""))
    if isinstance(exc, (Urllib3Error, OSError)):  # ConnectionError and TimeoutError are OSErrors
        cause = network_cause(exc)
        return Unreachable(f"{what}: cannot reach the API server: {cause}",
                           refused=isinstance(_root(exc), ConnectionRefusedError) or "refused" in cause)
    raise exc


def _root(exc: BaseException) -> BaseException:
    """The innermost of urllib3's wrappers (MaxRetryError -> NewConnectionError -> OSError)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if isinstance(inner, BaseException):
            exc = inner
            continue
        if isinstance(exc.__cause__ or exc.__context__, OSError):
            exc = exc.__cause__ or exc.__context__
            continue
        break
    return exc


def network_cause(exc: BaseException) -> str:
    """What went wrong on the wire, in a few words ("connection refused", "timed out (read)", ...),
    not urllib3's nest of reprs."""
    from urllib3.exceptions import ProtocolError, ReadTimeoutError, ConnectTimeoutError

    root = _root(exc)
    text = str(exc)
    if isinstance(root, ConnectionRefusedError) or "Connection refused" in text:
        return "connection refused"
    if isinstance(root, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)) or "timed out" in text.lower():
        return "timed out" + (" (no answer within the request timeout)" if "read" in text.lower() else " (connecting)")
    if isinstance(root, ConnectionResetError) or "reset" in text.lower():
        return "connection reset"
    if isinstance(root, ProtocolError) or "aborted" in text.lower() or "closed" in text.lower():
        return "connection closed by the server"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    detail = str(root) or type(root).__name__
    return detail[:200]


def stream_lines(response: Any) -> Iterator[str]:
    """The lines of a streamed (watch) answer, as the library splits them."""
    from kubernetes.watch.watch import iter_resp_lines

    return iter_resp_lines(response)


def dynamic_client(api: Any, *, cache_file: str) -> Any:
    """The library's discovery-backed DynamicClient over `api`, its cache in `cache_file`."""
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(api, cache_file=cache_file)


def is_unknown_kind(exc: BaseException) -> bool:
    """Whether discovery said it does not serve the kind asked for."""
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    return isinstance(exc, ResourceNotFoundError)
