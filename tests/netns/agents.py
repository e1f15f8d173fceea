"""`spiderpool agent` processes for the bed: started, awaited on /readyz, stopped, their logs read.

Why it exists: each node of the bed runs the real agent as a subprocess, in the
host namespace (its socket is a filesystem path, so plugins executed inside a
node's namespace reach it). The processes must never outlive the test run: they
get SIGTERM when the test process dies (PR_SET_PDEATHSIG), and their pids are
recorded in the bed's work dir so a later run can stop those of a crashed one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1


class AgentProcess:
    def __init__(self, argv: Sequence[str], *, socket_path: str, log: Path, pidfile: Path):
        self.socket_path, self.log = socket_path, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=REPO, preexec_fn=_die_with_parent, env=_environment())
        with open(pidfile, "a") as pids:
            pids.write(f"{self.proc.pid}\n")

    def ready(self) -> bool:
        """True once /readyz answers 200; RuntimeError if the process has exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"the agent exited with {self.proc.returncode}:\n{self.tail()}")
        return readyz(self.socket_path) == 200

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text)


def wait_ready(agents: dict[str, AgentProcess], *, timeout: float) -> None:
    """Poll every agent's /readyz until all answer 200; TimeoutError naming the laggards with their logs."""
    deadline = time.monotonic() + timeout
    waiting = dict(agents)
    while waiting:
        for name, agent in list(waiting.items()):
            try:
                if agent.ready():
                    del waiting[name]
            except RuntimeError as exc:
                raise RuntimeError(f"agent {name}: {exc}") from None
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"agents not ready after {timeout:g} s: {sorted(waiting)}\n" + "\n".join(
                f"--- {name} ---\n{agent.tail()}" for name, agent in waiting.items()))
        time.sleep(0.05)


def readyz(path: str, *, timeout: float = 1.0) -> int | None:
    """GET /readyz over a unix socket -> the HTTP status, or None when nothing answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: spiderpool-agent\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):  # read to the end: closing early breaks the agent's pipe
                answer += chunk
        return int(answer.split(b" ", 2)[1])
    except (OSError, IndexError, ValueError):
        return None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNI_", "SPIDERPOOL_SOCKET", "KUBECONFIG"))}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
