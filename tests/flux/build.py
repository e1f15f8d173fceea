"""Build `flux-health` (tests/flux/fluxdriver) against Flux's own Go modules, once, into a cache.

The driver links `github.com/fluxcd/pkg/runtime/cel` (the evaluator of a Kustomization's
`spec.healthCheckExprs`) and `github.com/fluxcd/cli-utils/pkg/kstatus/status` (what `spec.wait`
uses for every other kind), the code kustomize-controller runs. fluxcd/pkg/runtime's go.mod
replaces `github.com/fluxcd/pkg/apis/kustomize` with a local folder; our build module requires
the published version it names instead. Lands in `$SPIDERPOOL_TOOLS_CACHE/flux-runtime-<version>/`;
`python -m tests.flux.build` builds ahead, a no-op once built.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.cluster import build as cluster_build
from tests.cluster.build import BuildError, cache_root

RUNTIME_MODULE = "github.com/fluxcd/pkg/runtime"
RUNTIME_VERSION = "v0.117.0"
SOURCE = Path(__file__).resolve().parent / "fluxdriver" / "main.go"


def target_dir() -> Path:
    return cache_root() / f"flux-runtime-{RUNTIME_VERSION}"


def binary() -> Path:
    return target_dir() / "flux-health"


def cached() -> Path | None:
    stamp = target_dir() / "flux-health.source"
    if binary().is_file() and stamp.is_file() and stamp.read_text() == SOURCE.read_text():
        return binary()
    return None


def ensure(progress=print) -> Path:
    found = cached()
    if found is not None:
        return found
    go = cluster_build._check_go()
    module_dir = cache_root() / "build" / f"flux-runtime-{RUNTIME_VERSION}"
    (module_dir / "fluxdriver").mkdir(parents=True, exist_ok=True)
    progress(f"Building flux-health against {RUNTIME_MODULE} {RUNTIME_VERSION} into {target_dir()}")
    if not (module_dir / "go.sum").is_file():
        go_mod = cluster_build._module_file(go, RUNTIME_MODULE, RUNTIME_VERSION, module_dir)
        requires = [(RUNTIME_MODULE, RUNTIME_VERSION)]
        for local in re.findall(r"^\s*(\S+)\s*=>\s*\.\./", go_mod, re.M):  # pinned in its require block
            version = re.search(rf"^\s*{re.escape(local)}\s+(v\S+)", go_mod, re.M)
            if not version:
                raise BuildError(f"{RUNTIME_MODULE} replaces {local} locally and requires no version of it")
            requires.append((local, version[1]))
        cluster_build._write_module(module_dir, "spiderpool-gitops.test/flux-health", requires, [])
        (module_dir / "fluxdriver" / "main.go").write_text(SOURCE.read_text())
        progress("  resolving dependencies (go get) ...")
        cluster_build._run([go, "get", "./fluxdriver"], module_dir, "resolving Flux dependencies")
    (module_dir / "fluxdriver" / "main.go").write_text(SOURCE.read_text())
    target_dir().mkdir(parents=True, exist_ok=True)
    cluster_build._build(go, module_dir, "./fluxdriver", binary(), "-s -w", progress)
    (target_dir() / "flux-health.source").write_text(SOURCE.read_text())
    return binary()


def main() -> int:
    return cluster_build.build_main(ensure, "tests.flux.build")


if __name__ == "__main__":
    raise SystemExit(main())
