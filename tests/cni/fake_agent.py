"""A stand-in node agent: the agent's HTTP contract on a unix socket, with canned answers.

Why it exists: the plugin is tested (and benchmarked) as a runtime runs it, and
it needs something to talk to before the real agent exists. `FakeAgent` serves
`POST /v1/cni` on a unix socket from a thread, records every request, and
answers through `respond(body) -> (http status, payload)`. The default,
`answer_like_an_agent`, validates the body with `cni.protocol` and answers as
the real agent will: a canned IPAM result for ADD in the requested cniVersion,
nothing for the other commands, the CNI error for a bad request.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from cni.protocol import CniError, IpamResult, IpConfig, Reply, Route, request_from_body

CANNED_RESULT = IpamResult(
    ips=[IpConfig("10.6.212.145/16", "10.6.0.1"), IpConfig("fd00:10:6::d391/64", "fd00:10:6::1")],
    routes=[Route("10.7.0.0/16", "10.6.0.1")],
)

Payload = Any  # a JSON-able value, or bytes sent as they are
Responder = Callable[[Any], "tuple[int, Payload]"]


def answer_like_an_agent(body: Any) -> tuple[int, Payload]:
    try:
        request = request_from_body(body)
    except CniError as error:
        config = body.get("config") if isinstance(body, dict) else None
        version = config.get("cniVersion") if isinstance(config, dict) else None
        return 200, Reply.of_error(error, version).to_body()
    if request.command == "ADD":
        return 200, Reply.of_result(CANNED_RESULT, request.cni_version).to_body()
    return 200, Reply.ok().to_body()


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # decoded JSON, or the raw text when it was not JSON


class FakeAgent:
    """with FakeAgent(path) as agent: ...; agent.requests lists what arrived."""

    def __init__(self, socket_path: str | os.PathLike, respond: Responder = answer_like_an_agent, *,
                 delay: float = 0.0, chunked: bool = False) -> None:
        self.socket_path = str(socket_path)
        self.respond, self.delay, self.chunked = respond, delay, chunked
        self.requests: list[Recorded] = []
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def __enter__(self) -> FakeAgent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                agent.requests.append(Recorded("POST", self.path, dict(self.headers.items()), body))
                if agent.delay:
                    time.sleep(agent.delay)
                status, payload = agent.respond(body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if agent.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(data), 7):  # small chunks to exercise the reassembly
                        piece = data[i:i + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        server = socketserver.ThreadingUnixStreamServer(self.socket_path, Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
