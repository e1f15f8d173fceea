"""What a client on the agent socket may cost: bounded bodies, answered refusals, bounded connections and idle time.

The corpus (`hostile/http_requests.py`) is replayed byte for byte; every request gets an HTTP answer
with `{"error": <one line>}` and the route never runs. No cluster: the server with stub routes.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from agent import server as agent_server
from agent.server import AgentServer, Routes

from .hostile.http_requests import CORPUS


class Calls:
    def __init__(self):
        self.bodies = []

    def route(self, body, peer):
        self.bodies.append((body, peer))
        return {"exitCode": 0, "stdout": ""}


@pytest.fixture
def served(sock_dir):
    calls = Calls()
    running: list[AgentServer] = []

    def start() -> tuple[str, Calls]:
        path = str(sock_dir / "agent.sock")
        running.append(AgentServer(path, Routes(cni=calls.route, coordinator=calls.route, ready=lambda: [],
                                                metrics=lambda: "")).start())
        return path, calls

    yield start
    for server in running:
        server.stop()


def exchange(path: str, raw: bytes, *, timeout: float = 10.0) -> tuple[int, object]:
    """Send `raw` (a half-close after it, as a client that is done), read the whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before all was sent: the answer is still there to read
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    kind = next((line for line in head.split(b"\r\n") if line.lower().startswith(b"content-type:")), b"")
    return int(head.split(b" ", 2)[1]), json.loads(body) if b"json" in kind else body.decode()


@pytest.mark.parametrize(("raw", "status", "error"), [case[1:] for case in CORPUS], ids=[case[0] for case in CORPUS])
def test_each_hostile_request_is_answered_with_its_status_and_one_line_error(served, raw, status, error):
    path, calls = served()

    assert exchange(path, raw) == (status, {"error": error})
    assert calls.bodies == []


def test_a_well_formed_request_still_reaches_its_route_with_the_callers_credentials(served):
    path, calls = served()
    body = json.dumps({"command": "ADD", "config": {"cniVersion": "1.0.0"}}).encode()

    status, _ = exchange(path, b"POST /v1/coordinator HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    ((received, peer),) = calls.bodies
    assert status == 200 and received["command"] == "ADD"
    assert (peer.pid, peer.uid) == (__import__("os").getpid(), __import__("os").getuid())


def test_connections_past_the_bound_are_answered_503_at_once_and_served_again_when_one_closes(
        served, monkeypatch):
    monkeypatch.setattr(agent_server._Server, "max_connections", 4)
    path, calls = served()
    threads_before = threading.active_count()
    idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(4)]
    for sock in idle:
        sock.connect(path)
    time.sleep(0.2)  # accepted, each waiting in its thread for a request line

    extra = [exchange(path, b"GET /healthz HTTP/1.1\r\n\r\n", timeout=2) for _ in range(20)]

    assert extra == [(503, {"error": "the agent is serving 4 connections; try again"})] * 20
    assert threading.active_count() <= threads_before + 4
    idle.pop().close()
    deadline = time.monotonic() + 5
    while exchange(path, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", timeout=2)[0] == 503:
        assert time.monotonic() < deadline, "a closed connection's slot was never given back"
        time.sleep(0.05)
    for sock in idle:
        sock.close()


def test_an_idle_connection_is_closed_after_the_idle_timeout(served, monkeypatch):
    monkeypatch.setattr(agent_server, "IDLE_TIMEOUT", 0.3)
    path, _ = served()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        started = time.monotonic()
        assert sock.recv(1) == b""  # the agent hung up
        assert time.monotonic() - started < 5
