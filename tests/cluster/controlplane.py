"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and, on request,
kube-controller-manager and kube-scheduler, each a child process of this one.

Why it exists: the project's own API server (`tests/kubeapi`) can only be as right as our
reading of Kubernetes. This one is Kubernetes. Everything lives in one temp dir (certificates,
kubeconfigs, etcd data, logs); `stop()` ends the processes and removes the dir, and every child
is started with a parent-death signal, so a killed test run leaves no process behind.

Admission differs from a kubeadm cluster in two places, both because no kubelet runs here:
`ServiceAccount` (would wait for token volumes nobody mounts) and `TaintNodesByCondition`
(would taint every Node not-ready until a kubelet reports) are off, and the node-lifecycle
controller is off; Node objects the test bed registers are marked Ready by the bed itself.
The root-CA publisher is off too: its `kube-root-ca.crt` ConfigMap in every namespace is for
pods' token volumes, which nobody mounts here, and would only pad every list a test makes.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import build, pki

START_TIMEOUT = 90.0
SERVICE_CIDR = "10.96.0.0/16"   # a configuration value only: nothing here routes to it
ISSUER = "https://kubernetes.default.svc.cluster.local"


class ControlPlaneError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ControlPlane:
    """start() → a serving control plane with `.kubeconfig`; stop() → nothing left behind."""

    def __init__(self, *, controllers: bool = False, workdir: Path | None = None,
                 binaries: build.ControlPlaneBinaries | None = None):
        self.controllers = controllers
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="spiderpool-k8s-"))
        self.binaries = binaries
        self.processes: dict[str, subprocess.Popen] = {}
        self.kubeconfig = self.dir / "admin.kubeconfig"
        self.url = ""
        self.started_in = 0.0
        self._ssl: ssl.SSLContext | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> "ControlPlane":
        began = time.monotonic()
        try:
            self.binaries = self.binaries or build.ensure(progress=lambda m: None)
            self.pki = pki.generate(self.dir / "pki")
            self._on_free_ports(self._start_etcd, "etcd")
            self._on_free_ports(self._start_apiserver, "kube-apiserver")
            if self.controllers:
                self._start_controllers()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "ControlPlane":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- processes -----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=self.dir, preexec_fn=_die_with_parent)
        log.close()
        self.processes[name] = proc
        return proc

    def _wait(self, name: str, probe, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            proc = self.processes[name]
            if proc.poll() is not None:
                tail = "\n".join(self.log(name).strip().splitlines()[-15:])
                raise ControlPlaneError(f"{name} exited {proc.returncode} before {what}:\n{tail}")
            if probe():
                return
            time.sleep(0.1)
        raise ControlPlaneError(f"{name}: no {what} within {START_TIMEOUT:.0f} s (log: {self.dir / (name + '.log')})")

    def _on_free_ports(self, start, name: str, attempts: int = 3) -> None:
        """Run `start` (which picks ports with _free_port); if another process took a port between
        the pick and the bind ("address already in use"), start again on new ports."""
        for attempt in range(attempts):
            try:
                return start()
            except ControlPlaneError as error:
                if "address already in use" not in str(error) or attempt == attempts - 1:
                    raise
                self.processes.pop(name, None)  # it exited: nothing to stop
                if name == "etcd":
                    shutil.rmtree(self.dir / "etcd", ignore_errors=True)  # a data dir bound to the old peer URL

    def _start_etcd(self) -> None:
        client, peer = _free_port(), _free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._spawn("etcd", [
            str(self.binaries.etcd), "--name", "default", "--data-dir", str(self.dir / "etcd"),
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ])
        self._wait("etcd", lambda: _http_ok(self.etcd_url + "/health"), "a healthy /health")

    def _start_apiserver(self) -> None:
        port = _free_port()
        self.url = f"https://127.0.0.1:{port}"
        p = self.pki
        self._spawn("kube-apiserver", [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", "--advertise-address=127.0.0.1",
            f"--tls-cert-file={p.serving_cert}", f"--tls-private-key-file={p.serving_key}",
            f"--client-ca-file={p.ca_cert}",
            f"--service-account-key-file={p.sa_pub}", f"--service-account-signing-key-file={p.sa_key}",
            f"--service-account-issuer={ISSUER}", f"--api-audiences={ISSUER}",
            "--authorization-mode=RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--endpoint-reconciler-type=none", "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
            f"--audit-policy-file={self._audit_policy()}", f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json", "--audit-log-mode=blocking",
            f"--cert-dir={self.dir / 'apiserver-certs'}", "--profiling=false", "--v=1",
        ])
        for user in pki.CLIENTS:
            self._write_kubeconfig(user)
        self._wait("kube-apiserver", lambda: self._readyz(), "a ready /readyz")

    def _start_controllers(self) -> None:
        def common(user: str) -> list[str]:
            kc = str(self.kubeconfig_of(user))
            return [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                    f"--authorization-kubeconfig={kc}", "--leader-elect=false", "--bind-address=127.0.0.1"]

        cm_port, sched_port = _free_port(), _free_port()
        self._spawn("kube-controller-manager", [
            str(self.binaries.kube_controller_manager), *common(pki.CONTROLLER_MANAGER),
            f"--secure-port={cm_port}", f"--cert-dir={self.dir / 'cm-certs'}",
            f"--service-account-private-key-file={self.pki.sa_key}", f"--root-ca-file={self.pki.ca_cert}",
            "--use-service-account-credentials=true",
            "--controllers=*,-nodelifecycle,-nodeipam,-root-ca-cert-publisher", "--v=1",
        ])
        self._spawn("kube-scheduler", [
            str(self.binaries.kube_scheduler), *common(pki.SCHEDULER), f"--secure-port={sched_port}",
            f"--cert-dir={self.dir / 'sched-certs'}", "--v=1",
        ])
        self._wait("kube-controller-manager", lambda: _https_ok(f"https://127.0.0.1:{cm_port}/healthz"),
                   "a healthy /healthz")
        self._wait("kube-scheduler", lambda: _https_ok(f"https://127.0.0.1:{sched_port}/healthz"),
                   "a healthy /healthz")

    # -- access --------------------------------------------------------------------------------

    def kubeconfig_of(self, user: str) -> Path:
        return self.kubeconfig if user == pki.ADMIN else self.dir / f"{user.replace(':', '_')}.kubeconfig"

    def _write_kubeconfig(self, user: str) -> None:
        import base64

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        cert, key = self.pki.clients[user]
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "real",
            "clusters": [{"name": "real", "cluster": {
                "server": self.url, "certificate-authority-data": b64(self.pki.ca_cert)}}],
            "users": [{"name": user, "user": {
                "client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
            "contexts": [{"name": "real", "context": {"cluster": "real", "user": user,
                                                      "namespace": "default"}}],
        }
        path = self.kubeconfig_of(user)
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)

    def _audit_policy(self) -> Path:
        """Audit what the product (the admin kubeconfig, or a service account outside kube-system)
        and the tests' helpers send, nothing else: request accounting on the real server
        (`tests/cluster/audit.py`) and the RBAC proof (`tests/chart/rbac.py`) read this log."""
        self.audit_log = self.dir / "audit.log"
        policy = self.dir / "audit-policy.json"
        policy.write_text(json.dumps({
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata", "users": [pki.ADMIN, pki.TEST_SETUP]},
                      # service accounts a test runs the product as (the chart's RBAC proof,
                      # tests/chart/test_rbac.py); kube-controller-manager's own stay unlogged
                      {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
                      {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
                      {"level": "None"}],
        }))
        return policy

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        config = json.loads(self.kubeconfig.read_text())
        config["contexts"][0]["context"]["namespace"] = namespace
        Path(path).write_text(json.dumps(config, indent=2))
        return Path(path)

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
            cert, key = self.pki.clients[pki.TEST_SETUP]
            ctx.load_cert_chain(str(cert), str(key))
            self._ssl = ctx
        return self._ssl

    def _readyz(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", context=self.ssl_context(), timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _https_ok(url: str) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def request(cp: ControlPlane, method: str, path: str, body: Any = None,
            content_type: str = "application/json") -> tuple[int, Any]:
    """One API request as the tests' own helper (`test-setup`) → (status, decoded JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(cp.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, context=cp.ssl_context(), timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, {"message": raw.decode(errors="replace")}
