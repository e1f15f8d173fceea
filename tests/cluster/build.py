"""Build the real Kubernetes control plane from its Go modules, once, into a cache.

`kube-apiserver`, `kube-controller-manager` and `kube-scheduler` come from the module
`k8s.io/kubernetes`, which is not meant to be a dependency: its own go.mod replaces every
`k8s.io/*` staging module with a local path, so our build module replaces each of them with
the published `v0.<minor>.<patch>` of the same release. etcd comes from
`go.etcd.io/etcd/server/v3` (Debian's etcd-server is 3.4, older than any Kubernetes of the
1.34+ line supports).

The binaries land in `$SPIDERPOOL_TOOLS_CACHE` (default `~/.cache/spiderpool-gitops`),
under a folder named by component and version, so a fresh clone on the same machine (CI) and
every later run reuse them; the Go module and build caches make a rebuild after a version bump
cheap. Run `python -m tests.cluster.build` to build ahead; it prints progress and fails with
one clear line when Go or the module proxy is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"
GO_MINIMUM = (1, 26)

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


class BuildError(RuntimeError):
    """One line that says what is missing and what to do."""


def cache_root() -> Path:
    configured = os.environ.get("SPIDERPOOL_TOOLS_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spiderpool-gitops"


@dataclass(frozen=True)
class ControlPlaneBinaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubernetes_version: str = KUBERNETES_VERSION
    etcd_version: str = ETCD_VERSION


def kubernetes_dir() -> Path:
    return cache_root() / f"kubernetes-{KUBERNETES_VERSION}"


def etcd_dir() -> Path:
    return cache_root() / f"etcd-{ETCD_VERSION}"


def cached() -> ControlPlaneBinaries | None:
    """The binaries if every one of them is already built, else None (never builds)."""
    found = _paths()
    return found if all(p.is_file() for p in _as_list(found)) else None


def ensure(progress=print) -> ControlPlaneBinaries:
    """Return the binaries, building whatever is missing."""
    found = _paths()
    missing_kube = [c for c in KUBE_COMMANDS if not (kubernetes_dir() / c).is_file()]
    missing_etcd = not found.etcd.is_file()
    if not missing_kube and not missing_etcd:
        return found
    go = _check_go()
    if missing_etcd:
        _build_etcd(go, progress)
    if missing_kube:
        _build_kubernetes(go, missing_kube, progress)
    return found


def _paths() -> ControlPlaneBinaries:
    k = kubernetes_dir()
    return ControlPlaneBinaries(
        etcd=etcd_dir() / "etcd",
        kube_apiserver=k / "kube-apiserver",
        kube_controller_manager=k / "kube-controller-manager",
        kube_scheduler=k / "kube-scheduler",
    )


def _as_list(b: ControlPlaneBinaries) -> list[Path]:
    return [b.etcd, b.kube_apiserver, b.kube_controller_manager, b.kube_scheduler]


def _check_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "go not found on PATH: the real control plane is built from Go modules; "
            f"install Go {GO_MINIMUM[0]}.{GO_MINIMUM[1]}+"
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    match = re.match(r"go(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < GO_MINIMUM:
        raise BuildError(
            f"{go} is {out or 'of unknown version'}; Kubernetes {KUBERNETES_VERSION} needs "
            f"Go {GO_MINIMUM[0]}.{GO_MINIMUM[1]}+"
        )
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-mod=mod"
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=_go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        reason = tail[-1] if tail else f"exit {proc.returncode}"
        if re.search(r"proxy|dial tcp|no such host|i/o timeout|connection refused|403|404|410", proc.stderr):
            raise BuildError(f"{what}: the Go module proxy did not serve it ({reason}); "
                             "check GOPROXY and the network")
        raise BuildError(f"{what} failed: {reason} (command: {' '.join(cmd)} in {cwd})")
    return proc.stdout


def _module_file(go: str, module: str, version: str, workdir: Path) -> str:
    """The go.mod of module@version, through the module proxy (go mod download)."""
    out = _run([go, "mod", "download", "-json", f"{module}@{version}"], workdir,
               f"downloading {module}@{version}")
    info = json.loads(out)
    if info.get("Error"):
        raise BuildError(f"downloading {module}@{version}: {info['Error']}")
    return Path(info["GoMod"]).read_text()


def staging_replacements(kubernetes_go_mod: str, version: str) -> list[tuple[str, str]]:
    """Every `k8s.io/x => ./staging/...` replace of k8s.io/kubernetes, pinned to v0.y.z."""
    staging = "v0." + version.lstrip("v").split(".", 1)[1]
    mods = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", kubernetes_go_mod, re.M)
    if not mods:
        raise BuildError("k8s.io/kubernetes go.mod lists no staging replacements; "
                         "the build module cannot be written")
    return [(m, staging) for m in sorted(set(mods))]


def _write_module(dir_: Path, name: str, requires: list[tuple[str, str]],
                  replaces: list[tuple[str, str]]) -> None:
    dir_.mkdir(parents=True, exist_ok=True)
    lines = [f"module {name}", "", f"go {GO_MINIMUM[0]}.{GO_MINIMUM[1]}.0", "", "require ("]
    lines += [f"\t{m} {v}" for m, v in requires]
    lines.append(")")
    if replaces:
        lines += ["", "replace ("] + [f"\t{m} => {m} {v}" for m, v in replaces] + [")"]
    (dir_ / "go.mod").write_text("\n".join(lines) + "\n")


def _build(go: str, module_dir: Path, package: str, out: Path, ldflags: str, progress) -> None:
    started = time.monotonic()
    progress(f"  building {out.name} ({package}) ...")
    tmp = out.with_name(out.name + ".partial")
    _run([go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), package], module_dir,
         f"building {package}")
    tmp.replace(out)
    progress(f"  built {out} in {time.monotonic() - started:.0f} s")


def _build_kubernetes(go: str, commands: list[str], progress) -> None:
    target = kubernetes_dir()
    module_dir = cache_root() / "build" / f"kubernetes-{KUBERNETES_VERSION}"
    module_dir.mkdir(parents=True, exist_ok=True)
    progress(f"Building Kubernetes {KUBERNETES_VERSION} ({', '.join(commands)}) from the "
             f"k8s.io/kubernetes module into {target}; the first build takes 10-30 minutes")
    if not (module_dir / "go.sum").is_file():
        go_mod = _module_file(go, "k8s.io/kubernetes", KUBERNETES_VERSION, module_dir)
        replaces = staging_replacements(go_mod, KUBERNETES_VERSION)
        progress(f"  build module: k8s.io/kubernetes {KUBERNETES_VERSION} with {len(replaces)} "
                 "staging replacements")
        _write_module(module_dir, "spiderpool-gitops.test/kubernetes-build",
                      [("k8s.io/kubernetes", KUBERNETES_VERSION)], replaces)
        (module_dir / "tools.go").unlink(missing_ok=True)
        progress("  resolving dependencies (go get) ...")
        _run([go, "get"] + [f"k8s.io/kubernetes/cmd/{c}@{KUBERNETES_VERSION}" for c in KUBE_COMMANDS],
             module_dir, "resolving k8s.io/kubernetes dependencies")
    major, minor, _ = KUBERNETES_VERSION.lstrip("v").split(".")
    stamp = {
        "gitVersion": KUBERNETES_VERSION, "gitMajor": major, "gitMinor": minor,
        "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
    }
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{k}={v}" for k, v in stamp.items()]
    target.mkdir(parents=True, exist_ok=True)
    for command in commands:
        _build(go, module_dir, f"k8s.io/kubernetes/cmd/{command}", target / command,
               " ".join(flags), progress)


def _build_etcd(go: str, progress) -> None:
    target = etcd_dir()
    module_dir = cache_root() / "build" / f"etcd-{ETCD_VERSION}"
    progress(f"Building etcd {ETCD_VERSION} from go.etcd.io/etcd/server/v3 into {target}")
    if not (module_dir / "go.sum").is_file():
        _write_module(module_dir, "spiderpool-gitops.test/etcd-build",
                      [("go.etcd.io/etcd/server/v3", ETCD_VERSION)], [])
        progress("  resolving dependencies (go get) ...")
        _run([go, "get", f"go.etcd.io/etcd/server/v3@{ETCD_VERSION}"], module_dir,
             "resolving etcd dependencies")
    target.mkdir(parents=True, exist_ok=True)
    _build(go, module_dir, "go.etcd.io/etcd/server/v3", target / "etcd", "-s -w", progress)


def build_main(ensure_fn, prog: str) -> int:
    """`python -m <prog>` for a cached build: progress on stdout, the path when done, one
    line on stderr and exit 1 on a BuildError."""
    try:
        path = ensure_fn(lambda message: print(message, flush=True))
    except BuildError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def main() -> int:
    def say(message):
        print(message, flush=True)
    try:
        binaries = ensure(say)
    except BuildError as exc:
        print(f"tests.cluster.build: {exc}", file=sys.stderr)
        return 1
    for path in _as_list(binaries):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
