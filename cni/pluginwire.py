"""How the CNI plugin executables talk to the node agent: JSON and HTTP/1.1 over a unix socket.

Why it exists: `spiderpool` (cni/plugin.py) and `coordinator` (coordinator/plugin.py)
both forward to the warm agent and both sit on every pod's critical path, so both
need the same tiny client: the `_json` C accelerator without the `json` package
(which imports `re`) and a 60-line HTTP/1.1 client on `_socket` (`socket` and
`http.client` import `enum` and `email`: 10-40 ms per pod).

The plugins import it with one line marked `# install-cni: inline`; `cni/install.py`
puts this file's text in place of that line, so each installed executable stays
standalone. Hence: standard library only, imported lazily where it costs, and no
`from __future__` (it would not be the first statement once inlined).
"""

import time


# ---------------------------------------------------------------------------------------- JSON

def _json_codec():
    """(quote, loads): the C accelerator without the `json` package (which imports `re`)."""
    try:
        from _json import encode_basestring_ascii, make_scanner
    except ImportError:  # not CPython: take the slow road
        import json
        return json.dumps, json.loads

    class Context:
        strict, object_hook, object_pairs_hook = True, None, None
        parse_float, parse_int = float, int
        parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__

    scan, blank = make_scanner(Context()), " \t\n\r"

    def loads(text):
        start = len(text) - len(text.lstrip(blank))
        try:
            value, end = scan(text, start)
        except StopIteration as stop:
            raise ValueError("expecting a value at character %d" % stop.value) from None
        except SystemError:  # the C scanner reports most errors through json.decoder, if imported
            import json
            return json.loads(text)
        rest = text[end:]
        if rest.strip(blank):
            raise ValueError("extra data at character %d" % (len(text) - len(rest.lstrip(blank))))
        return value

    return encode_basestring_ascii, loads


quote, loads = _json_codec()


quote, loads = _json_codec()


# ---------------------------------------------------------------------------------------- HTTP

class AgentError(Exception):
    """The agent could not be asked or answered nonsense: the runtime should try again later."""


def post(path, request_path, body, timeout):
    """HTTP/1.1 POST of `body` to `request_path` over the unix socket `path`
    -> (status, body bytes); OSError/TimeoutError/AgentError."""
    import _socket

    deadline = time.monotonic() + timeout
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        head = ("POST %s HTTP/1.1\r\nHost: spiderpool-agent\r\nUser-Agent: spiderpool-cni\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % (request_path, len(body)))
        sock.sendall(head.encode("ascii") + body)
        return read_response(Reader(sock, deadline))
    finally:
        sock.close()


class Reader:
    """Buffered reads from the socket, all against one deadline."""

    def __init__(self, sock, deadline):
        self.sock, self.deadline, self.buf = sock, deadline, b""

    def fill(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def until(self, marker):
        while marker not in self.buf:
            if not self.fill():
                raise AgentError("the connection closed mid-answer")
        data, _, self.buf = self.buf.partition(marker)
        return data

    def exactly(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise AgentError("the connection closed mid-answer")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self):
        while self.fill():
            pass
        data, self.buf = self.buf, b""
        return data


def read_response(reader):
    lines = reader.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise AgentError("not an HTTP answer: %r" % lines[0][:80])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int(reader.until(b"\r\n").split(b";")[0], 16)
            if not size:
                return status, body
            body += reader.exactly(size)
            reader.exactly(2)
    if "content-length" in headers:
        return status, reader.exactly(int(headers["content-length"]))
    return status, reader.rest()


def ask_agent(path, request_path, body, timeout):
    """-> (exit code, stdout text) from the agent, or AgentError naming what went wrong."""
    try:
        status, answer = post(path, request_path, body, timeout)
    except FileNotFoundError:
        raise AgentError("the socket does not exist (is the spiderpool agent running on this node?)")
    except ConnectionRefusedError:
        raise AgentError("connection refused (the agent is not listening)")
    except TimeoutError:
        raise AgentError("no answer within %g s" % timeout)
    except OSError as exc:
        raise AgentError(exc.strerror or str(exc))
    except ValueError as exc:  # a malformed status line, length or chunk size
        raise AgentError("a malformed HTTP answer (%s)" % exc)
    text = answer.decode("utf-8", "replace")
    if status != 200:
        raise AgentError("HTTP %d: %s" % (status, text.strip()[:300] or "(empty body)"))
    try:
        reply = loads(text)
        exit_code, stdout = reply["exitCode"], reply["stdout"]
    except (ValueError, TypeError, KeyError):
        raise AgentError("an unreadable answer: %r" % text[:300])
    if not isinstance(exit_code, int) or isinstance(exit_code, bool) or not isinstance(stdout, str):
        raise AgentError("an unreadable answer: %r" % text[:300])
    return exit_code, stdout
