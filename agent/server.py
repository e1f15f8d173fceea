"""The agent's HTTP/1.1 server on a unix socket: `POST /v1/cni` and `/v1/coordinator`, `/healthz`, `/readyz`, `/metrics`.

The socket file is created with mode 0600 in a directory made on demand; a stale
file from a killed agent is replaced, a live agent's is not (bind fails with a
clear error instead of stealing another agent's socket). One thread per
connection: a request waiting for its group commit must not hold up the next.

What a client may cost is bounded, because a runtime gone wrong (or anything else
root on the node) must not take the agent down with it:
- at most MAX_CONNECTIONS connections are served at once; the next one is answered
  `503` at once from the accept loop and closed (the plugin's code 11: try again);
- a connection that sends nothing for IDLE_TIMEOUT seconds — between requests, or
  mid-request — is closed (no thread waits on it for ever);
- a POST must say how long its body is (`411` without Content-Length, `400` for one
  that is not a decimal number), at most MAX_BODY bytes (`413`), and be JSON nested
  at most MAX_DEPTH deep (`400`). Each refusal carries `{"error": "<one line>"}`,
  which the plugins turn into a CNI error that says so (code 6 or 7, not retried).
Each route gets the body and the `Peer` on the other end of the socket (SO_PEERCRED):
the coordinator checks the namespace it is asked to enter against the caller's.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import socketserver
import stat
import struct
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from cni.pluginwire import MAX_BODY, MAX_DEPTH, too_deep

from .logs import Log

MAX_CONNECTIONS = 512  # served at once; a node starting hundreds of pods stays well under it
IDLE_TIMEOUT = 10.0  # seconds a connection may stay silent (the plugin sends its request in one go)
BUSY_ANSWER_TIMEOUT = 0.5  # seconds the accept loop spends answering a connection past the bound


@dataclass(frozen=True)
class Peer:
    """The process on the other end of the unix socket, as the kernel says (SO_PEERCRED); pid 0: unknown."""

    pid: int = 0
    uid: int = -1
    gid: int = -1

    @classmethod
    def of(cls, sock: socket.socket) -> "Peer":
        try:
            return cls(*struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                            struct.calcsize("3i"))))
        except (OSError, AttributeError):
            return cls()


class Refusal(Exception):
    """A request the server answers itself, with `status` and a one-line reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class SocketInUse(OSError):
    pass


PostRoute = Callable[[Any, Peer], dict]


class Routes:
    """What the server answers with; the agent fills these in. `cni` serves the IPAM plugin's
    `POST /v1/cni`, `coordinator` the coordinator plugin's `POST /v1/coordinator` (None: 404);
    each is called with the decoded body and the caller's `Peer`."""

    def __init__(self, *, cni: PostRoute, ready: Callable[[], list[str]], metrics: Callable[[], str],
                 coordinator: PostRoute | None = None):
        self.cni, self.coordinator, self.ready, self.metrics = cni, coordinator, ready, metrics

    def post(self, path: str) -> PostRoute | None:
        return {"/v1/cni": self.cni, "/v1/coordinator": self.coordinator}.get(path)


def read_body(headers: Any, rfile: Any) -> Any:
    """The request's JSON body within the bounds -> the decoded value (the text, when it is not JSON: each
    route answers that with a CNI decode failure); Refusal 400/411/413 otherwise."""
    if headers.get("Transfer-Encoding"):
        raise Refusal(411, "a Content-Length is required (chunked bodies are not accepted)")
    declared = headers.get("Content-Length")
    if declared is None:
        raise Refusal(411, "a Content-Length is required")
    if not (declared.isascii() and declared.isdigit()) or len(headers.get_all("Content-Length")) > 1:
        raise Refusal(400, f"Content-Length {declared[:40]!r} is not one decimal number")
    length = int(declared)
    if length > MAX_BODY:
        raise Refusal(413, f"the request body is {length} bytes, more than the {MAX_BODY} accepted")
    raw = rfile.read(length)
    if len(raw) < length:
        raise Refusal(400, f"the request body ended after {len(raw)} of {length} bytes")
    try:
        body = json.loads(raw)
    except RecursionError:
        raise Refusal(400, f"the request body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        return raw.decode("utf-8", "replace")
    if too_deep(body, MAX_DEPTH + 1):  # the body wraps the network configuration in one more level
        raise Refusal(400, f"the request body nests deeper than {MAX_DEPTH} levels")
    return body


METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def answer_get(routes: Routes, target: str) -> tuple[int, Any, str | None]:
    """(status, payload, content type) of a GET: /healthz, /readyz, /metrics, else 404."""
    path = target.split("?")[0]
    if path == "/healthz":
        return 200, "ok\n", None
    if path == "/readyz":
        problems = routes.ready()
        return (503 if problems else 200), "".join(f"{p}\n" for p in problems) or "ok\n", None
    if path == "/metrics":
        return 200, routes.metrics(), METRICS_TYPE
    return 404, {"error": f"no route {target}"}, None


def send(handler: BaseHTTPRequestHandler, status: int, payload: Any, content_type: str | None = None) -> None:
    """Answer with `payload`: text as is (`content_type`, else plain text), anything else as JSON."""
    if isinstance(payload, str):
        data, kind = payload.encode("utf-8"), content_type or "text/plain; charset=utf-8"
    else:
        data, kind = json.dumps(payload).encode("utf-8"), "application/json"
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _handler(routes: Routes):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "spiderpool-agent"

        timeout = IDLE_TIMEOUT  # StreamRequestHandler: the socket's timeout for every read and write

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            route = routes.post(self.path.split("?")[0])
            if route is None:
                self.close_connection = True  # its body, if any, is not read
                return self._send(404, {"error": f"no route {self.path}"})
            try:
                body = read_body(self.headers, self.rfile)
            except Refusal as refusal:
                self.close_connection = True  # what is left of the body is not read
                return self._send(refusal.status, {"error": refusal.reason})
            self._send(200, route(body, Peer.of(self.connection)))

        def do_GET(self) -> None:  # noqa: N802
            self._send(*answer_get(routes, self.path))

        def _send(self, status: int, payload: Any, content_type: str | None = None) -> None:
            send(self, status, payload, content_type)

        def log_message(self, *args: Any) -> None:  # the agent logs requests itself
            pass

    return Handler


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False  # stop() does not wait for connections still being served
    request_queue_size = 1024  # a node may start hundreds of pods at once
    log = Log("http")
    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection when a slot is free; else `503` from here, and closed."""
        if not self._slots.acquire(blocking=False):
            return self._answer_busy(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def shutdown_request(self, request: Any) -> None:
        try:
            request.shutdown(socket.SHUT_WR)
            _drain(request)
        except OSError:
            pass
        self.close_request(request)

    def _answer_busy(self, request: socket.socket) -> None:
        data = json.dumps({"error": f"the agent is serving {self.max_connections} connections; "
                                    "try again"}).encode("utf-8")
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode("ascii")
        try:
            request.settimeout(BUSY_ANSWER_TIMEOUT)
            request.sendall(head + data)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is routine (a runtime timed out); anything else is logged."""
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            self.log.debug("client went away before the answer", error=str(error))
        else:
            self.log.error("request handler failed", error=repr(error), exc_info=True)


def _drain(sock: socket.socket) -> None:
    """Read what the client already sent, without waiting: closing a unix socket with unread data
    resets the connection, and the client could lose the answer sitting in its buffer."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


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


class HealthServer:
    """`/healthz`, `/readyz` and `/metrics` over TCP (`spiderpool agent --health-listen`), for the
    kubelet's probes and Prometheus; GET only: the plugins' POST routes stay on the unix socket."""

    def __init__(self, listen: tuple[str, int], routes: Routes):
        class Handler(BaseHTTPRequestHandler):
            server_version = "spiderpool-agent"
            timeout = IDLE_TIMEOUT

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                send(self, *answer_get(routes, self.path))

            def log_message(self, *args: Any) -> None:  # probes and scrapes are not news
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            block_on_close = False
            address_family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET

        self._server = Server(listen, Handler)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self._server.server_address[:2]

    def start(self) -> "HealthServer":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="agent-health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()


def parse_listen(value: str) -> tuple[str, int]:
    """"HOST:PORT" (IPv6 in brackets) -> (host, port); ValueError naming what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)
