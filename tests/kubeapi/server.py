"""`KubeAPIServer`: the test API server as an object tests start, inspect and stop.

    server = KubeAPIServer(tls=True).start()
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    ...                                   # kubectl / the kubernetes client against it
    server.stats.writes, server.faults.configure(...), server.compact()
    server.stop()

It wires the store, write pipelines, REST layer and HTTP transport together, creates the
namespaces every cluster has (default, kube-system, kube-public, kube-node-lease) and the
ConfigMaps kube-apiserver keeps in kube-system, serves
on 127.0.0.1 from a daemon thread, and on `stop()` ends watches, cuts open connections and
joins the thread -- bounded, so a test cannot hang on teardown.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from . import tls as tls_module
from .api import API, Settings
from .faults import Faults
from .registry import NAMESPACE_TYPE, ResourceType
from .stats import Stats
from .store import Store, as_version
from .handlers import APIHTTPServer
from .writes import WriteOptions, Writer

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
BOOTSTRAP_CONFIGMAPS = {
    "extension-apiserver-authentication": {"client-ca-file": ""},
    "kube-apiserver-legacy-service-account-token-tracking": {"since": "2024-12-11"},
}


class KubeAPIServer:
    def __init__(self, *, tls: bool = False, token: str | None = None, port: int = 0,
                 history_limit: int = 1000, bookmark_interval: float = 1.0,
                 max_watch_seconds: float = 1800.0, seed: int | None = None):
        self.tls = tls
        self.token = token
        self._requested_port = port
        self.store = Store(history_limit=history_limit)
        self.writer = Writer(self.store, seed=seed)
        self.stats = Stats()
        self.faults = Faults()
        self._stopped = threading.Event()
        settings = Settings(server_address=lambda: f"127.0.0.1:{self.port}", bookmark_interval=bookmark_interval,
                            max_watch_seconds=max_watch_seconds, stopped=self._stopped.is_set)
        self.api = API(self.store, self.writer, self.stats, self.faults, settings)
        self.kubeconfig: Path | None = None
        self._httpd: APIHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for name in DEFAULT_NAMESPACES:
            self.writer.create(NAMESPACE_TYPE, "", {"metadata": {"name": name}}, WriteOptions(manager="kube-apiserver"))
        # what kube-apiserver itself keeps in kube-system (no root CA publisher runs, as in tests/cluster)
        for name, data in BOOTSTRAP_CONFIGMAPS.items():
            self.create({"apiVersion": "v1", "kind": "ConfigMap", "data": dict(data),
                         "metadata": {"name": name, "namespace": "kube-system"}}, manager="kube-apiserver")

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "KubeAPIServer":
        if self._httpd is not None:
            return self
        context = tls_module.server_context() if self.tls else None
        self._httpd = APIHTTPServer(("127.0.0.1", self._requested_port), self.api, token=self.token, tls=context)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"kubeapi:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._httpd is None:
            return
        self._stopped.set()
        self.store.close()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._httpd = None

    def __enter__(self) -> "KubeAPIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig for this server (CA file next to it for TLS); remembered in `.kubeconfig`."""
        self.kubeconfig = tls_module.write_kubeconfig(Path(path), url=self.url, token=self.token,
                                                      namespace=namespace)
        return self.kubeconfig

    # -- test helpers (no HTTP, not counted in stats) -------------------------------------------

    def compact(self) -> None:
        """Forget the watch history: watching from any earlier resourceVersion gets 410."""
        self.store.compact()

    def resource(self, resource: str) -> ResourceType:
        """`configmaps`, `deployments.apps`, `spiderippools.spiderpool.spidernet.io` -> its type."""
        plural, _, group = resource.partition(".")
        with self.store.lock:
            versions = self.store.registry.group_versions().get(group, [])
            for version in versions:
                rt = self.store.registry.lookup(group, version, plural)
                if rt is not None:
                    return rt
        raise KeyError(f"resource {resource!r} is not served")

    def get(self, resource: str, name: str, namespace: str = "") -> dict | None:
        rt = self.resource(resource)
        with self.store.lock:
            record = self.store.record(rt, namespace, name)
            return None if record is None else as_version(record.obj, rt)

    def list(self, resource: str, namespace: str = "") -> list[dict]:
        items, _ = self.store.list(self.resource(resource), namespace, labels=[], fields=[])
        return items

    def create(self, obj: dict, *, manager: str = "test-setup") -> dict:
        """Create an object directly (e.g. a CRD or fixtures), bypassing HTTP."""
        group, _, version = obj["apiVersion"].rpartition("/")
        with self.store.lock:
            rt = next((t for t in self.store.registry.in_group_version(group, version) if t.kind == obj["kind"]), None)
        if rt is None:
            raise KeyError(f"{obj['apiVersion']} {obj['kind']} is not served")
        namespace = obj.get("metadata", {}).get("namespace", "default") if rt.namespaced else ""
        return self.writer.create(rt, namespace, obj, WriteOptions(manager=manager)).obj

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(24)
