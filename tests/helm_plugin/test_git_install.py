"""Installing the plugin from a git URL (as `helm plugin install https://github.com/...` would),
here from a local clone of this repository through a file:// URL: Helm clones the whole
repository and reads the root plugin.yaml, which points into helm-plugin/."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helm_plugin.helm_env import new_helm
from tests.k8s_binaries import REPO_ROOT, helm4

EXAMPLE = REPO_ROOT / "examples" / "cross-zone-pools"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_git_url_install_on_helm_4_runs_the_cli(tmp_path):
    source = tmp_path / "source"
    # the committed tree, as a remote would serve it (uncommitted edits do not travel)
    subprocess.run(["git", "clone", "-q", "--no-local", str(REPO_ROOT), str(source)], check=True)
    helm = new_helm(helm4(), tmp_path / "helm4")
    installed = helm.run("plugin", "install", f"file://{source}", "--verify=false", timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = helm.run("plugin", "list")
    assert any(line.split()[:2] == ["spiderpool", "0.1.0"] for line in listed.stdout.splitlines()), listed.stdout
    result = helm.run("spiderpool", "validate", EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout
