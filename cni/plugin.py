"""The `spiderpool` IPAM plugin: what a container runtime executes for every pod.

Why it exists and why it looks like this: the runtime (through macvlan and
friends) execs this file on each ADD/DEL/CHECK/GC/STATUS, so its start-up is on
every pod's critical path. It answers VERSION itself and forwards everything
else, after the spec's cheap checks, to the node agent: `POST /v1/cni` over the
agent's unix socket, then prints exactly the `stdout` and exits with exactly the
`exitCode` the agent sends back. All the thinking happens in the warm agent.

`cni/install.py` writes this file standalone into the runtime's plugin dir (with
`cni/pluginwire.py` inlined in place of its marked import), so it uses only the
standard library's C cores: `json`, `socket`, `logging` and `http.client` would pull
in `re`, `enum` and `email` and cost 10-40 ms per pod; `_json`, `_socket` and the
small HTTP/1.1 client of `cni/pluginwire.py` cost under 1 ms. The tables below are copies of those in
`cni/protocol.py` (a test pins them equal).

Socket: env SPIDERPOOL_SOCKET > ipam.ipam_unix_socket_path > the default.
Timeout: env SPIDERPOOL_TIMEOUT (seconds) > TIMEOUTS[command].
Logs (never stdout): ipam.log_file_path at ipam.log_level, else stderr.
"""

import os
import sys
import time

from cni.pluginwire import AgentError, ask_agent, loads, quote  # install-cni: inline

DEFAULT_SOCKET = "/var/run/spidernet/spiderpool.sock"
AGENT_PATH = "/v1/cni"
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
REQUIRED_ENV = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "GC": ("CNI_PATH",),
    "STATUS": ("CNI_PATH",),
}
MIN_VERSION = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}
TIMEOUTS = {"ADD": 120.0, "CHECK": 120.0, "DEL": 60.0, "GC": 60.0, "STATUS": 10.0}
CONTAINER_ID_PUNCTUATION = "_.-"

# CNI error codes (SPEC.md); STATUS reports an absent agent as "not available".
INCOMPATIBLE_VERSION, INVALID_ENVIRONMENT, DECODE_FAILURE, INVALID_CONFIG = 1, 4, 6, 7
TRY_AGAIN_LATER, NOT_AVAILABLE, INTERNAL = 11, 50, 999

LOG_LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "fatal": 50, "panic": 50}
LOG_ROTATE_DEFAULTS = {"log_file_max_size": 100, "log_file_max_age": 30, "log_file_max_count": 10}


class CniError(Exception):
    def __init__(self, code, msg, details=""):
        Exception.__init__(self, msg)
        self.code, self.msg, self.details = code, msg, details




def error_json(code, msg, details, cni_version):
    version = cni_version if cni_version in SUPPORTED_VERSIONS else LATEST_VERSION
    return '{"cniVersion": %s, "code": %d, "msg": %s, "details": %s}\n' % (
        quote(version), code, quote(msg), quote(details))


# ---------------------------------------------------------------------------------------- logging

class Log:
    """One line per event, to stderr or appended to a file (O_APPEND: safe across concurrent plugins)."""

    def __init__(self, container_id=""):
        self.container_id, self.path, self.rotate, self.threshold = container_id, "", {}, LOG_LEVELS["info"]

    def configure(self, ipam):
        """Take the ipam section's log settings; values of the wrong type keep the defaults."""
        path, level = ipam.get("log_file_path"), ipam.get("log_level")
        if isinstance(path, str):
            self.path = path
        if isinstance(level, str):
            self.threshold = LOG_LEVELS.get(level.lower(), 20)
        for key, default in LOG_ROTATE_DEFAULTS.items():
            value = ipam.get(key, default)
            self.rotate[key] = value if isinstance(value, int) and value >= 0 else default

    def debug(self, msg):
        self.write(10, "debug", msg)

    def error(self, msg):
        self.write(40, "error", msg)

    def write(self, level, name, msg):
        if level < self.threshold:
            return
        now = time.time()
        line = "%s.%03dZ %s spiderpool[%d] %s: %s\n" % (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)), int(now * 1000) % 1000, name.upper(),
            os.getpid(), self.container_id[:12] or "-", msg)
        if self.path and self.append(line.encode("utf-8", "replace")):
            return
        sys.stderr.write(line)

    def append(self, data):
        try:
            self.rotate_if_full()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            return True
        except OSError as exc:
            sys.stderr.write("spiderpool: cannot write log file %s (%s); logging to stderr\n" % (self.path, exc))
            self.path = ""
            return False

    def rotate_if_full(self):
        """path -> path.1 -> ... -> path.N past log_file_max_size MB; rotated files past max age go."""
        limit, count = self.rotate.get("log_file_max_size", 0), self.rotate.get("log_file_max_count", 0)
        max_age = self.rotate.get("log_file_max_age", 0) * 86400
        try:
            if not limit or os.stat(self.path).st_size < limit << 20:
                return
            for i in range(count - 1, 0, -1):
                if os.path.exists("%s.%d" % (self.path, i)):
                    os.replace("%s.%d" % (self.path, i), "%s.%d" % (self.path, i + 1))
            if count:
                os.replace(self.path, self.path + ".1")
            else:
                os.unlink(self.path)
            for i in range(2, count + 1):
                old = "%s.%d" % (self.path, i)
                if max_age and os.path.exists(old) and time.time() - os.stat(old).st_mtime > max_age:
                    os.unlink(old)
        except OSError:
            pass  # another plugin process rotated first


# ---------------------------------------------------------------------------------------- request

def check_env(environ, command):
    """The variables `command` needs, a well-formed container ID -> parsed CNI_ARGS; else CniError 4."""
    missing = [name for name in REQUIRED_ENV[command] if not environ.get(name)]
    if missing:
        raise CniError(INVALID_ENVIRONMENT, "%s needs %s, which %s not set" % (
            command, ", ".join(missing), "is" if len(missing) == 1 else "are"))
    container_id = environ.get("CNI_CONTAINERID", "")
    if container_id and not valid_container_id(container_id):
        raise CniError(INVALID_ENVIRONMENT, "CNI_CONTAINERID %r has invalid characters" % container_id,
                       "it must start with a letter or digit and contain only letters, digits, '_', '.', '-'")
    return parse_cni_args(environ.get("CNI_ARGS", ""))


def valid_container_id(container_id):
    return container_id.isascii() and container_id[0].isalnum() and all(
        c.isalnum() or c in CONTAINER_ID_PUNCTUATION for c in container_id)


def parse_cni_args(text):
    args = {}
    for pair in text.split(";"):
        if pair:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CniError(INVALID_ENVIRONMENT, "CNI_ARGS: %r is not KEY=VALUE" % pair)
            args[key] = value
    return args


def decode_config(stdin):
    try:
        text = stdin.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CniError(DECODE_FAILURE, "the network configuration on stdin is not UTF-8: %s" % exc)
    if not text.strip():
        raise CniError(DECODE_FAILURE, "no network configuration on stdin")
    try:
        config = loads(text)
    except (ValueError, RecursionError) as exc:
        raise CniError(DECODE_FAILURE, "the network configuration on stdin is not JSON: %s" % exc)
    if not isinstance(config, dict):
        raise CniError(DECODE_FAILURE, "the network configuration on stdin is not a JSON object")
    return text, config


def check_version(config, command):
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


def agent_body(command, environ, args, config_text):
    """The JSON request body; the config is passed through as the runtime wrote it."""
    fields = [("command", command)] + [(key, environ.get(env, "")) for key, env in (
        ("containerID", "CNI_CONTAINERID"), ("netns", "CNI_NETNS"), ("ifName", "CNI_IFNAME"), ("path", "CNI_PATH"))]
    cni_args = ", ".join("%s: %s" % (quote(k), quote(v)) for k, v in args.items())
    return ("{%s, \"cniArgs\": {%s}, \"config\": %s}" % (
        ", ".join("%s: %s" % (quote(k), quote(v)) for k, v in fields), cni_args, config_text)).encode("utf-8")


def socket_path(environ, ipam):
    configured = ipam.get("ipam_unix_socket_path")
    return environ.get("SPIDERPOOL_SOCKET") or (configured if isinstance(configured, str) else "") or DEFAULT_SOCKET


def timeout_for(environ, command):
    """SPIDERPOOL_TIMEOUT seconds when it is a sane positive number, else the command's default."""
    try:
        seconds = float(environ["SPIDERPOOL_TIMEOUT"])
    except (KeyError, ValueError):
        return TIMEOUTS[command]
    return seconds if 0 < seconds < 86400 else TIMEOUTS[command]


# ---------------------------------------------------------------------------------------- commands

def cmd_version(environ, stdin, log):
    try:
        requested = loads(stdin.decode("utf-8") or "{}").get("cniVersion")
    except (ValueError, UnicodeDecodeError, AttributeError):
        requested = None
    version = requested if isinstance(requested, str) and requested else LATEST_VERSION
    versions = ", ".join(quote(v) for v in SUPPORTED_VERSIONS)
    return 0, '{"cniVersion": %s, "supportedVersions": [%s]}\n' % (quote(version), versions)


def cmd_forward(environ, stdin, log):
    """ADD, DEL, CHECK, GC, STATUS: check what the spec asks of us, then let the agent answer."""
    command = environ["CNI_COMMAND"]
    args = check_env(environ, command)
    text, config = decode_config(stdin)
    ipam = config.get("ipam") if isinstance(config.get("ipam"), dict) else {}
    log.configure(ipam)
    version = check_version(config, command)
    path, timeout = socket_path(environ, ipam), timeout_for(environ, command)
    what = " ".join(filter(None, (command, environ.get("CNI_IFNAME"))))
    started = time.monotonic()
    try:
        exit_code, stdout = ask_agent(path, AGENT_PATH, agent_body(command, environ, args, text), timeout)
    except AgentError as exc:
        code = NOT_AVAILABLE if command == "STATUS" else TRY_AGAIN_LATER
        msg = "spiderpool agent at %s: %s" % (path, exc)
        log.error("%s failed: %s" % (what, msg))
        return 1, error_json(code, msg, "", version)
    outcome = "%s -> exit %d in %.1f ms" % (what, exit_code, (time.monotonic() - started) * 1000)
    if exit_code:
        log.error("%s: %s" % (outcome, stdout.strip()))
    else:
        log.debug(outcome)
    return exit_code, stdout


COMMANDS = {"VERSION": cmd_version, "ADD": cmd_forward, "DEL": cmd_forward, "CHECK": cmd_forward,
            "GC": cmd_forward, "STATUS": cmd_forward}


def run(environ, stdin):
    """-> (exit code, stdout text). The whole plugin, free of process globals for tests."""
    log = Log(environ.get("CNI_CONTAINERID", ""))
    command = environ.get("CNI_COMMAND", "")
    handler = COMMANDS.get(command)
    try:
        if handler is None:
            raise CniError(INVALID_ENVIRONMENT, "CNI_COMMAND %r is unknown" % command if command
                           else "CNI_COMMAND is not set", "expected one of %s" % ", ".join(COMMANDS))
        return handler(environ, stdin, log)
    except CniError as exc:
        log.error("%s failed: %s" % (command or "(no command)", exc.msg))
        return 1, error_json(exc.code, exc.msg, exc.details, requested_version(stdin))
    except Exception as exc:  # a bug here must still reach the runtime as a CNI error
        log.error("%s crashed: %s: %s" % (command, type(exc).__name__, exc))
        return 1, error_json(INTERNAL, "spiderpool plugin internal error: %s: %s" % (type(exc).__name__, exc),
                             "", requested_version(stdin))


def requested_version(stdin):
    """The config's cniVersion for rendering an error, when it can be read at all."""
    try:
        version = loads(stdin.decode("utf-8")).get("cniVersion")
    except Exception:  # noqa: BLE001 - any unreadable config: render in our newest version
        return None
    return version if version in SUPPORTED_VERSIONS else None


def main():
    stdin = sys.stdin.buffer.read() if sys.stdin is not None else b""
    exit_code, stdout = run(os.environ, stdin)
    out = sys.stdout.buffer
    out.write(stdout.encode("utf-8"))
    out.flush()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
