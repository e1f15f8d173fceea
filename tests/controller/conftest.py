"""Fixtures for `spiderpool controller`: the watch tests' git remote and test cluster, and controller processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.apply.conftest import cluster  # noqa: F401  (fixture)
from tests.conftest import REPO, eventually
from tests.watch.conftest import remote  # noqa: F401  (fixture)
from tests.watch.gitremote import free_port


class ControllerProcess:
    """`spiderpool controller` as a child process; its JSON log lines go to a file the test can read."""

    def __init__(self, args: list[str], *, kubeconfig: Path, log: Path):
        self.port = free_port()
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "controller", *args, "--metrics-listen", f"127.0.0.1:{self.port}"],
            cwd=REPO, env={**os.environ, "KUBECONFIG": str(kubeconfig), "SPIDERPOOL_RETRY_BUDGET": "2"},
            stdout=self._log, stderr=subprocess.STDOUT, text=True)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> list[str]:
        return self.get("/metrics")[1].splitlines()

    def logs(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        self.kill()
        self._log.close()


@pytest.fixture
def controllers(cluster, tmp_path):  # noqa: F811 - the fixture imported above
    started: list[ControllerProcess] = []

    def start(name: str, *args) -> ControllerProcess:
        c = ControllerProcess([str(a) for a in args], kubeconfig=cluster.kubeconfig, log=tmp_path / f"{name}.log")
        started.append(c)
        return c

    yield start
    for c in started:
        c.close()


def until(predicate, *, timeout: float, what: str, every: float = 0.1, context=lambda: ""):
    """Wait (bounded) until `predicate()` is truthy; -> its value."""
    return eventually(predicate, timeout=timeout, what=what, every=every, context=context)
