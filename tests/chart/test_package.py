"""The package: a wheel and an sdist built with `python -m build` pass `twine check`; the wheel,
installed by the image's own install step (`image/install.sh`, what the Dockerfile runs) into a
fresh virtualenv, runs every process the chart starts, and the CNI plugins it installs run
standalone, outside any virtualenv, with the standard library only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import EXAMPLES, REPO


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_wheel_and_sdist_pass_twine_check(dist):
    files = sorted(p.name for p in dist.iterdir())
    assert files == ["spiderpool_gitops-0.1.0-py3-none-any.whl", "spiderpool_gitops-0.1.0.tar.gz"]
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.count("PASSED") == 2, done.stdout + done.stderr


def test_the_wheel_holds_every_module_and_the_crds(dist):
    wheel = next(dist.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {str(p.relative_to(REPO)) for top in ("reconciler", "agent", "kubeclient", "cni", "coordinator",
                                                     "schemas") for p in (REPO / top).rglob("*.py")
               if "crds" not in p.parts}
    assert sources <= names, sorted(sources - names)
    assert {f"schemas/crds/{p.name}" for p in (REPO / "schemas" / "crds").glob("*.yaml")} <= names


def test_the_image_install_step_in_a_fresh_venv(dist, tmp_path):
    prefix = tmp_path / "prefix"
    env = {**{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}, "PIP_COMPILE": "0"}
    done = subprocess.run(["sh", str(REPO / "image" / "install.sh"), str(prefix), str(next(dist.glob("*.whl")))],
                          capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"installed spiderpool-gitops into {prefix}" in done.stdout
    cli = str(prefix / "bin" / "spiderpool")

    def run(*args, **kw):
        return subprocess.run([cli, *args], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, **kw)

    # what the chart runs: each subcommand parses its flags (the image has no checkout beside it)
    for command in ("controller", "agent", "install-cni"):
        assert run(command, "--help").returncode == 0
    checked = run("validate", str(EXAMPLES / "cross-zone-pools"), "-o", "json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["valid"] is True, checked.stdout + checked.stderr
    imports = subprocess.run([str(prefix / "bin" / "python"), "-c",
                              "import agent.main, reconciler.controller, cni.allocation.engine; print('ok')"],
                             capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert imports.stdout == "ok\n", imports.stderr

    # the plugins, written by the installed CLI, run with the system Python: -IS, no virtualenv
    plugins = tmp_path / "cni-bin"
    assert run("install-cni", "--dest", str(plugins)).returncode == 0
    for plugin in ("spiderpool", "coordinator"):
        path = plugins / plugin
        assert "/prefix/" not in path.read_text().splitlines()[0], "the shebang is the node's Python"
        version = subprocess.run([str(path)], input="", capture_output=True, text=True, timeout=30,
                                 env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"})
        assert version.returncode == 0 and "1.0.0" in json.loads(version.stdout)["supportedVersions"], version
        # no agent: an ADD fails the CNI way, code 11 "try again later", not a Python traceback
        add = subprocess.run([str(path)], capture_output=True, text=True, timeout=30, input=json.dumps({
            "cniVersion": "1.0.0", "name": "n", "type": plugin,
            "ipam": {"type": "spiderpool", "ipam_unix_socket_path": str(tmp_path / "none.sock")},
            "prevResult": {"cniVersion": "1.0.0", "ips": []}}),
            env={"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0",
                 "CNI_PATH": "/opt/cni/bin", "CNI_ARGS": "K8S_POD_NAMESPACE=d;K8S_POD_NAME=p;K8S_POD_UID=u",
                 "SPIDERPOOL_SOCKET": str(tmp_path / "none.sock"), "PATH": "/usr/bin:/bin"})
        assert add.returncode != 0 and json.loads(add.stdout)["code"] == 11, (plugin, add.stdout, add.stderr)
        assert "Traceback" not in add.stderr
