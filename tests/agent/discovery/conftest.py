"""The test API server with our CRDs and Calico's IPPool CRDs (both API groups), for the status sync."""

from __future__ import annotations


import pytest

from agent import kube as k8s
from tests.conftest import with_crds


@pytest.fixture
def cluster(kube_server):
    return with_crds(kube_server, calico=True)


@pytest.fixture
def kube(cluster):
    client = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    yield client
    client.close()
