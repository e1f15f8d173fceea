"""The server the safety stress tests race against, as a fixture parameter.

The real kube-apiserver (tests/cluster/) and the project's test API server (which can also
slow writes down, `faults`): the trials in `race.py` need nothing but a kubeconfig with our
CRDs installed, and the race windows are forced by hooks in our own calls.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.kube import connect
from reconciler.sync import install_crds
from tests.kubeapi.server import KubeAPIServer


@dataclass
class RaceServer:
    name: str
    kubeconfig: str
    faults: Any = None  # the test server's Faults, None on a real server


@pytest.fixture(params=["kube-apiserver", "kubeapi"])
def race_server(request, tmp_path):
    if request.param == "kube-apiserver":
        cluster = request.getfixturevalue("real_cluster")
        kubeconfig = str(cluster.write_kubeconfig(tmp_path / "kubeconfig"))
        install_crds(connect(kubeconfig=kubeconfig))
        yield RaceServer("kube-apiserver", kubeconfig)
    else:
        server = KubeAPIServer().start()
        try:
            kubeconfig = str(server.write_kubeconfig(tmp_path / "kubeconfig"))
            install_crds(connect(kubeconfig=kubeconfig))
            yield RaceServer("kubeapi", kubeconfig, server.faults)
        finally:
            server.stop()


@pytest.fixture
def sock_dir():
    path = Path(tempfile.mkdtemp(prefix="spr-", dir="/tmp"))  # unix socket paths are short
    yield path
    shutil.rmtree(path, ignore_errors=True)
