"""The Argo CD config-management plugin (CMP v2): discover and generate, as argocd-cmp-server runs them.

argocd-cmp-server (the repo-server's sidecar) runs each command of `plugin.yaml` with the
application's directory (inside a fresh copy of the repo) as its working directory and an
environment made of the sidecar's own plus what the repo-server sends: `ARGOCD_APP_NAME`,
`ARGOCD_APP_NAMESPACE`, `ARGOCD_APP_REVISION`, `ARGOCD_APP_SOURCE_PATH`, `KUBE_VERSION`, ...,
every `spec.source.plugin.env[]` entry as `ARGOCD_ENV_<NAME>`, and the plugin parameters as
`ARGOCD_APP_PARAMETERS` (JSON) and `PARAM_<NAME>` (upper-cased, non-alphanumerics as `_`). The
command is killed when the repo-server's request deadline passes (60 s by default).

    discover  prints the spec files under the working directory (nothing, exit 0, when there
              are none): Argo CD picks this plugin for an app whose directory holds a NetworkSpec
    generate  renders the spec like `spiderpool render`, with the flags the app asks for

Options (a parameter wins over the env entry of the same meaning):

    parameter       env entry (spec.source.plugin.env)   render flag
    spec-path       SPEC_PATH                            PATH, relative to the app directory (default .)
    allow-empty     ALLOW_EMPTY                          --allow-empty
    sync-waves      SYNC_WAVES                           --sync-waves
    prune-confirm   PRUNE_CONFIRM                        --prune-confirm

Pure but for reading the directory tree: environ in, options out.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

from .errors import ReconcilerError

BOOLEANS = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False,
            "": False}
# parameter name -> (env entry name, RenderOptions field)
OPTIONS = {"spec-path": ("SPEC_PATH", "spec_path"), "allow-empty": ("ALLOW_EMPTY", "allow_empty"),
           "sync-waves": ("SYNC_WAVES", "sync_waves"), "prune-confirm": ("PRUNE_CONFIRM", "prune_confirm")}
_KIND = re.compile(r"^kind:\s*[\"']?NetworkSpec[\"']?\s*(#.*)?$", re.M)
_API = re.compile(r"^apiVersion:\s*[\"']?gitops\.spidernet\.io/", re.M)
DISCOVER_READ_BYTES = 4 * 1024 * 1024  # a spec file is at most this large (reconciler.loader)


class PluginConfigError(ReconcilerError):
    """A plugin parameter or env entry the plugin cannot use."""


@dataclass(frozen=True)
class RenderOptions:
    spec_path: str = "."
    allow_empty: bool = False
    sync_waves: bool = False
    prune_confirm: bool = False
    source_path: str = ""  # ARGOCD_APP_SOURCE_PATH: error locations are shown relative to the repo


def param_env_name(parameter: str) -> str:
    """`PARAM_<NAME>` as Argo CD spells a parameter's variable (ApplicationSourcePluginParameters.Environ)."""
    return "PARAM_" + re.sub(r"[^A-Z0-9_]", "_", parameter.upper())


def options_from_env(environ: Mapping[str, str]) -> RenderOptions:
    values: dict = {"source_path": environ.get("ARGOCD_APP_SOURCE_PATH", "")}
    for parameter, (entry, field) in OPTIONS.items():
        for variable in (param_env_name(parameter), f"ARGOCD_ENV_{entry}"):
            if variable in environ:
                raw = environ[variable]
                break
        else:
            continue
        if field == "spec_path":
            values[field] = _inside(raw or ".", variable)
            continue
        word = raw.strip().lower()
        if word not in BOOLEANS:
            raise PluginConfigError(f"{variable}={raw!r}: expected true or false (plugin option {parameter})")
        values[field] = BOOLEANS[word]
    return RenderOptions(**values)


def _inside(path: str, variable: str) -> str:
    normal = os.path.normpath(path)
    if os.path.isabs(normal) or normal == ".." or normal.startswith("../"):
        raise PluginConfigError(f"{variable}={path!r}: the spec path must lie inside the application's "
                                "directory (a relative path without ..)")
    return normal


def find_specs(root: str = ".") -> list[str]:
    """The `*.yaml`/`*.yml` files under `root` (hidden directories skipped, as the loader does)
    that hold a NetworkSpec document, relative to `root`. A quick text match, no YAML parse:
    discovery runs for every app Argo CD has not yet matched, so it must be cheap."""
    found = []
    inside = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.endswith((".yaml", ".yml")):
                continue
            file = os.path.join(dirpath, name)
            real = os.path.realpath(file)
            if os.path.commonpath([real, inside]) != inside or not os.path.isfile(real):
                continue
            try:
                with open(real, "rb") as handle:
                    text = handle.read(DISCOVER_READ_BYTES).decode("utf-8", "replace")
            except OSError:
                continue
            if _KIND.search(text) and _API.search(text):
                found.append(os.path.relpath(file, root))
    return found
