"""Fixtures for running the installed `spiderpool` plugin the way a container runtime does."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cni.install import install
from tests.cni.fake_agent import FakeAgent

VERSIONS = ("0.3.1", "0.4.0", "1.0.0", "1.1.0")
POD_ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;" \
           "K8S_POD_INFRA_CONTAINER_ID=4f1c0ffee;K8S_POD_UID=0b7e5a9c-1f2e-4c55-9d6b-6f1a2b3c4d5e"


def netconf(version: str = "1.0.0", **ipam: Any) -> dict[str, Any]:
    """The full config a main plugin (macvlan) hands its IPAM plugin."""
    return {"cniVersion": version, "name": "macvlan-ens192", "type": "macvlan", "master": "ens192",
            "mode": "bridge", "ipam": {"type": "spiderpool", **ipam}}


def runtime_env(command: str, **overrides: str | None) -> dict[str, str]:
    """CNI_* as a runtime sets them for `command` (DEL without a netns); None removes a variable."""
    env = {"CNI_COMMAND": command, "CNI_PATH": "/opt/cni/bin"}
    if command in ("ADD", "CHECK", "DEL"):
        env.update(CNI_CONTAINERID="4f1c0ffee", CNI_IFNAME="net1", CNI_ARGS=POD_ARGS)
    if command in ("ADD", "CHECK"):
        env["CNI_NETNS"] = "/var/run/netns/cni-1234"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass(frozen=True)
class PluginRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_code(self) -> int:
        assert self.returncode != 0, f"expected a failure, got {self.stdout!r}"
        return self.json["code"]


@pytest.fixture(scope="session")
def plugin_bin(tmp_path_factory) -> Path:
    """The plugin as `spiderpool install-cni` writes it: a standalone executable."""
    dest = tmp_path_factory.mktemp("opt-cni-bin")
    (installed,) = [i for i in install(dest) if i.path.name == "spiderpool"]
    return installed.path


@pytest.fixture
def sock_dir():
    """A short directory for unix sockets (their paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="sp-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agent(sock_dir):
    with FakeAgent(sock_dir / "agent.sock") as fake:
        yield fake


@pytest.fixture
def run_plugin(plugin_bin):
    """run_plugin(env, stdin) -> PluginRun; checks that stdout is empty or exactly one JSON value."""

    def run(env: dict[str, str], stdin: Any = None, *, socket: str | Path | None = None) -> PluginRun:
        env = dict(env)
        if socket is not None:
            env["SPIDERPOOL_SOCKET"] = str(socket)
        data = stdin if isinstance(stdin, bytes) else json.dumps(stdin if stdin is not None else netconf()).encode()
        proc = subprocess.run([str(plugin_bin)], input=data, env=env, capture_output=True, timeout=20,
                              cwd="/")
        out = proc.stdout.decode("utf-8")
        if out:
            json.loads(out)  # nothing but JSON ever reaches stdout
        return PluginRun(proc.returncode, out, proc.stderr.decode("utf-8", "replace"))

    return run
