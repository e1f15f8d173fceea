"""Argo CD's own components against the real control plane, on loopback: Redis (Debian's
redis-server), argocd-cmp-server with examples/argocd/plugin.yaml (PATH holds this venv's
`spiderpool`), argocd-repo-server (plaintext gRPC, plugin sockets), argocd-application-controller
(--kubeconfig, namespace argocd), plus what an install puts in the cluster: Argo CD's CRDs from its
module (manifests/crds), the namespace, argocd-cm carrying our health checks, argocd-secret,
argocd-rbac-cm and the `default` AppProject. No argocd-server, no UI, no dex.

    with ArgoStack(cluster, workdir) as argo:
        argo.application(name, repo_url, path, plugin_parameters)
        argo.app(name)   # the Application as the controller last wrote it
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import yaml

from tests.argocd import build
from tests.argocd.luahealth import ARGOCD_CM
from tests.conftest import EXAMPLES, stop_process

NAMESPACE = "argocd"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.args[0]} did not listen on {port}:\n{log.read_text()[-3000:]}")


def argocd_crds() -> list[dict]:
    """Application, AppProject (and ApplicationSet) CRDs from the Argo CD module zip the build fetched."""
    zips = list(Path(os.environ.get("GOMODCACHE", Path.home() / "go" / "pkg" / "mod")).glob(
        f"cache/download/github.com/argoproj/argo-cd/v3/@v/{build.ARGOCD_VERSION}.zip"))
    if not zips:
        raise RuntimeError("Argo CD's module zip is not in the Go module cache: run `python -m tests.argocd.build`")
    prefix = f"github.com/argoproj/argo-cd/v3@{build.ARGOCD_VERSION}/manifests/crds/"
    with zipfile.ZipFile(zips[0]) as archive:
        return [yaml.safe_load(archive.read(prefix + name)) for name in ("application-crd.yaml", "appproject-crd.yaml")]


class ArgoStack:
    def __init__(self, cluster, workdir: Path):
        self.cluster, self.workdir = cluster, workdir
        self.procs: list[tuple[subprocess.Popen, object]] = []
        self.bin = build.argocd_dir()
        self.sockets = Path(tempfile.mkdtemp(prefix="argo-", dir="/tmp"))  # unix socket paths stay short

    # -- processes -------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "w")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        self.procs.append((proc, log))
        return proc, log_path

    def _env(self) -> dict[str, str]:
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        return {"PATH": f"{Path(sys.executable).parent}:{self.bin}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
                "ARGOCD_PLUGINSOCKFILEPATH": str(self.sockets), "ARGOCD_GPG_ENABLED": "false",
                "ARGOCD_CMP_WORKDIR": str(self.workdir / "cmp"), "TMPDIR": str(self.workdir / "tmp")}

    def start(self) -> "ArgoStack":
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        (self.workdir / "cmp").mkdir(exist_ok=True)
        (self.workdir / "tmp").mkdir(exist_ok=True)
        env = self._env()
        self.redis_port = _free_port()
        redis, log = self._spawn("redis", [redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                           "--save", "", "--appendonly", "no"], env)
        _wait_port(self.redis_port, redis, log)

        config = self.workdir / "cmp-config"
        config.mkdir(exist_ok=True)
        shutil.copy(EXAMPLES / "argocd" / "plugin.yaml", config / "plugin.yaml")
        cmp, log = self._spawn("cmp-server", [str(self.bin / "argocd-cmp-server"), "--config-dir-path", str(config),
                                              "--logformat", "text"], env)
        deadline = time.monotonic() + 30
        while not (self.sockets / "spiderpool.sock").exists():
            if cmp.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"argocd-cmp-server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

        self._install()
        self.repo_port = _free_port()
        repo, log = self._spawn("repo-server", [
            str(self.bin / "argocd-repo-server"), "--port", str(self.repo_port), "--disable-tls", "--client-ca-path=",
            "--redis", f"127.0.0.1:{self.redis_port}", "--metrics-port", str(_free_port()), "--logformat", "text",
            "--revision-cache-expiration", "1s"], env)  # what a branch points at: asked again, not cached 3 min
        _wait_port(self.repo_port, repo, log)
        self._spawn("application-controller", [
            str(self.bin / "argocd-application-controller"), "--kubeconfig", str(self.kubeconfig),
            "--namespace", NAMESPACE, "--repo-server", f"127.0.0.1:{self.repo_port}", "--repo-server-plaintext",
            "--redis", f"127.0.0.1:{self.redis_port}", "--metrics-port", str(_free_port()),
            "--app-resync", "10", "--app-resync-jitter", "0", "--self-heal-timeout-seconds", "2",
            "--persist-resource-health",  # resources[].health in the Application (off by default since 3.0)
            "--logformat", "text"], {**env, "ARGOCD_SYNC_WAVE_DELAY": "1"})
        return self

    def stop(self) -> None:
        for proc, log in reversed(self.procs):
            stop_process(proc)
            log.close()
        shutil.rmtree(self.sockets, ignore_errors=True)

    def __enter__(self) -> "ArgoStack":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def logs(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text() if path.exists() else ""

    # -- the install -------------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.write_kubeconfig(self.workdir / "kubeconfig", namespace=NAMESPACE)

    def _install(self) -> None:
        from tests.conftest import ensure_crd

        for crd in argocd_crds():
            ensure_crd(self.cluster, crd)
        if self.cluster.get("namespaces", NAMESPACE) is None:
            self.cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        labels = {"app.kubernetes.io/part-of": "argocd"}
        argocd_cm = yaml.safe_load(ARGOCD_CM.read_text())
        argocd_cm["metadata"]["namespace"] = NAMESPACE
        for obj in (argocd_cm,
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                        "name": "argocd-rbac-cm", "namespace": NAMESPACE, "labels": labels}, "data": {}},
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                        "name": "argocd-cmd-params-cm", "namespace": NAMESPACE, "labels": labels}, "data": {}},
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {
                        "name": "argocd-secret", "namespace": NAMESPACE, "labels": labels},
                     "stringData": {"server.secretkey": "spiderpool-gitops-tests"}},
                    self._cluster_secret(labels),
                    {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {
                        "name": "default", "namespace": NAMESPACE},
                     "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                              "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}}):
            self.cluster.create(obj)

    @property
    def server(self) -> str:
        """The destination: this control plane, registered as an Argo CD cluster (there is no in-cluster)."""
        return yaml.safe_load(self.cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

    def _cluster_secret(self, labels: dict) -> dict:
        config = yaml.safe_load(self.cluster.kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        tls = {"caData": cluster["certificate-authority-data"], "certData": user["client-certificate-data"],
               "keyData": user["client-key-data"]}
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "cluster-loopback", "namespace": NAMESPACE,
                             "labels": {**labels, "argocd.argoproj.io/secret-type": "cluster"}},
                "stringData": {"name": "loopback", "server": cluster["server"],
                               "config": json.dumps({"tlsClientConfig": tls})}}

    # -- applications ------------------------------------------------------------------------------

    def application(self, name: str, *, repo_url: str, path: str, parameters: list[dict] | None = None,
                    prune: bool = True) -> dict:
        return self.cluster.create({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"project": "default",
                     "source": {"repoURL": repo_url, "targetRevision": "main", "path": path,
                                "plugin": {"name": "spiderpool", "parameters": parameters or []}},
                     "destination": {"server": self.server},
                     "syncPolicy": {"automated": {"prune": prune, "selfHeal": True}}}})

    def refresh(self, name: str) -> None:
        """What Argo CD's git webhook does on a push: annotate the Application for a refresh."""
        self.cluster.patch("applications.argoproj.io", name,
                           {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}, NAMESPACE)

    def app(self, name: str) -> dict:
        return self.cluster.get("applications.argoproj.io", name, NAMESPACE) or {}
