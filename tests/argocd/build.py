"""Build the real Argo CD binary from its Go module, once, into a cache.

`argocd` is one multi-call binary: run under the name `argocd` it is the CLI (with
`argocd admin settings resource-overrides health`), under `argocd-cmp-server`,
`argocd-repo-server` or `argocd-application-controller` it is that component
(`cmd/main.go` switches on the base name of argv[0]). We build it from
`github.com/argoproj/argo-cd/v3`, which, like k8s.io/kubernetes, is not meant to be a
dependency: its go.mod replaces `github.com/argoproj/argo-cd/gitops-engine/v3` with the local
folder `./gitops-engine` (a separate module, left out of the module zip), so our build module
requires the published gitops-engine of the same tag instead and copies every other `replace`
line of Argo CD's go.mod (the k8s.io/* pins, protobuf, yaml.v2...). Argo CD v3.6 needs Go 1.27:
the build runs with `GOTOOLCHAIN=go1.27.3`, which the go command fetches from the module proxy
like any module. The UI is not built (`ui/dist/app` holds only the module's placeholder).

The binary lands in `$SPIDERPOOL_TOOLS_CACHE` (default `~/.cache/spiderpool-gitops`) under
`argocd-<version>/`, with the component names as symlinks to it. `python -m tests.argocd.build`
builds ahead (about 15-30 minutes on 2 cores the first time); afterwards it is a no-op.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.cluster import build as cluster_build
from tests.cluster.build import BuildError, cache_root

ARGOCD_VERSION = "v3.6.1"
ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3"
GITOPS_ENGINE_MODULE = "github.com/argoproj/argo-cd/gitops-engine/v3"
GO_TOOLCHAIN = "go1.27.3"
COMPONENTS = ("argocd-cmp-server", "argocd-repo-server", "argocd-application-controller")


def argocd_dir() -> Path:
    return cache_root() / f"argocd-{ARGOCD_VERSION}"


def binary() -> Path:
    return argocd_dir() / "argocd"


def driver() -> Path:
    """`argocd-cmp-driver` (tests/argocd/cmpdriver): the repo-server's side of a CMP request."""
    return argocd_dir() / "argocd-cmp-driver"


DRIVER_SOURCE = Path(__file__).resolve().parent / "cmpdriver" / "main.go"


def cached() -> Path | None:
    """The `argocd` binary if it and the CMP driver are built and current (never builds)."""
    found = binary()
    if not found.is_file() or not _driver_current() or not _scripts_present():
        return None
    _link_components()
    return found


# What Argo CD's image copies from hack/ into /usr/local/bin: the repo-server runs
# git-verify-wrapper.sh on every checked-out revision (v3.6, deprecated commit verification).
SCRIPTS = ("git-verify-wrapper.sh", "gpg-wrapper.sh", "git-ask-pass.sh")


def _scripts_present() -> bool:
    return all((argocd_dir() / name).is_file() for name in SCRIPTS)


def _install_scripts(go: str, module_dir: Path) -> None:
    import subprocess

    cache = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True, cwd=module_dir).stdout.strip()
    source = Path(cache) / f"{ARGOCD_MODULE}@{ARGOCD_VERSION}" / "hack"
    for name in SCRIPTS:
        if not (source / name).is_file():
            raise BuildError(f"{source / name} is missing from the Argo CD module")
        target = argocd_dir() / name
        target.write_text((source / name).read_text())
        target.chmod(0o755)


def _driver_current() -> bool:
    stamp = argocd_dir() / "argocd-cmp-driver.source"
    return driver().is_file() and stamp.is_file() and stamp.read_text() == DRIVER_SOURCE.read_text()


def module_replacements(go_mod: str) -> list[tuple[str, str]]:
    """Argo CD's `replace` lines that pin a published module (local paths are dropped).

    Both forms are read: single `replace a => b v` lines and `replace ( ... )` blocks.
    Returns (module, "target version") pairs.
    """
    text = re.sub(r"//[^\n]*", "", go_mod)
    lines: list[str] = []
    for block in re.findall(r"^replace\s*\((.*?)^\)", text, re.M | re.S):
        lines += block.splitlines()
    lines += re.findall(r"^replace\s+([^(\n].*)$", text, re.M)
    out = []
    for line in lines:
        match = re.match(r"\s*(\S+)(?:\s+\S+)?\s*=>\s*(\S+)\s+(\S+)\s*$", line)
        if match and not match[2].startswith("."):
            out.append((match[1], f"{match[2]} {match[3]}"))
    return out


def _go_env_toolchain() -> None:
    # tests.cluster.build._go_env keeps a GOTOOLCHAIN that is set (else `local`): Argo CD needs 1.27.
    os.environ["GOTOOLCHAIN"] = GO_TOOLCHAIN


def _write_module(dir_: Path, replaces: list[tuple[str, str]]) -> None:
    dir_.mkdir(parents=True, exist_ok=True)
    lines = ["module spiderpool-gitops.test/argocd-build", "", "go 1.27.0", "", "require ("]
    lines += [f"\t{ARGOCD_MODULE} {ARGOCD_VERSION}", f"\t{GITOPS_ENGINE_MODULE} {ARGOCD_VERSION}", ")"]
    lines += ["", "replace ("] + [f"\t{m} => {target}" for m, target in replaces] + [")"]
    (dir_ / "go.mod").write_text("\n".join(lines) + "\n")


def _link_components() -> None:
    for name in COMPONENTS:
        link = argocd_dir() / name
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to("argocd")


def ensure(progress=print) -> Path:
    """Return the `argocd` binary, building it if it is missing."""
    found = cached()
    if found is not None:
        return found
    go = cluster_build._check_go()
    _go_env_toolchain()
    module_dir = cache_root() / "build" / f"argocd-{ARGOCD_VERSION}"
    module_dir.mkdir(parents=True, exist_ok=True)
    progress(f"Building Argo CD {ARGOCD_VERSION} (argocd, {', '.join(COMPONENTS)}) from "
             f"{ARGOCD_MODULE} into {argocd_dir()} with {GO_TOOLCHAIN}; the first build takes "
             "15-30 minutes")
    if not (module_dir / "go.sum").is_file():
        go_mod = cluster_build._module_file(go, ARGOCD_MODULE, ARGOCD_VERSION, module_dir)
        replaces = module_replacements(go_mod)
        if not replaces:
            raise BuildError(f"{ARGOCD_MODULE} {ARGOCD_VERSION} go.mod lists no replace lines; "
                             "the build module cannot be written")
        progress(f"  build module: {ARGOCD_MODULE} {ARGOCD_VERSION} with {len(replaces)} replacements")
        _write_module(module_dir, replaces)
        progress("  resolving dependencies (go get) ...")
        cluster_build._run([go, "get", f"{ARGOCD_MODULE}/cmd@{ARGOCD_VERSION}"], module_dir,
                           "resolving Argo CD dependencies")
    stamp = {"version": ARGOCD_VERSION.lstrip("v"), "gitTag": ARGOCD_VERSION,
             "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z"}
    flags = ["-s", "-w"] + [f"-X {ARGOCD_MODULE}/common.{k}={v}" for k, v in stamp.items()]
    argocd_dir().mkdir(parents=True, exist_ok=True)
    if not binary().is_file():
        cluster_build._build(go, module_dir, f"{ARGOCD_MODULE}/cmd", binary(), " ".join(flags), progress)
    if not _driver_current():
        (module_dir / "cmpdriver").mkdir(exist_ok=True)
        (module_dir / "cmpdriver" / "main.go").write_text(DRIVER_SOURCE.read_text())
        cluster_build._build(go, module_dir, "./cmpdriver", driver(), "-s -w", progress)
        (argocd_dir() / "argocd-cmp-driver.source").write_text(DRIVER_SOURCE.read_text())
    if not _scripts_present():
        _install_scripts(go, module_dir)
    _link_components()
    return binary()


def main() -> int:
    return cluster_build.build_main(ensure, "tests.argocd.build")


if __name__ == "__main__":
    raise SystemExit(main())
