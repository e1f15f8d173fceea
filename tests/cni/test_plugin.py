"""The installed `spiderpool` plugin run as a container runtime runs it, against a fake agent."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from cni import plugin, pluginwire, protocol
from cni.install import bundled_source
from cni.protocol import render_result
from tests.cni.conftest import VERSIONS, netconf, runtime_env
from tests.cni.fake_agent import CANNED_RESULT, FakeAgent

COMMANDS_BY_VERSION = [(command, version) for version in VERSIONS for command in ("ADD", "DEL", "CHECK", "GC", "STATUS")
                       if command not in protocol.MIN_VERSION
                       or protocol.version_tuple(version) >= protocol.version_tuple(protocol.MIN_VERSION[command])]


def config_for(command: str, version: str, **ipam) -> dict:
    config = netconf(version, **ipam)
    if command in ("CHECK", "DEL"):
        config["prevResult"] = {"cniVersion": version, "interfaces": [{"name": "net1", "sandbox": "/x"}],
                                "ips": [{"address": "10.6.212.145/16", "gateway": "10.6.0.1", "interface": 0}]}
    if command == "GC":
        config["cni.dev/valid-attachments"] = [{"containerID": "4f1c0ffee", "ifname": "net1"}]
    return config


# ---------------------------------------------------------------------------- forwarding

@pytest.mark.parametrize(("command", "version"), COMMANDS_BY_VERSION)
def test_every_command_in_every_version_reaches_the_agent_and_prints_its_answer(run_plugin, agent, command, version):
    config = config_for(command, version)
    result = run_plugin(runtime_env(command), config, socket=agent.socket_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (render_result(CANNED_RESULT, version) if command == "ADD" else "")
    (request,) = agent.requests
    assert (request.method, request.path) == ("POST", "/v1/cni")
    expected = protocol.parse_request(runtime_env(command), json.dumps(config)).to_body()
    assert request.body == expected


def test_the_agent_receives_the_pod_identity_and_the_whole_config(run_plugin, agent):
    config = netconf("1.0.0", default_ipv4_ippool=["pool-a"])
    run_plugin(runtime_env("ADD"), config, socket=agent.socket_path)
    body = agent.requests[0].body
    assert body["command"] == "ADD" and body["containerID"] == "4f1c0ffee" and body["ifName"] == "net1"
    assert body["netns"] == "/var/run/netns/cni-1234" and body["path"] == "/opt/cni/bin"
    assert body["cniArgs"]["K8S_POD_NAME"] == "web-0" and body["cniArgs"]["IgnoreUnknown"] == "1"
    assert body["config"] == config


@pytest.mark.parametrize("version", VERSIONS)
def test_an_add_result_is_the_abbreviated_ipam_form_of_the_requested_version(run_plugin, agent, version):
    result = run_plugin(runtime_env("ADD"), netconf(version), socket=agent.socket_path).json
    assert result["cniVersion"] == version and "interfaces" not in result
    assert all("interface" not in ip for ip in result["ips"])
    assert all(("version" in ip) == version.startswith("0.") for ip in result["ips"])


def test_del_needs_no_network_namespace(run_plugin, agent):
    result = run_plugin(runtime_env("DEL", CNI_NETNS=None), config_for("DEL", "1.0.0"), socket=agent.socket_path)
    assert result.returncode == 0 and result.stdout == ""
    assert agent.requests[0].body["netns"] == ""


def test_an_error_from_the_agent_is_printed_exactly_with_its_exit_code(run_plugin, agent):
    agent.respond = lambda body: (200, {"exitCode": 1, "stdout": '{"cniVersion": "1.0.0", "code": 107, '
                                                                  '"msg": "pool exhausted", "details": ""}\n'})
    result = run_plugin(runtime_env("ADD"), netconf("1.0.0"), socket=agent.socket_path)
    assert result.returncode == 1
    assert result.stdout == '{"cniVersion": "1.0.0", "code": 107, "msg": "pool exhausted", "details": ""}\n'
    assert "ADD net1 -> exit 1 in " in result.stderr and "pool exhausted" in result.stderr


def test_a_config_the_plugin_forwards_but_the_agent_rejects_comes_back_as_its_cni_error(run_plugin, agent):
    config = netconf("0.4.0", routes=[{"dst": "0.0.0.0/0"}])  # host-local's key, not ours
    result = run_plugin(runtime_env("ADD"), config, socket=agent.socket_path)
    assert result.error_code == 2 and "ipam.routes" in result.json["msg"]
    assert result.json["cniVersion"] == "0.4.0"


def test_a_chunked_answer_is_reassembled(run_plugin, sock_dir):
    with FakeAgent(sock_dir / "chunky.sock", chunked=True) as agent:
        result = run_plugin(runtime_env("ADD"), netconf("1.1.0"), socket=agent.socket_path)
    assert result.returncode == 0 and result.stdout == render_result(CANNED_RESULT, "1.1.0")


# ---------------------------------------------------------------------------- which socket

def test_the_socket_comes_from_the_env_before_the_ipam_config(run_plugin, sock_dir):
    with FakeAgent(sock_dir / "env.sock") as by_env, FakeAgent(sock_dir / "conf.sock") as by_config:
        config = netconf(ipam_unix_socket_path=by_config.socket_path)
        run_plugin(runtime_env("ADD", SPIDERPOOL_SOCKET=by_env.socket_path), config)
        assert len(by_env.requests) == 1 and not by_config.requests
        run_plugin(runtime_env("ADD"), config)
        assert len(by_env.requests) == 1 and len(by_config.requests) == 1


@pytest.mark.skipif(os.path.exists(plugin.DEFAULT_SOCKET), reason="a real agent listens on this node")
def test_without_overrides_the_default_socket_is_used(run_plugin):
    result = run_plugin(runtime_env("ADD"), netconf())
    assert result.error_code == 11 and "/var/run/spidernet/spiderpool.sock" in result.json["msg"]


# ---------------------------------------------------------------------------- agent trouble

def test_a_missing_agent_socket_means_try_again_later_naming_the_socket(run_plugin, sock_dir):
    path = sock_dir / "absent.sock"
    result = run_plugin(runtime_env("ADD"), netconf(), socket=path)
    assert result.error_code == 11
    assert str(path) in result.json["msg"] and "does not exist" in result.json["msg"]
    assert str(path) in result.stderr  # and the log says so too


def test_a_socket_nobody_listens_on_means_try_again_later(run_plugin, sock_dir):
    path = sock_dir / "dead.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))  # bound, never listening: connect() is refused
    try:
        result = run_plugin(runtime_env("DEL"), config_for("DEL", "1.0.0"), socket=path)
    finally:
        dead.close()
    assert result.error_code == 11 and "connection refused" in result.json["msg"]


def test_status_reports_a_missing_agent_as_not_available(run_plugin, sock_dir):
    result = run_plugin(runtime_env("STATUS"), netconf("1.1.0"), socket=sock_dir / "absent.sock")
    assert result.error_code == 50 and result.json["cniVersion"] == "1.1.0"


def test_an_agent_answering_500_means_try_again_later_with_its_words(run_plugin, agent):
    agent.respond = lambda body: (500, b"informer cache not synced")
    result = run_plugin(runtime_env("ADD"), netconf(), socket=agent.socket_path)
    assert result.error_code == 11
    assert "HTTP 500" in result.json["msg"] and "informer cache not synced" in result.json["msg"]


@pytest.mark.parametrize("payload", [b"not json", {"exitCode": "0", "stdout": ""}, {"stdout": ""}, [1, 2]])
def test_an_unreadable_agent_answer_means_try_again_later(run_plugin, agent, payload):
    agent.respond = lambda body: (200, payload)
    result = run_plugin(runtime_env("ADD"), netconf(), socket=agent.socket_path)
    assert result.error_code == 11 and "unreadable answer" in result.json["msg"]


def serve_once(path: Path, answer: bytes) -> threading.Thread:
    """A raw unix-socket server that reads one request, writes `answer` verbatim and hangs up."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.recv(65536)
            conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_an_answer_cut_short_means_try_again_later(run_plugin, sock_dir):
    serve_once(sock_dir / "cut.sock", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"exitCode\"")
    result = run_plugin(runtime_env("ADD"), netconf(), socket=sock_dir / "cut.sock")
    assert result.error_code == 11 and "closed mid-answer" in result.json["msg"]


def test_an_answer_without_length_is_read_to_the_end_of_the_connection(run_plugin, sock_dir):
    serve_once(sock_dir / "old.sock", b'HTTP/1.0 200 OK\r\n\r\n{"exitCode": 0, "stdout": ""}')
    result = run_plugin(runtime_env("DEL"), config_for("DEL", "0.4.0"), socket=sock_dir / "old.sock")
    assert result.returncode == 0 and result.stdout == ""


def test_a_slow_agent_times_out_after_spiderpool_timeout(run_plugin, sock_dir):
    with FakeAgent(sock_dir / "slow.sock", delay=2.0) as agent:
        result = run_plugin(runtime_env("ADD", SPIDERPOOL_TIMEOUT="0.3"), netconf(), socket=agent.socket_path)
    assert result.error_code == 11 and "no answer within 0.3 s" in result.json["msg"]


# ---------------------------------------------------------------------------- the runtime's mistakes

@pytest.mark.parametrize(("stdin", "words"), [
    (b"{not json", "not JSON"),
    (b"", "no network configuration"),
    (b'["a list"]', "not a JSON object"),
    (b'{"cniVersion": "1.0.0"} trailing', "extra data"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_stdin_is_a_decode_failure(run_plugin, agent, stdin, words):
    result = run_plugin(runtime_env("ADD"), stdin, socket=agent.socket_path)
    assert result.error_code == 6 and words in result.json["msg"]
    assert not agent.requests


@pytest.mark.parametrize(("env", "words"), [
    (runtime_env("ADD", CNI_CONTAINERID=None), "ADD needs CNI_CONTAINERID, which is not set"),
    (runtime_env("ADD", CNI_NETNS=None, CNI_IFNAME=""), "ADD needs CNI_NETNS, CNI_IFNAME, which are not set"),
    (runtime_env("CHECK", CNI_NETNS=None), "CHECK needs CNI_NETNS"),
    (runtime_env("DEL", CNI_PATH=None), "DEL needs CNI_PATH"),
    (runtime_env("GC", CNI_PATH=None), "GC needs CNI_PATH"),
    (runtime_env("ADD", CNI_CONTAINERID="-leading-dash"), "CNI_CONTAINERID '-leading-dash' has invalid characters"),
    (runtime_env("ADD", CNI_ARGS="K8S_POD_NAME"), "CNI_ARGS: 'K8S_POD_NAME' is not KEY=VALUE"),
    (runtime_env("ADD", CNI_COMMAND=None), "CNI_COMMAND is not set"),
    (runtime_env("ADD", CNI_COMMAND="UPDATE"), "CNI_COMMAND 'UPDATE' is unknown"),
])
def test_missing_or_malformed_environment_is_an_invalid_environment_error(run_plugin, agent, env, words):
    result = run_plugin(env, config_for(env.get("CNI_COMMAND", "ADD"), "1.1.0"), socket=agent.socket_path)
    assert result.error_code == 4 and words in result.json["msg"]
    assert not agent.requests


@pytest.mark.parametrize(("command", "version", "code", "words"), [
    ("ADD", "0.2.0", 1, "incompatible CNI versions: the configuration asks for 0.2.0"),
    ("ADD", "9.9.9", 1, "asks for 9.9.9"),
    ("CHECK", "0.3.1", 1, "cniVersion 0.3.1 does not have CHECK"),
    ("GC", "1.0.0", 1, "cniVersion 1.0.0 does not have GC"),
    ("STATUS", "0.4.0", 1, "cniVersion 0.4.0 does not have STATUS"),
    ("ADD", None, 7, "no cniVersion"),
    ("ADD", 1.0, 7, "cniVersion 1.0 is not a string"),
])
def test_a_version_we_do_not_speak_is_refused_before_the_agent_is_asked(run_plugin, agent, command, version, code,
                                                                        words):
    config = config_for(command, "1.1.0")
    config["cniVersion"] = version
    result = run_plugin(runtime_env(command), config, socket=agent.socket_path)
    assert result.error_code == code and words in result.json["msg"]
    assert not agent.requests


# ---------------------------------------------------------------------------- VERSION and logs

def test_version_is_answered_without_an_agent(run_plugin, sock_dir):
    result = run_plugin({"CNI_COMMAND": "VERSION"}, {"cniVersion": "0.4.0"}, socket=sock_dir / "absent.sock")
    assert result.returncode == 0
    assert result.json == {"cniVersion": "0.4.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}
    assert run_plugin({"CNI_COMMAND": "VERSION"}, b"").json["cniVersion"] == "1.1.0"


def test_logs_go_to_the_configured_file_and_never_to_stdout(run_plugin, agent, tmp_path):
    log = tmp_path / "spiderpool.log"
    result = run_plugin(runtime_env("ADD"), netconf(log_file_path=str(log), log_level="DEBUG"),
                        socket=agent.socket_path)
    assert result.returncode == 0 and result.stderr == ""
    (line,) = log.read_text().splitlines()
    assert " DEBUG spiderpool[" in line and "4f1c0ffee: ADD net1 -> exit 0 in " in line


def test_at_the_default_level_a_success_logs_nothing_and_a_failure_logs_its_cause(run_plugin, sock_dir, tmp_path):
    log = tmp_path / "spiderpool.log"
    with FakeAgent(sock_dir / "a.sock") as agent:
        assert run_plugin(runtime_env("ADD"), netconf(log_file_path=str(log)), socket=agent.socket_path).stderr == ""
    assert not log.exists()
    run_plugin(runtime_env("ADD"), netconf(log_file_path=str(log)), socket=sock_dir / "a.sock")
    assert " ERROR " in log.read_text() and "does not exist" in log.read_text()


def test_an_unwritable_log_file_falls_back_to_stderr(run_plugin, agent, tmp_path):
    config = netconf(log_file_path=str(tmp_path / "no-such-dir" / "x.log"), log_level="debug")
    result = run_plugin(runtime_env("ADD"), config, socket=agent.socket_path)
    assert result.returncode == 0
    assert "cannot write log file" in result.stderr and "ADD net1 -> exit 0" in result.stderr


def test_a_full_log_file_is_rotated(run_plugin, agent, tmp_path):
    log = tmp_path / "spiderpool.log"
    log.write_bytes(b"x" * (1 << 20))
    (tmp_path / "spiderpool.log.1").write_text("older\n")
    config = netconf(log_file_path=str(log), log_level="debug", log_file_max_size=1, log_file_max_count=2)
    run_plugin(runtime_env("ADD"), config, socket=agent.socket_path)
    assert log.read_text().count("\n") == 1
    assert (tmp_path / "spiderpool.log.1").stat().st_size == 1 << 20
    assert (tmp_path / "spiderpool.log.2").read_text() == "older\n"


# ---------------------------------------------------------------------------- staying small and fast

FORBIDDEN_MODULES = {"json", "socket", "re", "enum", "logging", "http", "email", "selectors", "cni", "typing"}


def test_an_add_imports_none_of_the_slow_stdlib_packages_nor_the_project(plugin_bin, agent):
    interpreter = plugin_bin.read_text().split("\n", 1)[0][2:].split()[0]
    proc = subprocess.run([interpreter, "-IS", "-X", "importtime", str(plugin_bin)],
                          input=json.dumps(netconf()).encode(), capture_output=True,
                          env={**runtime_env("ADD"), "SPIDERPOOL_SOCKET": agent.socket_path})
    assert proc.returncode == 0, proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.decode().splitlines()
                if line.startswith("import time:") and "|" in line} - {"imported package"}
    assert "_json" in imported and "_socket" in imported  # the test can see imports
    assert not imported & FORBIDDEN_MODULES


def test_the_plugin_module_imports_only_os_sys_and_time_at_top_level():
    """As installed: with cni/pluginwire.py inlined in place of its marked import."""
    tree = ast.parse(bundled_source("cni.plugin"))
    top = {alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
           for alias in node.names}
    assert top == {"os", "sys", "time"}


def test_the_plugin_tables_are_the_protocol_tables():
    assert plugin.SUPPORTED_VERSIONS == protocol.SUPPORTED_VERSIONS
    assert plugin.REQUIRED_ENV == protocol.REQUIRED_ENV and plugin.MIN_VERSION == protocol.MIN_VERSION
    assert plugin.CONTAINER_ID_PUNCTUATION == protocol.CONTAINER_ID_PUNCTUATION
    assert set(plugin.COMMANDS) == set(protocol.COMMANDS) == set(plugin.TIMEOUTS) | {"VERSION"}


@pytest.mark.parametrize("stdin", [b"", b'{"cniVersion": "0.3.1"}', b"not json", b'{"cniVersion": 3}'])
def test_the_plugin_writes_version_and_errors_byte_for_byte_as_the_protocol_module(stdin):
    assert plugin.run({"CNI_COMMAND": "VERSION"}, stdin) == (0, protocol.render_version(stdin))
    error = protocol.CniError(11, "agent \"x\" said \u00e9", "line\nbreak")
    for version in ("0.4.0", None, "7.0.0"):
        assert plugin.error_json(error.code, error.msg, error.details, version) == error.render(version)


@pytest.mark.parametrize(("env", "stdin"), [
    (runtime_env("ADD", CNI_CONTAINERID=None), netconf()),
    (runtime_env("ADD", CNI_CONTAINERID="a/b"), netconf()),
    (runtime_env("DEL", CNI_ARGS="=x"), netconf()),
    (runtime_env("ADD"), b"nope"),
    (runtime_env("ADD"), b"[]"),
    (runtime_env("ADD"), {**netconf(), "cniVersion": "0.1.0"}),
    (runtime_env("ADD"), {**netconf(), "cniVersion": ""}),
    (runtime_env("CHECK"), {**netconf(), "cniVersion": "0.3.0"}),
    (runtime_env("STATUS"), netconf("1.0.0")),
])
def test_the_plugin_and_the_protocol_module_refuse_the_same_inputs_with_the_same_code(env, stdin):
    data = stdin if isinstance(stdin, bytes) else json.dumps(stdin).encode()
    exit_code, stdout = plugin.run(env, data)
    with pytest.raises(protocol.CniError) as caught:
        protocol.parse_request(env, data)
    assert exit_code == 1 and json.loads(stdout)["code"] == caught.value.code


def test_the_plugin_module_runs_on_the_pure_python_json_fallback_too(monkeypatch):
    monkeypatch.setitem(sys.modules, "_json", None)  # as on an interpreter without the C accelerator
    quote, loads = pluginwire._json_codec()
    assert quote("a\"b") == '"a\\"b"' and loads(' {"a": [1, 2.5, null]} ') == {"a": [1, 2.5, None]}
