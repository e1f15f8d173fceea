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
small HTTP/1.1 client of `cni/pluginwire.py` cost under 1 ms. The CNI front end (versions,
required environment, error codes, CNI_ARGS, VERSION) is the kit's, shared with the coordinator
plugin and with `cni/protocol.py`.

Socket: env SPIDERPOOL_SOCKET > ipam.ipam_unix_socket_path > the default.
Timeout: env SPIDERPOOL_TIMEOUT (seconds) > TIMEOUTS[command].
Logs (never stdout): ipam.log_file_path at ipam.log_level, else stderr.
"""

import os
import sys
import time

from cni.pluginwire import (CONTAINER_ID_PUNCTUATION, DEFAULT_SOCKET, MIN_VERSION, NOT_AVAILABLE, REQUIRED_ENV,
                            SUPPORTED_VERSIONS, TRY_AGAIN_LATER, AgentError, agent_body, ask_agent, check_env,
                            check_version, decode_config, error_json, run_commands, run_main, timeout_for,
                            version_json)  # install-cni: inline

AGENT_PATH = "/v1/cni"
TIMEOUTS = {"ADD": 120.0, "CHECK": 120.0, "DEL": 60.0, "GC": 60.0, "STATUS": 10.0}
LOG_LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "fatal": 50, "panic": 50}
LOG_ROTATE_DEFAULTS = {"log_file_max_size": 100, "log_file_max_age": 30, "log_file_max_count": 10}


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

def socket_path(environ, ipam):
    configured = ipam.get("ipam_unix_socket_path")
    return environ.get("SPIDERPOOL_SOCKET") or (configured if isinstance(configured, str) else "") or DEFAULT_SOCKET


# ---------------------------------------------------------------------------------------- commands

def cmd_version(environ, stdin, log):
    return 0, version_json(stdin)


def cmd_forward(environ, stdin, log):
    """ADD, DEL, CHECK, GC, STATUS: check what the spec asks of us, then let the agent answer."""
    command = environ["CNI_COMMAND"]
    args = check_env(environ, command)
    text, config = decode_config(stdin)
    ipam = config.get("ipam") if isinstance(config.get("ipam"), dict) else {}
    log.configure(ipam)
    version = check_version(config, command)
    path, timeout = socket_path(environ, ipam), timeout_for(environ, command, TIMEOUTS)
    what = " ".join(filter(None, (command, environ.get("CNI_IFNAME"))))
    started = time.monotonic()
    try:
        exit_code, stdout = ask_agent(path, AGENT_PATH, agent_body(command, environ, args, text), timeout)
    except AgentError as exc:
        code = NOT_AVAILABLE if command == "STATUS" and exc.code == TRY_AGAIN_LATER else exc.code
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
    return run_commands("spiderpool", COMMANDS, environ, stdin, log.error, log)


def main():
    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
