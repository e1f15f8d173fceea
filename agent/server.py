"""The agent's HTTP/1.1 server on a unix socket: `POST /v1/cni` and `/v1/coordinator`, `/healthz`, `/readyz`, `/metrics`.

The socket file is created with mode 0600 in a directory made on demand; a stale
file from a killed agent is replaced, a live agent's is not (bind fails with a
clear error instead of stealing another agent's socket). One thread per
connection: a request waiting for its group commit must not hold up the next.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from .logs import Log

MAX_BODY = 4 << 20


class SocketInUse(OSError):
    pass


class Routes:
    """What the server answers with; the agent fills these in. `cni` serves the IPAM plugin's
    `POST /v1/cni`, `coordinator` the coordinator plugin's `POST /v1/coordinator` (None: 404)."""

    def __init__(self, *, cni: Callable[[Any], dict], ready: Callable[[], list[str]], metrics: Callable[[], str],
                 coordinator: Callable[[Any], dict] | None = None):
        self.cni, self.coordinator, self.ready, self.metrics = cni, coordinator, ready, metrics

    def post(self, path: str) -> Callable[[Any], dict] | None:
        return {"/v1/cni": self.cni, "/v1/coordinator": self.coordinator}.get(path)


def _handler(routes: Routes):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "spiderpool-agent"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            route = routes.post(self.path.split("?")[0])
            if route is None:
                return self._send(404, {"error": f"no route {self.path}"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._send(413, {"error": "request body too large"})
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")  # each route answers a CNI decode failure (code 6)
            self._send(200, route(body))

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            if path == "/healthz":
                return self._send(200, "ok\n")
            if path == "/readyz":
                problems = routes.ready()
                return self._send(503 if problems else 200, "".join(f"{p}\n" for p in problems) or "ok\n")
            if path == "/metrics":
                return self._send(200, routes.metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")
            self._send(404, {"error": f"no route {self.path}"})

        def _send(self, status: int, payload: Any, *, content_type: str | None = None) -> None:
            if isinstance(payload, str):
                data, kind = payload.encode("utf-8"), content_type or "text/plain; charset=utf-8"
            else:
                data, kind = json.dumps(payload).encode("utf-8"), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # the agent logs requests itself
            pass

    return Handler


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024  # a node may start hundreds of pods at once
    log = Log("http")

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is routine (a runtime timed out); anything else is logged."""
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            self.log.debug("client went away before the answer", error=str(error))
        else:
            self.log.error("request handler failed", error=repr(error), exc_info=True)


def prepare_socket(path: str) -> None:
    """Make the parent directory; remove a stale socket file; refuse one another process listens on."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o755, exist_ok=True)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SocketInUse(f"{path} exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: a killed agent's leftover
        return
    finally:
        probe.close()
    raise SocketInUse(f"another process is serving on {path}")


class AgentServer:
    def __init__(self, path: str, routes: Routes):
        self.path = path
        prepare_socket(path)
        old = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            self._server = _Server(path, _handler(routes))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._inode = os.stat(path).st_ino
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    def serve_forever(self) -> None:
        self._serving.set()
        self._server.serve_forever(poll_interval=0.05)

    def start(self) -> "AgentServer":
        self._thread = threading.Thread(target=self.serve_forever, name="agent-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._serving.is_set():
            self._server.shutdown()  # from another thread than serve_forever's
        self._server.server_close()
        try:
            if os.stat(self.path).st_ino == self._inode:  # not a successor's socket
                os.unlink(self.path)
        except FileNotFoundError:
            pass
