"""The `coordinator` CNI meta-plugin: what a runtime executes after the main plugin, for every pod NIC.

Why it exists and why it looks like this: it is on every pod's critical path, so it
does what `cni/plugin.py` does — answers VERSION itself, checks what the spec asks,
and forwards the request to the warm node agent (`POST /v1/coordinator` over its unix
socket, /v1/cni's body plus `hostNetns`: this process's namespace, the node's, which
the agent enters while we wait). The agent plans and applies routes, rules and
neighbours and answers `{"exitCode", "stdout"}`; we print and exit with exactly that.
ADD's stdout is prevResult unchanged, in the conf's cniVersion.

`cni/install.py` writes this file standalone into the plugin dir, with `cni/pluginwire.py`
(the JSON codec and HTTP/1.1 client it shares with `cni/plugin.py`) inlined in place of
its marked import: standard library C cores only.
Socket: env SPIDERPOOL_SOCKET > the conf's `unixSocketPath` > the default.
"""

import os
import sys

from cni.pluginwire import AgentError, ask_agent, loads, quote  # install-cni: inline

DEFAULT_SOCKET = "/var/run/spidernet/spiderpool.sock"
AGENT_PATH = "/v1/coordinator"
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
REQUIRED_ENV = {"ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"), "CHECK": ("CNI_CONTAINERID", "CNI_NETNS",
                "CNI_IFNAME"), "DEL": ("CNI_CONTAINERID", "CNI_IFNAME")}
TIMEOUTS = {"ADD": 120.0, "CHECK": 120.0, "DEL": 60.0}
INCOMPATIBLE_VERSION, INVALID_ENVIRONMENT, DECODE_FAILURE, INVALID_CONFIG = 1, 4, 6, 7
TRY_AGAIN_LATER, INTERNAL = 11, 999


class CniError(Exception):
    def __init__(self, code, msg):
        Exception.__init__(self, msg)
        self.code, self.msg = code, msg


def error_json(code, msg, cni_version):
    version = cni_version if cni_version in SUPPORTED_VERSIONS else LATEST_VERSION
    return '{"cniVersion": %s, "code": %d, "msg": %s, "details": ""}\n' % (quote(version), code, quote(msg))


def parse_cni_args(text):
    args = {}
    for pair in text.split(";"):
        key, sep, value = pair.partition("=")
        if pair and (not sep or not key):
            raise CniError(INVALID_ENVIRONMENT, "CNI_ARGS: %r is not KEY=VALUE" % pair)
        if pair:
            args[key] = value
    return args


def read_config(stdin):
    try:
        text = stdin.decode("utf-8")
        config = loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CniError(DECODE_FAILURE, "the network configuration on stdin is not JSON: %s" % exc)
    if not isinstance(config, dict):
        raise CniError(DECODE_FAILURE, "the network configuration on stdin is not a JSON object")
    version = config.get("cniVersion")
    if version not in SUPPORTED_VERSIONS:
        raise CniError(INCOMPATIBLE_VERSION, "incompatible CNI versions: the configuration asks for %r" % (version,))
    return text, config, version


def agent_body(command, environ, args, config_text):
    fields = [("command", command), ("hostNetns", "/proc/%d/ns/net" % os.getpid())] + [
        (key, environ.get(env, "")) for key, env in (("containerID", "CNI_CONTAINERID"), ("netns", "CNI_NETNS"),
                                                    ("ifName", "CNI_IFNAME"), ("path", "CNI_PATH"))]
    cni_args = ", ".join("%s: %s" % (quote(k), quote(v)) for k, v in args.items())
    return ("{%s, \"cniArgs\": {%s}, \"config\": %s}" % (
        ", ".join("%s: %s" % (quote(k), quote(v)) for k, v in fields), cni_args, config_text)).encode("utf-8")


def cmd_version(environ, stdin):
    versions = ", ".join(quote(v) for v in SUPPORTED_VERSIONS)
    return 0, '{"cniVersion": %s, "supportedVersions": [%s]}\n' % (quote(LATEST_VERSION), versions)


def cmd_local(environ, stdin):
    """GC and STATUS: the coordinator holds no state of its own to collect or report."""
    read_config(stdin)
    return 0, ""


def cmd_forward(environ, stdin):
    command = environ["CNI_COMMAND"]
    missing = [name for name in REQUIRED_ENV[command] if not environ.get(name)]
    if missing:
        raise CniError(INVALID_ENVIRONMENT, "%s needs %s" % (command, ", ".join(missing)))
    args = parse_cni_args(environ.get("CNI_ARGS", ""))
    text, config, version = read_config(stdin)
    configured = config.get("unixSocketPath")
    path = environ.get("SPIDERPOOL_SOCKET") or (configured if isinstance(configured, str) else "") or DEFAULT_SOCKET
    try:
        return ask_agent(path, AGENT_PATH, agent_body(command, environ, args, text), TIMEOUTS[command])
    except AgentError as exc:
        return 1, error_json(TRY_AGAIN_LATER, "coordinator: spiderpool agent at %s: %s" % (path, exc), version)


COMMANDS = {"VERSION": cmd_version, "ADD": cmd_forward, "DEL": cmd_forward, "CHECK": cmd_forward,
            "GC": cmd_local, "STATUS": cmd_local}


def run(environ, stdin):
    """-> (exit code, stdout text)."""
    command = environ.get("CNI_COMMAND", "")
    try:
        handler = COMMANDS.get(command)
        if handler is None:
            raise CniError(INVALID_ENVIRONMENT, "CNI_COMMAND %r is unknown" % command)
        return handler(environ, stdin)
    except CniError as exc:
        sys.stderr.write("coordinator: %s failed: %s\n" % (command, exc.msg))
        return 1, error_json(exc.code, exc.msg, None)
    except Exception as exc:  # a bug here must still reach the runtime as a CNI error
        return 1, error_json(INTERNAL, "coordinator plugin internal error: %s: %s" % (type(exc).__name__, exc), None)


def main():
    stdin = sys.stdin.buffer.read() if sys.stdin is not None else b""
    exit_code, stdout = run(os.environ, stdin)
    sys.stdout.buffer.write(stdout.encode("utf-8"))
    sys.stdout.buffer.flush()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
