"""The `coordinator` executable as a runtime runs it: installed standalone, forwarding to the agent."""

from __future__ import annotations

import json
import subprocess

import pytest

from cni.install import PLUGINS, install
from tests.cni.fake_agent import FakeAgent

PREV = {"cniVersion": "1.0.0", "interfaces": [{"name": "net1", "sandbox": "/var/run/netns/x"}],
        "ips": [{"address": "10.6.212.145/16", "gateway": "10.6.0.1", "interface": 0}], "dns": {}}
CONF = {"cniVersion": "1.0.0", "name": "macvlan-ens192", "type": "coordinator", "mode": "overlay", "prevResult": PREV}
FORBIDDEN_MODULES = {"json", "socket", "re", "enum", "logging", "http", "email", "selectors", "cni", "coordinator",
                     "typing", "pyroute2"}


def env(command: str, sock: str) -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": "abc123", "CNI_NETNS": "/var/run/netns/x",
            "CNI_IFNAME": "net1", "CNI_PATH": "/opt/cni/bin", "SPIDERPOOL_SOCKET": sock,
            "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"}


@pytest.fixture(scope="module")
def plugin_bin(tmp_path_factory):
    dest = tmp_path_factory.mktemp("bin")
    install(dest, plugins={"coordinator": PLUGINS["coordinator"]})
    return dest / "coordinator"


def run(plugin_bin, command, sock, conf=CONF, *extra):
    interpreter = plugin_bin.read_text().split("\n", 1)[0][2:].split()[0]
    return subprocess.run([interpreter, "-IS", *extra, str(plugin_bin)], input=json.dumps(conf).encode(),
                          capture_output=True, env=env(command, sock), timeout=30)


def test_install_cni_writes_the_coordinator_beside_the_ipam_plugin():
    assert PLUGINS["coordinator"] == "coordinator.plugin"


def test_add_forwards_to_v1_coordinator_with_the_hosts_netns_and_prints_the_answer(plugin_bin, tmp_path):
    answer = json.dumps(PREV) + "\n"
    with FakeAgent(tmp_path / "a.sock", lambda body: (200, {"exitCode": 0, "stdout": answer})) as agent:
        proc = run(plugin_bin, "ADD", agent.socket_path)
    assert proc.returncode == 0 and proc.stdout.decode() == answer
    (request,) = agent.requests
    assert request.path == "/v1/coordinator"
    assert request.body["hostNetns"].startswith("/proc/") and request.body["hostNetns"].endswith("/ns/net")
    assert request.body["config"] == CONF and request.body["cniArgs"]["K8S_POD_NAME"] == "web-0"


def test_an_absent_agent_is_try_again_later(plugin_bin, tmp_path):
    proc = run(plugin_bin, "ADD", str(tmp_path / "nobody.sock"))
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["code"] == 11


def test_version_is_answered_without_the_agent(plugin_bin, tmp_path):
    proc = run(plugin_bin, "VERSION", str(tmp_path / "nobody.sock"))
    assert "1.0.0" in json.loads(proc.stdout)["supportedVersions"]


def test_an_add_imports_none_of_the_slow_stdlib_packages_nor_the_project(plugin_bin, tmp_path):
    with FakeAgent(tmp_path / "a.sock", lambda body: (200, {"exitCode": 0, "stdout": "{}\n"})) as agent:
        proc = run(plugin_bin, "ADD", agent.socket_path, CONF, "-X", "importtime")
    assert proc.returncode == 0, proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.decode().splitlines()
                if line.startswith("import time:") and "|" in line} - {"imported package"}
    assert "_socket" in imported and not imported & FORBIDDEN_MODULES
