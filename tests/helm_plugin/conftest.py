"""Real helm 3.17 and helm 4.1 with the `spiderpool` plugin installed, one of each per module.

`helm plugin install ./helm-plugin` runs the plugin's install hook, which builds a
virtualenv and pip-installs this repository into it: seconds, so it happens once per helm
version (a module-scoped fixture parametrised over both), in private Helm directories.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.helm_plugin.helm_env import PLUGIN_DIR, TOOLSETS, Helm, new_helm


@pytest.fixture(scope="module", params=sorted(TOOLSETS))
def helm(request, tmp_path_factory) -> Helm:
    """A helm with the plugin installed from ./helm-plugin (install hook included)."""
    tools = TOOLSETS[request.param]()
    instance = new_helm(tools, tmp_path_factory.mktemp(request.param))
    result = instance.run("plugin", "install", PLUGIN_DIR, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"{request.param}: helm plugin install failed ({result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}")
    instance.install_output = result.stdout + result.stderr
    return instance


@pytest.fixture(params=sorted(TOOLSETS))
def bare_helm(request, tmp_path) -> Helm:
    """A helm with empty Helm directories, for installs that must fail."""
    return new_helm(TOOLSETS[request.param](), tmp_path / request.param)


@pytest.fixture
def env_dumping_cli(tmp_path) -> Path:
    """An executable for SPIDERPOOL_CLI that prints its argv and environment as JSON."""
    script = tmp_path / "dump-env"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, sys.stdout)\n"
        "sys.exit(int(os.environ.get('DUMP_ENV_EXIT', '0')))\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def path_without_python(tmp_path) -> str:
    """A PATH holding only what helm's hook runner and install.sh need before Python."""
    bin_dir = tmp_path / "bin-without-python"
    bin_dir.mkdir()
    for tool in ("sh", "dirname", "grep"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)
