"""The push webhook: an HTTP endpoint that makes the loop look at its source now.

One shared secret (from `--webhook-secret-file`) is accepted in three shapes:

    X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>   GitHub (and Gitea, Forgejo)
    X-Gitlab-Token: <secret>                                     GitLab
    X-Spiderpool-Token: <secret>  or  Authorization: Bearer <secret>   anything else (CI, curl)

The order of checks keeps a stranger from costing more than a few header bytes:

    no credential header                      -> 401 \
    a token header that does not match        -> 401  |  the body is read only when it is at most
    no Content-Length (chunked)               -> 411  |  DRAIN (64 KiB) long, so the answer reaches
    Content-Length above MAX_BODY             -> 413 /   the client instead of a connection reset
    a GitHub signature: read the body (bounded), compare the HMAC -> 401 on mismatch
    GitHub "ping"                             -> 200, no reconcile
    otherwise                                 -> 202, and `on_hook()` (the loop coalesces kicks)

Comparisons are constant-time (`hmac.compare_digest`); every answer closes the connection, and
a client has `READ_TIMEOUT` seconds to send its headers and body. The payload itself is not
trusted or parsed: a good hook only says "fetch now", and the loop reads the ref it follows.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from .errors import ReconcilerError

MAX_BODY = 1024 * 1024   # GitHub push payloads are far below this
DRAIN = 64 * 1024         # a refused request's body is read this far (so the answer is not lost to a reset)
READ_TIMEOUT = 5.0
PATHS = ("/", "/hook", "/webhook")


class WebhookError(ReconcilerError):
    pass


def read_secret(file: str) -> bytes:
    try:
        secret = Path(file).read_bytes().strip()
    except OSError as exc:
        raise WebhookError(f"webhook secret file {file}: cannot read it ({exc.strerror or exc})") from None
    if not secret:
        raise WebhookError(f"webhook secret file {file} is empty")
    return secret


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise WebhookError(f"--webhook-listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9000")
    return host.strip("[]") or "0.0.0.0", int(port)


def github_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _same(given: str | None, secret: bytes) -> bool:
    return given is not None and hmac.compare_digest(given.strip().encode("utf-8", "replace"), secret)


class Webhook:
    """A threaded HTTP server on `listen`; `on_hook(kind)` is called for each good hook."""

    def __init__(self, listen: str, *, secret: bytes, on_hook: Callable[[str], None]):
        host, port = parse_listen(listen)
        handler = type("Handler", (_Handler,), {"secret": secret, "on_hook": staticmethod(on_hook)})
        try:
            self.server = _Server((host, port), handler)
        except OSError as exc:
            raise WebhookError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "Webhook":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    # http.server's listen backlog is 5: a burst of hooks (a push to many repos, a replay) would see
    # connections reset before any handler ran
    request_queue_size = 128
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    secret: bytes = b""
    on_hook: Callable[[str], None]
    server_version = "spiderpool-webhook"
    sys_version = ""
    timeout = READ_TIMEOUT

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # the CLI reports what the hook caused; request lines are noise

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/healthz":
            self._answer(200, "ok")
        else:
            self._answer(405, "POST a webhook here")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?")[0] not in PATHS:
            return self._answer(404, "not found")
        kind = self._credential_kind()
        if kind is None:
            return self._answer(401, "missing credentials (X-Hub-Signature-256, X-Gitlab-Token or "
                                     "X-Spiderpool-Token)")
        if kind != "github" and not self._token_matches(kind):
            return self._answer(401, "bad token")
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            return self._answer(411, "Content-Length required")
        if int(length) > MAX_BODY:
            return self._answer(413, f"body larger than {MAX_BODY} bytes")
        body = self.rfile.read(int(length))
        self._body_read = True
        if kind == "github":
            given = self.headers.get("X-Hub-Signature-256", "")
            if not hmac.compare_digest(given.strip().encode("utf-8", "replace"),
                                       github_signature(self.secret, body).encode()):
                return self._answer(401, "bad signature")
            if self.headers.get("X-GitHub-Event") == "ping":
                return self._answer(200, "pong")
        self.on_hook(kind)
        self._answer(202, "reconcile requested")

    def _drain(self) -> None:
        """Read what is already on its way of a refused body, up to DRAIN bytes, never more."""
        length = (self.headers.get("Content-Length") or "").strip()
        if not getattr(self, "_body_read", False) and length.isdigit() and int(length) <= DRAIN:
            try:
                self.rfile.read(int(length))
            except OSError:
                pass

    def _credential_kind(self) -> str | None:
        if self.headers.get("X-Hub-Signature-256") is not None:
            return "github"
        if self.headers.get("X-Gitlab-Token") is not None:
            return "gitlab"
        if self.headers.get("X-Spiderpool-Token") is not None or \
                (self.headers.get("Authorization") or "").startswith("Bearer "):
            return "token"
        return None

    def _token_matches(self, kind: str) -> bool:
        if kind == "gitlab":
            return _same(self.headers.get("X-Gitlab-Token"), self.secret)
        given = self.headers.get("X-Spiderpool-Token")
        if given is None:
            given = (self.headers.get("Authorization") or "")[len("Bearer "):]
        return _same(given, self.secret)

    def _answer(self, code: int, text: str) -> None:
        if code >= 400:
            self._drain()
        body = (text + "\n").encode()
        self.close_connection = True
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
