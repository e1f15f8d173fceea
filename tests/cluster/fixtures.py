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

import contextlib
import os
import sys
from typing import Iterator

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


@contextlib.contextmanager
def control_plane(*, controllers: bool) -> Iterator[ControlPlane]:
    """A started control plane, stopped afterwards; skips (a failure under CI) when unavailable."""
    try:
        binaries = build.ensure(progress=_progress)  # builds only what is missing
    except build.BuildError as exc:
        _unavailable(str(exc))
    cp = ControlPlane(controllers=controllers, binaries=binaries)
    try:
        cp.start()
    except ControlPlaneError as exc:
        _unavailable(str(exc))
    try:
        yield cp
    finally:
        cp.stop()


@contextlib.contextmanager
def wiped(cp: ControlPlane, *, crds: bool = False) -> Iterator[RealCluster]:
    """A `RealCluster` on `cp`, wiped afterwards (and before, with `crds`: every CRD goes too)."""
    cluster = RealCluster(cp)
    if crds:
        cluster.wipe(crds=True)
    try:
        yield cluster
    finally:
        cluster.wipe(crds=crds)


@pytest.fixture(scope="session")
def real_control_plane():
    with control_plane(controllers=False) as cp:
        yield cp


@pytest.fixture(scope="session")
def real_control_plane_with_controllers():
    with control_plane(controllers=True) as cp:
        yield cp


@pytest.fixture
def real_cluster(real_control_plane):
    with wiped(real_control_plane) as cluster:
        yield cluster


@pytest.fixture
def real_cluster_with_controllers(real_control_plane_with_controllers):
    with wiped(real_control_plane_with_controllers) as cluster:
        yield cluster


@pytest.fixture
def kube_server(request):
    if request.node.get_closest_marker("testserver"):
        return request.getfixturevalue("kubeapi")
    return request.getfixturevalue("real_cluster")
