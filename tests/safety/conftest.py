"""The server the safety stress tests race against, as a fixture parameter.

Today the project's test API server (it can also slow writes down, `faults`); the
real kube-apiserver fixture (tests/cluster/) joins as a second parameter: the trials
in `race.py` need nothing but a kubeconfig with our CRDs installed.
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


@pytest.fixture(params=["kubeapi"])  # + "kube-apiserver" once tests/cluster/ lands
def race_server(request, tmp_path):
    if request.param == "kubeapi":
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
