"""HTTP transport: sockets, TLS handshakes, request bodies, JSON and chunked watch streams.

Everything protocol-level lives here so `api` can stay a pure request -> response mapping.
HTTP/1.1 with keep-alive (kubectl and urllib3 reuse connections), bearer-token checks when
the server has a token, TLS handshakes done in the connection's own thread (a stalled client
cannot block the accept loop), watch events written as one JSON document per line in
chunked transfer encoding. Every open connection is tracked so `stop()` can cut them.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import errors
from .api import API, Request, Response, StreamResponse

MAX_BODY = 64 * 1024 * 1024


class APIHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, api: API, *, token: str | None, tls: ssl.SSLContext | None):
        self.api, self.token, self.tls = api, token, tls
        self.connections: set[socket.socket] = set()
        super().__init__(address, Handler)

    def get_request(self):
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle/delayed-ACK stalls
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address) -> None:
        kind = sys.exc_info()[0]
        if kind is not None and issubclass(kind, (ConnectionError, ssl.SSLError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubeapi-test"
    timeout = 60  # idle keep-alive connections end after this long
    server: APIHTTPServer

    def setup(self) -> None:
        self.server.connections.add(self.request)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.connections.discard(self.request)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet by default
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise errors.ApiError(413, "RequestEntityTooLarge", "request entity too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise errors.ApiError(413, "RequestEntityTooLarge", "request entity too large")
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_body()
            if self.server.token and self.headers.get("Authorization") != f"Bearer {self.server.token}":
                raise errors.unauthorized()
            request = Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, body)
            result = self.server.api.handle(request)
        except errors.ApiError as err:
            result = Response(err.code, err.status())
        except Exception as exc:  # a bug in the test server: answer 500, keep serving
            traceback.print_exc()
            result = Response(500, errors.internal(f"{type(exc).__name__}: {exc}").status())
        if isinstance(result, StreamResponse):
            self._stream(result)
        else:
            self._send(result)

    def _send(self, response: Response) -> None:
        if isinstance(response.body, (bytes, str)):
            payload = response.body if isinstance(response.body, bytes) else response.body.encode()
            content_type = "text/plain; charset=utf-8"
        else:
            payload = json.dumps(response.body, separators=(",", ":")).encode()
            content_type = "application/json"
        self.send_response(response.code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _stream(self, response: StreamResponse) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.flush()
            for event in response.events:
                data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, OSError):
            pass  # the client went away
        finally:
            response.events.close()
