"""Run a CMP v2 plugin.yaml's discover and generate the way argocd-cmp-server does.

Mirrors Argo CD v3.6 `cmpserver/plugin/plugin.go` and the repo-server side that feeds it
(`reposerver/repository/repository.go` newEnv/getPluginEnvs, `pkg/apis/.../types.go`
ApplicationSourcePluginParameters.Environ):

- the repo arrives as a fresh copy under `$ARGOCD_CMP_WORKDIR/_cmp_server/<random>/`, and each
  command runs with the *application's* directory in it as cwd (`cmd.Dir = appPath`);
- env = the sidecar's own environment, then ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE,
  ARGOCD_APP_PROJECT_NAME, ARGOCD_APP_REVISION(+_SHORT, _SHORT_8), ARGOCD_APP_SOURCE_REPO_URL,
  ARGOCD_APP_SOURCE_PATH, ARGOCD_APP_SOURCE_TARGET_REVISION, KUBE_VERSION, KUBE_API_VERSIONS,
  every `plugin.env[]` entry as ARGOCD_ENV_<name>, ARGOCD_APP_PARAMETERS (JSON) and
  PARAM_<NAME> (upper-cased, [^A-Z0-9_] -> _; arrays _<i>, maps _<KEY>);
- `command[0]` with `command[1:] + args`, no shell, in its own process group; when the request
  deadline passes the group gets SIGTERM, then SIGKILL 5 s later;
- a non-zero exit is the error "`<args>` failed exit status N: <stderr, trimmed>" (what the UI
  shows); stdout with its last newline trimmed is the output;
- discover (find.command) matches when that output is not empty; generate's output is split
  into YAML documents (empty documents dropped).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_SERVER_TIMEOUT = 60.0  # server.repo.server.timeout.seconds default
CLEANUP_GRACE = 5.0  # plugin.go: SIGTERM, then SIGKILL after 5 s


class CmdError(Exception):
    """A plugin command that failed, with the message Argo CD would show."""


@dataclass
class App:
    name: str = "underlay-network"
    namespace: str = "kube-system"
    project: str = "default"
    repo_url: str = "https://git.example.com/platform/network.git"
    path: str = "."
    target_revision: str = "main"
    revision: str = "0123456789abcdef0123456789abcdef01234567"
    env: dict[str, str] = field(default_factory=dict)  # spec.source.plugin.env
    parameters: list[dict] = field(default_factory=list)  # spec.source.plugin.parameters
    kube_version: str = "1.37.2"
    api_versions: tuple[str, ...] = ("v1", "apps/v1", "spiderpool.spidernet.io/v2beta1", "k8s.cni.cncf.io/v1")


def _escaped(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def plugin_env(app: App) -> list[str]:
    """What the repo-server adds to the sidecar's environment, in its order."""
    build = [("ARGOCD_APP_NAME", app.name), ("ARGOCD_APP_NAMESPACE", app.namespace),
             ("ARGOCD_APP_PROJECT_NAME", app.project), ("ARGOCD_APP_REVISION", app.revision),
             ("ARGOCD_APP_REVISION_SHORT", app.revision[:7]), ("ARGOCD_APP_REVISION_SHORT_8", app.revision[:8]),
             ("ARGOCD_APP_SOURCE_REPO_URL", app.repo_url), ("ARGOCD_APP_SOURCE_PATH", app.path),
             ("ARGOCD_APP_SOURCE_TARGET_REVISION", app.target_revision)]
    env = [f"{k}={v}" for k, v in build]
    env += [f"KUBE_VERSION={app.kube_version}", "KUBE_API_VERSIONS=" + ",".join(app.api_versions)]
    env += [f"ARGOCD_ENV_{k}={v}" for k, v in app.env.items()]
    env.append("ARGOCD_APP_PARAMETERS=" + json.dumps(app.parameters, separators=(",", ":")))
    for param in app.parameters:
        base = "PARAM_" + _escaped(param["name"])
        if "string" in param:
            env.append(f"{base}={param['string']}")
        for key, value in (param.get("map") or {}).items():
            env.append(f"{base}_{_escaped(key)}={value}")
        for i, value in enumerate(param.get("array") or ()):
            env.append(f"{base}_{i}={value}")
    return env


class PluginRunner:
    """One plugin.yaml, run against a repo directory as argocd-cmp-server would."""

    def __init__(self, plugin_yaml: Path, workdir: Path, *, sidecar_env: dict[str, str] | None = None,
                 timeout: float = REPO_SERVER_TIMEOUT):
        self.config = yaml.safe_load(plugin_yaml.read_text())
        if self.config.get("kind") != "ConfigManagementPlugin" or not self.config.get("metadata", {}).get("name"):
            raise ValueError(f"{plugin_yaml}: not a ConfigManagementPlugin with a name")
        if not (self.config["spec"].get("generate") or {}).get("command"):
            raise ValueError(f"{plugin_yaml}: spec.generate command should be non-empty")
        self.workdir = workdir / "_cmp_server"
        self.sidecar_env = dict(os.environ if sidecar_env is None else sidecar_env)
        self.timeout = timeout
        self.last_duration = 0.0

    def _copy(self, repo: Path, app: App) -> Path:
        """The fresh copy cmp-server extracts the repo stream into; returns the app's directory."""
        root = self.workdir / secrets.token_hex(8)
        shutil.copytree(repo, root, symlinks=True)  # .git too: reposerver.plugin.tar.exclusions is empty by default
        app_dir = (root / app.path).resolve()
        if not app_dir.is_relative_to(root.resolve()):
            raise CmdError("illegal appPath: out of workDir bound")
        return app_dir

    def _env(self, app: App) -> dict[str, str]:
        env = dict(self.sidecar_env)
        for entry in plugin_env(app):
            name, _, value = entry.partition("=")
            env[name] = value
        return env

    def _run(self, command: dict, cwd: Path, env: dict[str, str]) -> str:
        argv = list(command.get("command") or []) + list(command.get("args") or [])
        if not argv:
            raise CmdError("Command is empty")
        started = time.monotonic()
        exe = shutil.which(argv[0], path=self.sidecar_env.get("PATH")) or argv[0]
        proc = subprocess.Popen([exe] + argv[1:], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=CLEANUP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
        self.last_duration = time.monotonic() - started
        output = out.decode()
        if proc.returncode != 0:
            cause = (f"exit status {proc.returncode}" if proc.returncode > 0
                     else f"signal: {signal.Signals(-proc.returncode).name.lower()[3:]}")
            message = f"`{shlex.join(argv)}` failed {cause}"
            if err.decode().strip():
                message += ": " + err.decode().strip()
            raise CmdError(message)
        return output.removesuffix("\n")

    def discover(self, repo: Path, app: App) -> bool:
        discover = self.config["spec"].get("discover") or {}
        command = (discover.get("find") or {})
        if not command.get("command"):
            raise ValueError("this harness runs discover.find.command only")
        app_dir = self._copy(repo, app)
        try:
            return self._run(command, app_dir, self._env(app)) != ""
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def generate(self, repo: Path, app: App) -> list[dict]:
        app_dir = self._copy(repo, app)
        env = self._env(app)
        try:
            init = self.config["spec"].get("init") or {}
            if init.get("command"):
                self._run(init, app_dir, env)
            out = self._run(self.config["spec"]["generate"], app_dir, env)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return [doc for doc in yaml.safe_load_all(out) if doc]
