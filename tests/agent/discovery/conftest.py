"""The test API server with our CRDs and Calico's IPPool CRDs (both API groups), for the status sync."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent import kube as k8s
from reconciler.kube import connect as reconciler_connect
from reconciler.sync import install_crds
from tests.kubeapi.fixtures import kubeapi  # noqa: F401  (fixture)

CALICO_CRDS = Path(__file__).resolve().parents[3].parent / "shared" / "upstream" / "crds"


@pytest.fixture
def cluster(kubeapi):  # noqa: F811
    install_crds(reconciler_connect(kubeconfig=str(kubeapi.kubeconfig)))
    for name in ("projectcalico.org_ippools.yaml", "crd.projectcalico.org_ippools.yaml"):
        kubeapi.create(yaml.safe_load((CALICO_CRDS / name).read_text()))
    kubeapi.stats.reset()
    return kubeapi


@pytest.fixture
def kube(cluster):
    client = k8s.connect(kubeconfig=str(cluster.kubeconfig))
    yield client
    client.close()
