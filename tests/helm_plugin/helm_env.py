"""A real helm binary bound to its own private Helm directories (HELM_DATA_HOME & co).

Helm 4 installs a local plugin under `$HELM_DATA_HOME/plugins` whatever HELM_PLUGINS says,
so HELM_PLUGINS always points there, for both versions.

The environment also carries PIP_COMPILE=0: the plugin's install hook runs pip, which
honours it like any pip setting, and skipping the byte-compilation of the kubernetes
client's thousands of modules saves a third of every throwaway virtualenv's build time.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.k8s_binaries import REPO_ROOT, Toolset, helm3, helm4

PLUGIN_DIR = REPO_ROOT / "helm-plugin"
TOOLSETS = {"helm3": helm3, "helm4": helm4}
# Variables from the caller's shell that would leak into helm or into the shim's mapping.
_SCRUBBED_PREFIXES = ("HELM_", "SPIDERPOOL_")
_SCRUBBED_NAMES = {"KUBECONFIG"}


def helm_dirs(root: Path) -> dict[str, str]:
    """Private Helm directories under `root`, HELM_PLUGINS inside HELM_DATA_HOME."""
    data = root / "data"
    return {
        "HELM_DATA_HOME": str(data),
        "HELM_PLUGINS": str(data / "plugins"),
        "HELM_CONFIG_HOME": str(root / "config"),
        "HELM_CACHE_HOME": str(root / "cache"),
    }


def clean_environ() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SCRUBBED_PREFIXES) and name not in _SCRUBBED_NAMES
    }


@dataclass
class Helm:
    """One helm binary bound to its own Helm directories."""

    tools: Toolset
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    install_output: str = ""

    @property
    def data_home(self) -> Path:
        return Path(self.env["HELM_DATA_HOME"])

    @property
    def venv(self) -> Path:
        return self.data_home / "spiderpool-gitops" / "venv"

    def run(self, *args: str | Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.tools.helm), *map(str, args)],
            env={**self.env, **(env or {})},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def new_helm(tools: Toolset, root: Path) -> Helm:
    root.mkdir(parents=True, exist_ok=True)
    return Helm(tools=tools, root=root, env={**clean_environ(), **helm_dirs(root), "PIP_COMPILE": "0"})
