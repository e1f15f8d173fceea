"""The plugin under Argo CD's own argocd-cmp-server, asked the way argocd-repo-server asks it.

The binaries come from `python -m tests.argocd.build` (Argo CD v3.6.1 built from its Go module,
plus tests/argocd/cmpdriver, which calls the repo-server's own discovery.DetectConfigManagementPlugin,
cmp.SendRepoStream and GenerateManifest). .ci/run builds them; without them these tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.argocd import build
from tests.argocd.cmp import App, plugin_env
from tests.conftest import EXAMPLES, stop_process

ARGOCD = build.cached()
pytestmark = pytest.mark.skipif(ARGOCD is None, reason="Argo CD is not built: run `python -m tests.argocd.build`")
BIN = Path(sys.executable).parent


@pytest.fixture
def cmp_server(tmp_path):
    """argocd-cmp-server serving examples/argocd/plugin.yaml, as in the sidecar (PATH has spiderpool)."""
    sockets = Path(tempfile.mkdtemp(prefix="cmp-", dir="/tmp"))  # a unix socket path must stay short
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(EXAMPLES / "argocd" / "plugin.yaml", config / "plugin.yaml")
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "ARGOCD_PLUGINSOCKFILEPATH": str(sockets),
           "ARGOCD_CMP_WORKDIR": str(tmp_path / "work")}
    (tmp_path / "work").mkdir()
    log = open(tmp_path / "cmp-server.log", "w")
    proc = subprocess.Popen([str(build.argocd_dir() / "argocd-cmp-server"), "--config-dir-path", str(config),
                             "--logformat", "text"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (sockets / "spiderpool.sock").exists():
            assert proc.poll() is None, (tmp_path / "cmp-server.log").read_text()
            assert time.monotonic() < deadline, "argocd-cmp-server did not open its socket"
            time.sleep(0.1)
        yield sockets
    finally:
        stop_process(proc)  # it drains its gRPC server on SIGTERM, which can take a while: then SIGKILL
        log.close()
        shutil.rmtree(sockets, ignore_errors=True)


def ask(sockets: Path, repo: Path, app: App, *, plugin: str = "") -> dict:
    proc = subprocess.run([str(build.driver()), "-repo", str(repo), "-app", app.path, "-plugin", plugin,
                           "-timeout", "60s"], input="\n".join(plugin_env(app)) + "\n", capture_output=True,
                          text=True, env={**os.environ, "ARGOCD_PLUGINSOCKFILEPATH": str(sockets)}, timeout=90)
    return json.loads(proc.stdout)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "calico-overlay-macvlan", root / "clusters" / "prod")
    (root / "clusters" / "empty").mkdir()
    (root / "clusters" / "empty" / "net.yaml").write_text(
        "apiVersion: gitops.spidernet.io/v1alpha1\nkind: NetworkSpec\nmetadata:\n  name: prod\nspec:\n  zones: []\n")
    (root / "apps" / "web").mkdir(parents=True)
    (root / "apps" / "web" / "deploy.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\n")
    return root


def test_discovery_and_generate_with_parameters(cmp_server, repo):
    app = App(path="clusters/prod", parameters=[{"name": "sync-waves", "string": "true"}])
    answer = ask(cmp_server, repo, app)  # no plugin name: the plugin's discover must claim the app
    objects = answer["manifests"]
    assert [(o["kind"], o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for o in objects] == [
        ("SpiderIPPool", "1"), ("SpiderCoordinator", "2"), ("NetworkAttachmentDefinition", "2")]


def test_an_app_without_a_spec_is_not_claimed(cmp_server, repo):
    assert ask(cmp_server, repo, App(path="apps/web")) == {"error": "could not find plugin supporting the given repository"}


def test_the_empty_refusal_is_the_error_argo_cd_reports(cmp_server, repo):
    answer = ask(cmp_server, repo, App(path="clusters/empty"), plugin="spiderpool")
    assert answer["error"].endswith(
        "error generating manifests: `spiderpool argocd-cmp generate` failed exit status 1: clusters/empty/net.yaml:5:1: "
        "spec: renders no objects: Argo CD or Flux would prune everything this spec owns; declare something, or pass "
        "--allow-empty if that is what you want (nothing was rendered)")
    allowed = ask(cmp_server, repo, App(path="clusters/empty", env={"ALLOW_EMPTY": "true"}), plugin="spiderpool")
    assert allowed == {"manifests": None}
