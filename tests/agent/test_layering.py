"""Dependencies point one way: `cni` never imports `reconciler`, and only `cni/kube.py` touches the
Kubernetes client (and its transport)."""

from __future__ import annotations

import ast
from pathlib import Path

import cni

PACKAGE = Path(cni.__file__).parent
CLIENT_LIBRARIES = {"kubernetes", "urllib3"}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_in_cni_imports_the_reconciler():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "reconciler" in imported(p)]
    assert offenders == []


def test_only_cni_kube_uses_the_kubernetes_client():
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if imported(p) & CLIENT_LIBRARIES)
    assert users == []
