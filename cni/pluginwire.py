"""The CNI plugin executables' kit: the CNI front end and the wire to the node agent.

Why it exists: `spiderpool` (cni/plugin.py) and `coordinator` (coordinator/plugin.py)
are both exec'd by the runtime on every pod's critical path and both forward to the
warm agent, so both need the same front end - the spec's versions, required
environment and error codes, `CNI_ARGS` parsing, stdin decoding, VERSION, error
JSON in the requested version - and the same tiny client: the `_json` C accelerator
without the `json` package (which imports `re`) and a 60-line HTTP/1.1 client on
`_socket` (`socket` and `http.client` import `enum` and `email`: 10-40 ms per pod).
`cni/protocol.py`, the agent's side of the protocol, takes its tables from here.

The plugins import it with one line marked `# install-cni: inline`; `cni/install.py`
puts this file's text in place of that line, so each installed executable stays
standalone. Hence: standard library only, imported lazily where it costs, and no
`from __future__` (it would not be the first statement once inlined).
"""

import time

DEFAULT_SOCKET = "/var/run/spidernet/spiderpool.sock"
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
# Environment each command needs (VERSION needs only CNI_COMMAND); empty counts as missing.
REQUIRED_ENV = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "GC": ("CNI_PATH",),
    "STATUS": ("CNI_PATH",),
}
MIN_VERSION = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}  # the first spec version with the command
# Bounds on what a runtime may hand us. The agent refuses request bodies past MAX_BODY (HTTP 413); the
# plugin refuses a config that could not fit in one (code 7) before sending a byte. No legitimate
# network configuration nests anywhere near MAX_DEPTH levels; the JSON decoder's recursion does.
MAX_BODY = 4 << 20
MAX_CONFIG = MAX_BODY - (64 << 10)  # room for the request's other fields (environment, CNI_ARGS)
MAX_DEPTH = 64
CONTAINER_ID_PUNCTUATION = "_.-"

# CNI error codes (SPEC.md "Well-known Error Codes"); 100 and up are a plugin's own.
INCOMPATIBLE_VERSION, INVALID_ENVIRONMENT, DECODE_FAILURE, INVALID_CONFIG = 1, 4, 6, 7
TRY_AGAIN_LATER, NOT_AVAILABLE = 11, 50
PLUGIN_ERROR = 100  # ours: the pod's records or network do not match what the plugin was asked for
INTERNAL = 999  # ours: a bug, still reported as a CNI error


def timeout_for(environ, command, defaults):
    """SPIDERPOOL_TIMEOUT seconds when it is a sane positive number, else `defaults[command]`."""
    try:
        seconds = float(environ["SPIDERPOOL_TIMEOUT"])
    except (KeyError, ValueError):
        return defaults[command]
    return seconds if 0 < seconds < 86400 else defaults[command]


class CniError(Exception):
    """A failure the runtime sees as `{"cniVersion", "code", "msg", "details"}` and exit 1."""

    def __init__(self, code, msg, details=""):
        Exception.__init__(self, msg)
        self.code, self.msg, self.details = int(code), msg, details

    def to_dict(self, cni_version):
        version = cni_version if cni_version in SUPPORTED_VERSIONS else LATEST_VERSION
        return {"cniVersion": version, "code": self.code, "msg": self.msg, "details": self.details}

    def render(self, cni_version):
        return error_json(self.code, self.msg, self.details, cni_version)


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


# ---------------------------------------------------------------------------------------- CNI front end

def error_json(code, msg, details, cni_version):
    version = cni_version if cni_version in SUPPORTED_VERSIONS else LATEST_VERSION
    return '{"cniVersion": %s, "code": %d, "msg": %s, "details": %s}\n' % (
        quote(version), code, quote(msg), quote(details))


def check_env(environ, command):
    """The variables `command` needs, a well-formed container ID -> parsed CNI_ARGS; else CniError 4."""
    require(command, {name: environ.get(name) for name in REQUIRED_ENV[command]})
    container_id = environ.get("CNI_CONTAINERID", "")
    if container_id:
        check_container_id(container_id)
    return parse_cni_args(environ.get("CNI_ARGS", ""))


def require(command, values):
    """CniError 4 naming each of `values` (name -> value) that is missing or empty."""
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise CniError(INVALID_ENVIRONMENT, "%s needs %s, which %s not set" % (
            command, ", ".join(missing), "is" if len(missing) == 1 else "are"))


def check_container_id(container_id):
    """Non-empty, ASCII alphanumeric first, then alphanumerics and `_.-` (SPEC.md "Parameters")."""
    if not (container_id.isascii() and container_id[:1].isalnum() and all(
            c.isalnum() or c in CONTAINER_ID_PUNCTUATION for c in container_id)):
        raise CniError(INVALID_ENVIRONMENT, "CNI_CONTAINERID %r has invalid characters" % container_id,
                       "it must start with a letter or digit and contain only letters, digits, '_', '.', '-'")


def parse_cni_args(text):
    """`K=V;K2=V2` -> dict; empty segments are skipped, a segment without `=` is CniError 4."""
    args = {}
    for pair in text.split(";"):
        if pair:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CniError(INVALID_ENVIRONMENT, "CNI_ARGS: %r is not KEY=VALUE" % pair)
            args[key] = value
    return args


def decode_config(stdin):
    """stdin -> (its text, the JSON object); CniError 7 past MAX_CONFIG bytes, 6 when it is not one
    JSON object of at most MAX_DEPTH levels."""
    if len(stdin) > MAX_CONFIG:
        raise CniError(INVALID_CONFIG, "the network configuration on stdin is more than the %d bytes the plugin "
                                       "accepts" % MAX_CONFIG)
    try:
        text = stdin.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CniError(DECODE_FAILURE, "the network configuration on stdin is not UTF-8: %s" % exc)
    if not text.strip():
        raise CniError(DECODE_FAILURE, "no network configuration on stdin")
    try:
        config = loads(text)
    except RecursionError:
        config = None  # deeper than the interpreter's recursion limit: reported as too deep below
    except ValueError as exc:
        raise CniError(DECODE_FAILURE, "the network configuration on stdin is not JSON: %s" % exc)
    if config is None or too_deep(config):
        raise CniError(DECODE_FAILURE, "the network configuration on stdin nests deeper than %d levels" % MAX_DEPTH)
    if not isinstance(config, dict):
        raise CniError(DECODE_FAILURE, "the network configuration on stdin is not a JSON object")
    return text, config


def too_deep(value, limit=MAX_DEPTH):
    """Whether a decoded JSON value nests more than `limit` arrays/objects deep (iterative: no recursion)."""
    level = [value]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return any(isinstance(item, (dict, list)) for item in level)


def check_version(config, command):
    """The config's cniVersion when we speak it and it has `command`; else CniError 7 or 1."""
    version = config.get("cniVersion")
    if version is None or version == "":
        raise CniError(INVALID_CONFIG, "the network configuration has no cniVersion")
    if not isinstance(version, str):
        raise CniError(INVALID_CONFIG, "cniVersion %r is not a string" % (version,))
    if version not in SUPPORTED_VERSIONS:
        raise CniError(INCOMPATIBLE_VERSION, "incompatible CNI versions: the configuration asks for %s" % version,
                       "this plugin supports %s" % ", ".join(SUPPORTED_VERSIONS))
    first = MIN_VERSION.get(command)
    if first and tuple(map(int, version.split("."))) < tuple(map(int, first.split("."))):
        raise CniError(INCOMPATIBLE_VERSION, "cniVersion %s does not have %s" % (version, command),
                       "%s exists from CNI %s on" % (command, first))
    return version


def version_json(stdin):
    """VERSION: `{"cniVersion": <as given on input>, "supportedVersions": [...]}`; never fails, whatever
    stdin holds (too big, too deep, not JSON: the version list in our newest version)."""
    requested = requested_version(stdin, supported_only=False)
    version = requested if isinstance(requested, str) and requested else LATEST_VERSION
    versions = ", ".join(quote(v) for v in SUPPORTED_VERSIONS)
    return '{"cniVersion": %s, "supportedVersions": [%s]}\n' % (quote(version), versions)


def requested_version(stdin, supported_only=True):
    """The config's cniVersion for rendering an error, when it can be read at all (within MAX_CONFIG)."""
    if len(stdin) > MAX_CONFIG:
        return None
    try:
        version = loads(stdin.decode("utf-8") or "{}").get("cniVersion")
    except Exception:  # noqa: BLE001 - any unreadable config (RecursionError too): render in our newest version
        return None
    if not isinstance(version, str):
        return None
    return version if version in SUPPORTED_VERSIONS or not supported_only else None


def agent_body(command, environ, args, config_text, extra=()):
    """The JSON request body for the agent: `extra` (key, value) pairs, then the runtime's
    environment and CNI_ARGS; the config is passed through as the runtime wrote it."""
    fields = [("command", command)] + list(extra) + [(key, environ.get(env, "")) for key, env in (
        ("containerID", "CNI_CONTAINERID"), ("netns", "CNI_NETNS"), ("ifName", "CNI_IFNAME"), ("path", "CNI_PATH"))]
    cni_args = ", ".join("%s: %s" % (quote(k), quote(v)) for k, v in args.items())
    return ("{%s, \"cniArgs\": {%s}, \"config\": %s}" % (
        ", ".join("%s: %s" % (quote(k), quote(v)) for k, v in fields), cni_args, config_text)).encode("utf-8")


def run_commands(name, commands, environ, stdin, log_error, *extra):
    """Dispatch CNI_COMMAND to `commands[command](environ, stdin, *extra)` -> (exit code, stdout text).

    A CniError, or any bug, becomes the CNI error JSON in the requested version, and one line
    to `log_error` (the plugin's log; never stdout).
    """
    command = environ.get("CNI_COMMAND", "")
    handler = commands.get(command)
    try:
        if handler is None:
            raise CniError(INVALID_ENVIRONMENT, "CNI_COMMAND %r is unknown" % command if command
                           else "CNI_COMMAND is not set", "expected one of %s" % ", ".join(commands))
        return handler(environ, stdin, *extra)
    except CniError as exc:
        log_error("%s failed: %s" % (command or "(no command)", exc.msg))
        return 1, error_json(exc.code, exc.msg, exc.details, requested_version(stdin))
    except Exception as exc:  # a bug here must still reach the runtime as a CNI error
        log_error("%s crashed: %s: %s" % (command, type(exc).__name__, exc))
        return 1, error_json(INTERNAL, "%s plugin internal error: %s: %s" % (name, type(exc).__name__, exc),
                             "", requested_version(stdin))


def run_main(run):
    """The executable: stdin and the environment in, `run`'s stdout out, its exit code returned."""
    import os
    import sys

    # One byte past the bound is enough to refuse the config: a runtime gone wrong cannot make us hold gigabytes.
    stdin = sys.stdin.buffer.read(MAX_CONFIG + 1) if sys.stdin is not None else b""
    exit_code, stdout = run(os.environ, stdin)
    sys.stdout.buffer.write(stdout.encode("utf-8"))
    sys.stdout.buffer.flush()
    return exit_code


# ---------------------------------------------------------------------------------------- HTTP

class AgentError(Exception):
    """The agent could not be asked, answered nonsense, or refused the request. `code` is what the
    runtime should hear: TRY_AGAIN_LATER for a transient failure (busy, unreachable, timed out),
    INVALID_CONFIG / DECODE_FAILURE when the agent refused the request itself (retrying cannot help)."""

    def __init__(self, msg, code=TRY_AGAIN_LATER):
        Exception.__init__(self, msg)
        self.code = code


# The agent's HTTP refusals -> the CNI code the runtime gets (anything else non-200: try again later).
REFUSAL_CODES = {400: DECODE_FAILURE, 411: DECODE_FAILURE, 413: INVALID_CONFIG}


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
        try:
            sock.sendall(head.encode("ascii") + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent answered early (a refusal) and closed: read what it said
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
        try:
            reason = loads(text)["error"]
        except Exception:  # noqa: BLE001 - not our JSON error body: quote what came
            reason = text.strip()[:300] or "(empty body)"
        raise AgentError("HTTP %d: %s" % (status, reason), REFUSAL_CODES.get(status, TRY_AGAIN_LATER))
    try:
        reply = loads(text)
        exit_code, stdout = reply["exitCode"], reply["stdout"]
    except (ValueError, TypeError, KeyError):
        raise AgentError("an unreadable answer: %r" % text[:300])
    if not isinstance(exit_code, int) or isinstance(exit_code, bool) or not isinstance(stdout, str):
        raise AgentError("an unreadable answer: %r" % text[:300])
    return exit_code, stdout
