"""A smart-HTTP git server on loopback that asks for HTTP Basic auth, as a GitHub-style host does.

`BasicAuthGit(root, user=..., password=...)` serves the bare repositories under `root` at
http://127.0.0.1:PORT/<name>.git through `git http-backend` run as a CGI program: a request
without `Authorization: Basic` (or with the wrong user or password) gets 401 and
`WWW-Authenticate: Basic realm=...`, as git expects before it asks its credential helper.
`seen` keeps each request's method, path and user (never the password) for the tests.

With `tls=private_ca(dir)` it serves https://127.0.0.1:PORT/ instead, with a server certificate for
127.0.0.1 (an IP SAN) signed by a CA made for the test, as a self-hosted GitLab or Gitea behind an
internal CA does. `connections` counts the connections accepted; a client that refuses the
certificate (during the handshake, or right after it as curl with GnuTLS does) sends no request:
`seen` stays empty.
"""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from tests.kubeapi.tls import issue

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


def http_backend() -> str:
    """The git-http-backend program (`git --exec-path` says where git keeps it)."""
    done = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, timeout=10)
    found = Path(done.stdout.strip()) / "git-http-backend"
    return str(found) if found.exists() else HTTP_BACKEND


@dataclass(frozen=True)
class Pki:
    ca: Path    # the CA's certificate (PEM): what a client is given to trust
    cert: Path  # the server's certificate for 127.0.0.1, signed by the CA
    key: Path   # the server's private key


def private_ca(directory: Path, name: str = "Spiderpool Test Internal CA") -> Pki:
    """A new CA and a server certificate it signs for 127.0.0.1, written under `directory` (made if need be)."""
    certs = issue(name, "git.internal.test", ips=("127.0.0.1",), days=2)
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server-key.pem")
    pki.ca.write_bytes(certs.ca_pem)
    pki.cert.write_bytes(certs.cert_pem)
    pki.key.write_bytes(certs.key_pem)
    return pki


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, tls: Pki | None):
        super().__init__(address, handler)
        self.connections = 0
        if tls:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(tls.cert, tls.key)
            self.socket = self.context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def finish_request(self, request, client_address) -> None:
        self.connections += 1
        if isinstance(request, ssl.SSLSocket):  # the handshake in the request's thread, before any HTTP
            try:
                request.do_handshake()
            except OSError:  # the client refused the certificate (ssl.SSLError is an OSError)
                return
        super().finish_request(request, client_address)


class BasicAuthGit:
    def __init__(self, root: Path, *, user: str, password: str, port: int = 0, tls: Pki | None = None):
        self.root, self.user, self.password = root, user, password
        self.backend = http_backend()
        self.seen: list[tuple[str, str, str]] = []
        self.scheme = "https" if tls else "http"
        self.server = _Server(("127.0.0.1", port), self._handler(), tls)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reissue(self, tls: Pki) -> None:
        """Serve `tls`'s certificate from the next connection on (the host's certificate renewed by a new CA)."""
        self.server.context.load_cert_chain(tls.cert, tls.key)

    @property
    def connections(self) -> int:
        return self.server.connections

    def url(self, name: str = "net.git") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{name}"

    def start(self) -> "BasicAuthGit":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _user(self, header: str | None) -> str | None:
        """The user when `header` is Basic auth with the expected user and password, else None."""
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if (user, password) == (self.user, self.password) else None

    def _handler(self):
        git = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one response per connection: the CGI body ends the answer

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                user = git._user(self.headers.get("Authorization"))
                git.seen.append((self.command, parts.path, user or ""))
                if user is None:
                    body = b"authentication required\n"
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="spiderpool test git"')
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": str(git.root),
                       "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": parts.path, "QUERY_STRING": parts.query,
                       "REQUEST_METHOD": self.command, "REMOTE_USER": user, "REMOTE_ADDR": self.client_address[0],
                       "CONTENT_TYPE": self.headers.get("Content-Type") or "", "CONTENT_LENGTH": str(len(body)),
                       "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(git.root)}
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                done = subprocess.run([git.backend], input=body, env=env, capture_output=True, timeout=30)
                if not done.stdout:
                    self.send_error(500, done.stderr.decode(errors="replace")[-200:] or "git http-backend failed")
                    return
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = done.stdout.partition(b"\n\n")
                status, headers = 200, []
                for line in head.decode("latin-1").splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
