"""pytest fixtures for the real control plane; conftest files import what they need:

    from tests.cluster.fixtures import real_cluster  # noqa: F401

`real_control_plane`      etcd + kube-apiserver for the whole session, started on first use
`real_control_plane_with_controllers`
                          another one that also runs kube-controller-manager and kube-scheduler
                          (Deployments make ReplicaSets and Pods, pods get bound, owners cascade);
                          separate, because its garbage collector deletes the owner-less fixtures
                          the other tests create directly
`real_cluster`            a `RealCluster` on the first for one test; everything the test
                          created is wiped afterwards (CRDs stay installed)
`real_cluster_with_controllers`  the same on the second
`kube_server`             what a cluster-side test talks to: `real_cluster`, or `tests/kubeapi`'s
                          server for a test marked `@pytest.mark.testserver` (it injects faults or
                          compacts watch history, which only the test server can do)

Without Go and without cached binaries the tests that need them skip, saying why — except
under CI (`CI=true`), where a missing control plane is a failure, never a skip.
"""

from __future__ import annotations

import os
import sys

import pytest

from . import build
from .api import RealCluster
from .controlplane import ControlPlane, ControlPlaneError


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"real control plane unavailable under CI: {reason}")
    pytest.skip(f"real control plane unavailable: {reason}")


def _progress(message: str) -> None:
    """The first build takes minutes: say so on the terminal, past pytest's capture."""
    print(f"[tests.cluster] {message}", file=sys.__stderr__, flush=True)


def _control_plane(*, controllers: bool):
    try:
        binaries = build.cached() or build.ensure(progress=_progress)
    except build.BuildError as exc:
        _unavailable(str(exc))
    cp = ControlPlane(controllers=controllers, binaries=binaries)
    try:
        cp.start()
    except ControlPlaneError as exc:
        _unavailable(str(exc))
    return cp


@pytest.fixture(scope="session")
def real_control_plane():
    cp = _control_plane(controllers=False)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def real_control_plane_with_controllers():
    cp = _control_plane(controllers=True)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture
def real_cluster(real_control_plane):
    cluster = RealCluster(real_control_plane)
    try:
        yield cluster
    finally:
        cluster.wipe()


@pytest.fixture
def real_cluster_with_controllers(real_control_plane_with_controllers):
    cluster = RealCluster(real_control_plane_with_controllers)
    try:
        yield cluster
    finally:
        cluster.wipe()


@pytest.fixture
def kube_server(request):
    if request.node.get_closest_marker("testserver"):
        return request.getfixturevalue("kubeapi")
    return request.getfixturevalue("real_cluster")
