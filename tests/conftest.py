"""Shared fixtures: repo paths and a way to write small specs into a temp dir."""

from __future__ import annotations

import contextlib
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.cluster.fixtures import (  # noqa: F401  (fixtures for every suite)
    kube_server,
    real_cluster,
    real_cluster_with_controllers,
    real_control_plane,
    real_control_plane_with_controllers,
)
from tests.kubeapi.fixtures import kubeapi  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
NOT_SPECS = ("invalid", "argocd", "flux")  # examples/ folders that are not one runnable spec


def spec_examples() -> list[Path]:
    """The example folders that each hold one valid NetworkSpec (a user story)."""
    return sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and p.name not in NOT_SPECS)

HEADER = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: {name}
"""


@pytest.fixture
def unreachable_kubeconfig(tmp_path) -> Path:
    """A kubeconfig naming a loopback port nobody listens on (connections are refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "unreachable-kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    return kubeconfig


@pytest.fixture
def write_spec(tmp_path):
    """write_spec(body, name='demo', file='spec.yaml') -> path of a file holding a NetworkSpec.

    `body` is the YAML under the header (starting with `spec:`), dedented.
    """

    def write(body: str, *, name: str = "demo", file: str = "spec.yaml", raw: bool = False) -> Path:
        path = tmp_path / file
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(body)
        path.write_text(text if raw else HEADER.format(name=name) + text)
        return path

    return write


def calico_crds() -> list[dict]:
    """Calico's IPPool CRDs (both API groups) from ../shared/upstream, standing in for Calico.

    The copy of `crd.projectcalico.org_ippools.yaml` there sets `uniqueItems: true`, which
    kube-apiserver refuses ("the runtime complexity becomes quadratic"); it is dropped here.
    """
    import yaml

    crds = []
    for name in ("projectcalico.org_ippools.yaml", "crd.projectcalico.org_ippools.yaml"):
        path = REPO.parent / "shared" / "upstream" / "crds" / name
        if path.exists():
            crds.append(_without_unique_items(yaml.safe_load(path.read_text())))
    return crds


def _without_unique_items(node):
    if isinstance(node, dict):
        return {k: _without_unique_items(v) for k, v in node.items() if k != "uniqueItems"}
    if isinstance(node, list):
        return [_without_unique_items(v) for v in node]
    return node


def ensure_crd(server, crd: dict) -> None:
    """Create a CRD unless the server has it (the real server keeps CRDs across tests), then
    wait until it is Established."""
    import time

    resource = "customresourcedefinitions.apiextensions.k8s.io"
    name = crd["metadata"]["name"]
    if server.get(resource, name) is None:
        server.create(crd)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conditions = ((server.get(resource, name) or {}).get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        time.sleep(0.05)
    raise TimeoutError(f"CRD {name} not Established")


def with_crds(server, *, calico: bool = False):
    """`server` (real or test) with our CRDs Established — and Calico's IPPool CRDs, standing in
    for Calico, with `calico` — and its request stats reset: what the cluster-side suites start from."""
    from reconciler.kube import connect
    from reconciler.sync import install_crds

    install_crds(connect(kubeconfig=str(server.kubeconfig)))
    for crd in calico_crds() if calico else ():
        ensure_crd(server, crd)
    server.stats.reset()
    return server


@contextlib.contextmanager
def running_ipgc(cluster, **options):
    """The IP GC controller of `spiderpool controller` (agent.ipgc.IpGc, grace 30 s unless given)
    on `cluster`, its cache synced; run passes with `.run_pass()`."""
    from agent import kube as k8s
    from agent.ipgc import IpGc

    collector = IpGc(k8s.connect(kubeconfig=str(cluster.kubeconfig)), **{"grace": 30, **options})
    collector.cache.start()
    assert collector.cache.wait_synced(10)
    try:
        yield collector
    finally:
        collector.cache.stop()


def eventually(check, *, timeout: float = 60.0, what: str = "the expected state", every: float = 0.05,
               context=lambda: ""):
    """Poll `check` until it returns something truthy, and return that: for outcomes reached
    asynchronously (controllers, agents, the real API server's own). Bounded: an AssertionError
    naming `what` (and `context()`) after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}\n{context()}".rstrip())
        time.sleep(every)


def stop_process(proc: subprocess.Popen, *, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL when it has not exited within `grace` seconds; reaped either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
