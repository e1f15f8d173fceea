"""Both installed plugins answer the hostile stdin corpus exactly, in the version asked when it can be read.

They run against a real agent server (stub routes) so that a request that does reach it is answered
as in production; none of the corpus should get that far. Then: the agent's refusals become CNI
errors that are not retried, and the coordinator honours SPIDERPOOL_TIMEOUT as the IPAM plugin does.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from agent.server import AgentServer, Routes
from cni.install import install
from tests.cni.conftest import runtime_env
from tests.cni.fake_agent import FakeAgent

from .hostile.stdin import CORPUS, conf

PLUGINS = ("spiderpool", "coordinator")


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory):
    dest = tmp_path_factory.mktemp("opt-cni-bin")
    install(dest)
    return dest


@pytest.fixture
def agent_socket(sock_dir):
    calls = []

    def route(body, peer):
        calls.append(body)
        return {"exitCode": 0, "stdout": ""}

    path = str(sock_dir / "agent.sock")
    server = AgentServer(path, Routes(cni=route, coordinator=route, ready=lambda: [], metrics=lambda: "")).start()
    yield path, calls
    server.stop()


def run(bin_dir, plugin: str, env: dict, stdin: bytes, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / plugin)], input=stdin, env=env, capture_output=True, timeout=timeout, cwd="/")


@pytest.mark.parametrize("plugin", PLUGINS)
@pytest.mark.parametrize(("command", "changes", "stdin", "exit_code", "answer"), [case[1:] for case in CORPUS],
                         ids=[case[0] for case in CORPUS])
def test_each_hostile_stdin_gets_its_exact_answer(bin_dir, agent_socket, plugin, command, changes, stdin, exit_code,
                                                 answer):
    path, calls = agent_socket
    env = runtime_env(command or "ADD", SPIDERPOOL_SOCKET=path, CNI_COMMAND=command, **changes)

    proc = run(bin_dir, plugin, env, stdin)

    assert (proc.returncode, json.loads(proc.stdout)) == (exit_code, answer), proc.stderr.decode()[-500:]
    assert calls == []


@pytest.mark.parametrize(("status", "code"), [(400, 6), (411, 6), (413, 7), (503, 11)])
@pytest.mark.parametrize("plugin", PLUGINS)
def test_an_agent_refusal_becomes_a_cni_error_that_says_why(bin_dir, sock_dir, plugin, status, code):
    refusal = {"error": "the request body is too much"}
    with FakeAgent(sock_dir / "a.sock", lambda body: (status, refusal)) as agent:
        env = runtime_env("ADD", SPIDERPOOL_SOCKET=agent.socket_path)
        proc = run(bin_dir, plugin, env, conf("1.0.0", prevResult={"cniVersion": "1.0.0"}))
    error = json.loads(proc.stdout)
    assert (proc.returncode, error["cniVersion"], error["code"]) == (1, "1.0.0", code)
    assert error["msg"].endswith(f"spiderpool agent at {agent.socket_path}: HTTP {status}: the request body is too much")


@pytest.mark.parametrize("plugin", PLUGINS)
def test_spiderpool_timeout_bounds_the_wait_for_the_agent_in_both_plugins(bin_dir, sock_dir, plugin):
    with FakeAgent(sock_dir / "slow.sock", delay=20) as agent:
        env = runtime_env("ADD", SPIDERPOOL_SOCKET=agent.socket_path, SPIDERPOOL_TIMEOUT="0.5")
        started = time.monotonic()
        proc = run(bin_dir, plugin, env, conf("1.0.0", prevResult={"cniVersion": "1.0.0"}))
        elapsed = time.monotonic() - started
    error = json.loads(proc.stdout)
    assert (error["code"], error["msg"].endswith("no answer within 0.5 s")) == (11, True)
    assert elapsed < 10
