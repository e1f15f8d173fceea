"""The `coordinator` CNI meta-plugin: what a runtime executes after the main plugin, for every pod NIC.

Why it exists and why it looks like this: it is on every pod's critical path, so it
does what `cni/plugin.py` does — answers VERSION itself, checks what the spec asks,
and forwards the request to the warm node agent (`POST /v1/coordinator` over its unix
socket, /v1/cni's body plus `hostNetns`: this process's namespace, the node's, which
the agent enters while we wait). The agent plans and applies routes, rules and
neighbours and answers `{"exitCode", "stdout"}`; we print and exit with exactly that.
ADD's stdout is prevResult unchanged, in the conf's cniVersion.

`cni/install.py` writes this file standalone into the plugin dir, with `cni/pluginwire.py`
(the CNI front end, JSON codec and HTTP/1.1 client it shares with `cni/plugin.py`) inlined
in place of its marked import: standard library C cores only.
Socket: env SPIDERPOOL_SOCKET > the conf's `unixSocketPath` > the default.
Timeout: env SPIDERPOOL_TIMEOUT (seconds) > TIMEOUTS[command], as for the IPAM plugin.
"""

import os
import sys

from cni.pluginwire import (DEFAULT_SOCKET, AgentError, agent_body, ask_agent, check_env,
                            check_version, decode_config, error_json, run_commands, run_main, timeout_for,
                            version_json)  # install-cni: inline

AGENT_PATH = "/v1/coordinator"
TIMEOUTS = {"ADD": 120.0, "CHECK": 120.0, "DEL": 60.0}


def cmd_version(environ, stdin):
    return 0, version_json(stdin)


def cmd_local(environ, stdin):
    """GC and STATUS: the coordinator holds no state of its own to collect or report."""
    check_env(environ, environ["CNI_COMMAND"])
    check_version(decode_config(stdin)[1], environ["CNI_COMMAND"])
    return 0, ""


def cmd_forward(environ, stdin):
    command = environ["CNI_COMMAND"]
    args = check_env(environ, command)
    text, config = decode_config(stdin)
    version = check_version(config, command)
    configured = config.get("unixSocketPath")
    path = environ.get("SPIDERPOOL_SOCKET") or (configured if isinstance(configured, str) else "") or DEFAULT_SOCKET
    body = agent_body(command, environ, args, text, extra=(("hostNetns", "/proc/%d/ns/net" % os.getpid()),))
    try:
        return ask_agent(path, AGENT_PATH, body, timeout_for(environ, command, TIMEOUTS))
    except AgentError as exc:
        return 1, error_json(exc.code, "coordinator: spiderpool agent at %s: %s" % (path, exc), "", version)


COMMANDS = {"VERSION": cmd_version, "ADD": cmd_forward, "DEL": cmd_forward, "CHECK": cmd_forward,
            "GC": cmd_local, "STATUS": cmd_local}


def log_error(line):
    sys.stderr.write("coordinator: %s\n" % line)


def run(environ, stdin):
    """-> (exit code, stdout text)."""
    return run_commands("coordinator", COMMANDS, environ, stdin, log_error)


def main():
    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
