"""pytest fixtures for the test API server; conftest files import what they need:

    from tests.kubeapi.fixtures import kubeapi, kube_client  # noqa: F401

`kubeapi`      a started HTTP server (function scope) with `.kubeconfig` written to tmp_path
`kubeapi_tls`  the same over HTTPS with a bearer token
`kube_client`  a `kubernetes.client.ApiClient` for `kubeapi`, closed afterwards

Servers stop in the fixtures' finalizers, whatever the test did.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pytest

from .server import KubeAPIServer


@contextlib.contextmanager
def serving(kubeconfig: Path) -> Iterator[KubeAPIServer]:
    """A started test server with its kubeconfig written to `kubeconfig`, stopped afterwards."""
    server = KubeAPIServer().start()
    try:
        server.write_kubeconfig(kubeconfig)
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeapi(tmp_path):
    with serving(tmp_path / "kubeconfig") as server:
        yield server


@pytest.fixture
def kubeapi_tls(tmp_path):
    server = KubeAPIServer(tls=True, token=KubeAPIServer.new_token()).start()
    try:
        server.write_kubeconfig(tmp_path / "kubeconfig-tls")
        yield server
    finally:
        server.stop()


def api_client_for(server: KubeAPIServer):
    """A `kubernetes.client.ApiClient` configured from the server's kubeconfig."""
    from kubernetes import config

    return config.new_client_from_config(config_file=str(server.kubeconfig))


@pytest.fixture
def kube_client(kubeapi):
    client = api_client_for(kubeapi)
    try:
        yield client
    finally:
        client.close()
