"""The real control plane the tests run on: its launcher, its build module, and what it showed
where it disagreed with the project's API test server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.cluster import build
from tests.cluster.api import APIError
from tests.conftest import EXAMPLES, REPO
from tests.k8s_binaries import helm4

UPSTREAM_CRDS = REPO.parent / "shared" / "upstream" / "crds"


def test_the_build_module_pins_every_staging_module_to_the_release():
    go_mod = """module k8s.io/kubernetes
require (
\tk8s.io/api v0.0.0
)
replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/other/thing => github.com/fork/thing v1.0.0
)
"""
    assert build.staging_replacements(go_mod, "v1.37.2") == [
        ("k8s.io/api", "v0.37.2"), ("k8s.io/client-go", "v0.37.2")]
    with pytest.raises(build.BuildError, match="no staging replacements"):
        build.staging_replacements("module k8s.io/kubernetes\n", "v1.37.2")


def test_a_missing_go_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SPIDERPOOL_TOOLS_CACHE", str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "tests.cluster.build"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PATH": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "tests.cluster.build: go not found on PATH: the real control plane is built from Go modules; "
        "install Go 1.26+"]


def test_upstream_crds_register_on_the_real_server_except_calicos_unique_items(real_cluster):
    """The disagreement that made the test server refuse `uniqueItems: true` too."""
    for path in sorted(UPSTREAM_CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or real_cluster.get("customresourcedefinitions.apiextensions.k8s.io",
                                           doc["metadata"]["name"]):
                continue
            if path.name == "crd.projectcalico.org_ippools.yaml":
                with pytest.raises(APIError, match=r"allowedUses\]\.uniqueItems: Forbidden"):
                    real_cluster.create(doc)
            else:
                real_cluster.create(doc)


def test_a_pod_bound_to_a_node_stays_terminating_until_the_kubelet_confirms(real_cluster):
    """The disagreement behind the tests' `delete_pod` (grace period 0): the test server deletes
    such a pod at once, the real one waits for the kubelet."""
    real_cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                         "spec": {"nodeName": "somewhere", "containers": [{"name": "c", "image": "pause"}]}})
    real_cluster.delete("pods", "p", "default")
    assert real_cluster.get("pods", "p", "default")["metadata"]["deletionTimestamp"]


def test_the_launcher_serves_kubectl_and_spiderpool_then_leaves_nothing_behind(tmp_path):
    if build.cached() is None:
        pytest.skip("the control plane binaries are not built (python -m tests.cluster.build)")
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "tests.cluster", "--kubeconfig", str(kubeconfig)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first == str(kubeconfig.resolve()), proc.stderr.read() if proc.poll() is not None else first
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        kubectl = str(helm4().kubectl)
        out = subprocess.run([kubectl, "get", "namespaces", "-o", "name"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert "namespace/kube-system" in out.stdout.split(), out.stderr
        for args in (["install-crds"], ["apply", str(EXAMPLES / "cross-zone-pools")]):
            run = subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stdout + run.stderr
        pools = subprocess.run([kubectl, "get", "sp", "-o", "name"], env=env, capture_output=True, text=True,
                               timeout=60)
        assert pools.stdout.split() == ["spiderippool.spiderpool.spidernet.io/test-ippool-6",
                                        "spiderippool.spiderpool.spidernet.io/test-ippool-7"], pools.stderr
        workdirs = _children_workdirs(proc.pid)
        assert workdirs, "no control plane process found"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    deadline = time.monotonic() + 10
    while _children_workdirs(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _children_workdirs(proc.pid)
    assert not any(Path(d).exists() for d in workdirs)


def _children_workdirs(pid: int) -> set[str]:
    """The temp dirs of etcd / kube-apiserver processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found.add(os.readlink(entry / "cwd"))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_a_port_taken_between_pick_and_bind_starts_etcd_again_on_another(monkeypatch):
    """_free_port can only pick a port that is free now; another process may bind it before etcd
    does ("address already in use"): the launcher starts again on new ports instead of failing."""
    import socket

    from tests.cluster import controlplane

    if build.cached() is None:
        pytest.skip("the control plane binaries are not built (python -m tests.cluster.build)")
    pick, held = controlplane._free_port, []

    def first_one_taken() -> int:
        port = pick()
        if not held:  # the first pick is etcd's client port: someone else binds it first
            squatter = socket.socket()
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            held.append(squatter)
        return port

    monkeypatch.setattr(controlplane, "_free_port", first_one_taken)
    plane = controlplane.ControlPlane(controllers=False).start()
    try:
        taken = held[0].getsockname()[1]
        assert plane.etcd_url != f"http://127.0.0.1:{taken}"
        assert plane._readyz()
    finally:
        plane.stop()
        held[0].close()
