"""The chart as the tests see it: rendered by the real `helm` (3.17 and 4.1), split into objects.

`render(helm, values)` runs `helm template` and returns the objects; `CHART` is the chart's
directory. Values are passed as `--set-json` pairs, so a test states exactly what it changes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Mapping

import yaml

from tests.conftest import REPO

CHART = REPO / "charts" / "spiderpool-gitops"
RELEASE = "netops"
NAMESPACE = "spiderpool-system"

# the values matrix: git source on/off x ServiceMonitor on/off (+ a webhook, a single replica, a private CA)
MATRIX: dict[str, dict[str, Any]] = {
    "defaults": {},
    "git": {"gitSource": {"enabled": True, "repo": "https://git.example.com/netops/underlay.git", "ref": "main",
                          "path": "clusters/prod", "credentials": {"existingSecret": "git-token"}}},
    "servicemonitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}},
    "git+servicemonitor+webhook": {
        "gitSource": {"enabled": True, "repo": "ssh://git@git.example.com/netops/underlay.git", "selfHeal": True,
                      "webhook": {"enabled": True, "existingSecret": "hook"}},
        "metrics": {"serviceMonitor": {"enabled": True}}},
    "one-replica-no-election": {"controller": {"replicas": 1, "leaderElection": {"enabled": False}}},
    "third-party-auto-pools": {"autoPools": {"thirdPartyApps": [
        {"apiGroup": "apps.kruise.io", "resources": ["clonesets", "advancedstatefulsets"]},
        {"apiGroup": "argoproj.io", "resources": ["rollouts"]}]}},
    "git-https-private-ca": {"gitSource": {"enabled": True, "repo": "https://gitlab.internal.example/netops/net.git",
                                           "credentials": {"existingSecret": "git-token"},
                                           "caBundle": {"configMap": "internal-ca"}}},
    "git-https-private-ca-secret": {"gitSource": {"enabled": True, "repo": "https://gitea.internal.example/net.git",
                                                  "caBundle": {"secret": "internal-ca", "key": "trust-bundle.pem"}}},
}


def set_json(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Nested values -> `--set-json key.path=JSON` arguments (leaves only, so defaults stay)."""
    args: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            args += set_json(value, path + ".")
        else:
            args += ["--set-json", f"{path}={json.dumps(value)}"]
    return args


def helm(tools, *args: str, check: bool = True, timeout: float = 120, env: dict | None = None,
         ) -> subprocess.CompletedProcess:
    done = subprocess.run([str(tools.helm), *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def render_text(tools, values: Mapping[str, Any] | None = None, *, namespace: str = NAMESPACE,
                release: str = RELEASE, extra: tuple[str, ...] = ()) -> str:
    return helm(tools, "template", release, str(CHART), "--namespace", namespace,
                *set_json(values or {}), *extra).stdout


def render(tools, values: Mapping[str, Any] | None = None, **kw) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(render_text(tools, values, **kw)) if doc]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str, name_suffix: str = "") -> dict:
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"{len(found)} {kind} objects ending in {name_suffix!r}"
    return found[0]


def crd_files(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.glob("*.yaml"))}
