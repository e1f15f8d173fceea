"""Fixtures for `spiderpool watch`: a git remote on loopback and the CLI as a long-running process.

`watcher(*args)` starts `spiderpool watch ... -o json` against the test's cluster and returns a
`Watcher`: `next(where=..., timeout=...)` waits (bounded) for the next JSON outcome line that
matches, `stop()` sends SIGTERM and returns the exit code. Every process is killed at teardown.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.apply.conftest import cli, cluster  # noqa: F401  (fixtures)
from tests.conftest import REPO
from tests.watch.gitremote import Remote


@pytest.fixture
def remote(tmp_path):
    """A bare repo with a work clone, served by `git daemon` on 127.0.0.1."""
    root = tmp_path / "remote"
    root.mkdir()
    served = Remote(root).serve()
    try:
        yield served
    finally:
        served.stop()


class Watcher:
    def __init__(self, args: list[str], *, kubeconfig: Path, env: dict[str, str] | None = None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "watch", *args, "-o", "json"], cwd=REPO,
            env={**os.environ, "KUBECONFIG": str(kubeconfig), "SPIDERPOOL_RETRY_BUDGET": "2", **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.outcomes: list[dict] = []
        self.stderr: list[str] = []
        self._banner = threading.Event()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line)
            if line.startswith("Watching "):
                self._banner.set()

    def started(self, timeout: float = 30) -> "Watcher":
        if not self._banner.wait(timeout):
            raise AssertionError(f"no banner within {timeout}s; stderr:\n{''.join(self.stderr)}")
        return self

    @property
    def webhook_url(self) -> str:
        self.started()
        match = re.search(r"webhook at (http://\S+/)", "".join(self.stderr))
        assert match, self.stderr
        return match.group(1)

    def next(self, where=lambda o: True, *, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching outcome within {timeout}s; saw {self.outcomes}; "
                                     f"stderr:\n{''.join(self.stderr)}")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    raise AssertionError(f"watch exited {self.process.returncode}; saw {self.outcomes}; "
                                         f"stderr:\n{''.join(self.stderr)}") from None
                continue
            outcome = json.loads(line)
            self.outcomes.append(outcome)
            if where(outcome):
                return outcome

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def watcher(cluster, tmp_path):  # noqa: F811 - the fixture imported above
    started: list[Watcher] = []

    def start(*args, env: dict[str, str] | None = None) -> Watcher:
        w = Watcher([str(a) for a in args], kubeconfig=cluster.kubeconfig, env=env)
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


def applied(revision: str):
    """A predicate for Watcher.next: the outcome that applied `revision`."""
    return lambda o: o["revision"] == revision and o["result"] in ("applied", "unchanged")
