"""The test API server with our CRDs and Calico's IPPool CRDs (both API groups), for the status sync."""

from __future__ import annotations


import pytest

from agent import kube as k8s
from reconciler.kube import connect as reconciler_connect
from reconciler.sync import install_crds
from tests.conftest import calico_crds, ensure_crd


@pytest.fixture
def cluster(kube_server):
    install_crds(reconciler_connect(kubeconfig=str(kube_server.kubeconfig)))
    for crd in calico_crds():
        ensure_crd(kube_server, crd)
    kube_server.stats.reset()
    return kube_server


@pytest.fixture
def kube(cluster):
    client = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    yield client
    client.close()
