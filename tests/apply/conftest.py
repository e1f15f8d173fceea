"""A test API server with the project's CRDs installed, and helpers to run the CLI against it."""

from __future__ import annotations

import shutil

import pytest

from reconciler.cli import main
from reconciler.kube import RetryPolicy
from tests.conftest import with_crds


@pytest.fixture
def cluster(kube_server):
    """The server (real unless the test is marked `testserver`) with our CRDs and Calico's IPPool
    CRDs (standing in for Calico) Established; stats reset."""
    return with_crds(kube_server, calico=True)


@pytest.fixture
def cli(cluster, capsys, monkeypatch):
    """cli(*args) -> (exit code, stdout, stderr) of `spiderpool` in-process, against `cluster`."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def spec_copy(tmp_path):
    """spec_copy(example) -> a copy of an example directory that a test may edit."""

    def copy(example):
        from tests.conftest import EXAMPLES

        target = tmp_path / example
        shutil.copytree(EXAMPLES / example, target)
        return target

    return copy


def fast_retry():
    return RetryPolicy(budget_seconds=2.0, first_delay=0.01, max_delay=0.05)
